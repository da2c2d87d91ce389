"""Project an image into the model (encoder, hybrid, nvidia, image2stylegan), and what
Image2StyleGAN does with projections (morph, expression transfer, crossover)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional

import PIL.Image
import torch

from editing import MAX_SEED
from editing import projection as proj
from editing.generate import default_batch, synthesize
from editing.latents import mixing_preset
from editing.video import Mp4Writer
from ops.images import image_grid, to_pil

from .. import inputs
from ..errors import StudioError
from ..runloop import RunLoop
from ..uploads import read_image
from . import Task
from .generate import MAX_FRAMES, WalkFrame

RECIPES = tuple(proj.RECIPES) + ("pti",)  # pti: a pivot by the best recipe there is, then pivotal tuning
MAX_PROJECTION_STEPS = 5000
MAX_ENCODER_ITERATIONS = 10  # ReStyle's refinements (its papers use 5)


def tuned_keep() -> int:
    """How many PTI-tuned generators a workspace keeps (STUDIO_TUNED_KEEP, default 4): the most
    recently used; each is a copy of the synthesis network (about 120 MB in float32 for a
    1024 px config-f model, 4.3 MB for the embedded one)."""
    try:
        return max(1, int(os.environ.get("STUDIO_TUNED_KEEP", "4")))
    except ValueError:
        return 4


@dataclass
class ProjectUpdate:
    """What project() yields: after every step its progress, now and then a preview; the last
    one (done=True) carries the result."""
    step: int
    steps: int
    target: PIL.Image.Image             # the image being matched (aligned and resized)
    preview: Optional[PIL.Image.Image]  # the current reconstruction, when it is time for a preview
    history: list                       # [{"step", "psnr", "loss", "distance"}]
    distance: str                       # which image distance is used
    note: str = ""
    done: bool = False
    ws: Optional[torch.Tensor] = None   # [1, num_ws, w_dim] once done
    noise: Optional[dict] = None        # optimised noise buffers, where the recipe optimises them
    video: Optional[str] = None         # the optimisation as MP4, when asked for
    tuned: Optional[str] = None         # PTI: the key of the tuned generator the workspace keeps for ws


class Project(Task):
    def has_encoder(self) -> bool:
        return self.w.given.get("encoder") is not None or self.w.companions.spec("encoder") is not None

    def recipes(self) -> list[str]:
        """The recipes this model can run (encoder and hybrid need an encoder: trained for it,
        or a released one it declares)."""
        return [r for r in RECIPES if r == "pti" or self.has_encoder() or proj.RECIPES[r].init != "encoder"]

    def default_recipe(self) -> str:
        if self.w.given.get("encoder") is not None:
            return "hybrid"
        spec = self.w.companions.spec("encoder")
        if spec is not None and self.w.companions.available(spec):
            return "hybrid"
        return "nvidia"

    def prepare_image(self, path, align=None) -> tuple[PIL.Image.Image, str]:
        """An uploaded image, read and checked (studio.uploads), FFHQ-aligned when asked (default:
        for face models), centre-cropped and resized to the model's resolution."""
        image = read_image(path)
        align = self.w.faces if align is None else inputs.flag(align, "align faces")
        note = ""
        if align:
            from companions.align import NoFaceError, align_face
            try:
                image = align_face(image, size=max(self.G.img_resolution, 256))
            except NoFaceError as e:
                raise StudioError(str(e)) from None
            note = "face aligned (FFHQ crop)"
        target = proj.to_target(image, self.G)
        return to_pil(target)[0], note

    def _encoder(self, recipe: str):
        w = self.w
        encoder = w.given.get("encoder")
        if encoder is None:
            if w.companions.spec("encoder") is None:
                raise StudioError(f"the {recipe} recipe needs an encoder, and none has been trained for this model "
                                  "(training/train_encoder.py makes one): use nvidia or image2stylegan")
            encoder = w.companions.network("encoder")
        if not encoder.fits(self.G):
            raise StudioError(f"the encoder gives {encoder.num_ws if hasattr(encoder, 'num_ws') else '?'} ws; this model "
                              f"takes {self.G.num_ws} of {self.G.w_dim} dimensions: it was made for another generator")
        return encoder

    def run(self, image, recipe=None, steps=None, align=None, seed=0, video_path: Optional[str] = None,
            time_limit: Optional[float] = None, class_idx=None, iterations=None) -> Iterator[ProjectUpdate]:
        """Project an uploaded image (a file path) into this model's latent space. Yields progress
        after every step and a preview at most once a second; the last update carries ws, the
        optimised noise and, with video_path, the optimisation as MP4 (target | reconstruction).
        Stopping the iteration stops the optimisation; after `time_limit` seconds (default
        STUDIO_PROJECT_MAX_S) it stops by itself and returns what it has. class_idx: a conditional
        model's class; iterations: a ReStyle encoder's refinements (default: its own).

        recipe "pti": the pivot by the default recipe (hybrid where there is an encoder, else
        nvidia), then pivotal tuning (editing.pti) of a copy of the generator for `steps` steps
        (default 350); the workspace keeps the copy (Workspace.keep_tuned) and the last update's
        `tuned` names it, so that edits of this result use it."""
        w = self.w
        recipe = inputs.choice(recipe or self.default_recipe(), "recipe", RECIPES)
        if steps is not None and steps != "":  # 0 (or nothing): the recipe's own number
            steps = inputs.integer(steps, "steps", 0, MAX_PROJECTION_STEPS) or None
        if recipe == "encoder":
            steps = 0
        pivot = self.default_recipe() if recipe == "pti" else recipe
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        c = w.class_index(class_idx)
        if iterations is not None and iterations != "":
            iterations = inputs.integer(iterations, "encoder iterations (ReStyle)", 0, MAX_ENCODER_ITERATIONS) or None
        else:
            iterations = None
        target, note = self.prepare_image(image, align)
        encoder = self._encoder(pivot) if proj.RECIPES[pivot].init == "encoder" else None
        if getattr(encoder, "iterative", False):
            k = iterations or encoder.default_iterations
            note = (note + "; " if note else "") + f"{encoder.family} encoder, {k} iterations"
            iterations = k
        if recipe == "pti":
            from editing.pti import PTI_STEPS, pti_run
            run = pti_run(self.G, target, pivot, None, steps or PTI_STEPS, seed, encoder=encoder,
                          classifier=w.classifier, class_idx=c, encoder_iterations=iterations)
            total = proj.RECIPES[pivot].steps + (steps or PTI_STEPS)
        else:
            run = proj.projection_steps(self.G, target, recipe, steps, seed, encoder=encoder, classifier=w.classifier,
                                        preview_every=1, class_idx=c, encoder_iterations=iterations)
            total = steps or proj.RECIPES[recipe].steps
        writer = Mp4Writer(video_path, fps=15) if video_path else None
        target_t = proj.to_target(target, self.G)
        scale = self.enlargement()

        def frame(state):  # target | reconstruction, enlarged to about 256 px
            pair = torch.cat([target_t, state.images[:1].clamp(-1, 1)], dim=3)
            return pair[0].repeat_interleave(scale, 1).repeat_interleave(scale, 2)

        every = max(1, (total or 1) // 100)  # about 100 frames
        loop = RunLoop(run, time_limit, writer, frame, every)
        try:
            with loop:
                for state, show in loop:
                    yield ProjectUpdate(state.step, state.steps, target, state.image if show else None, state.history,
                                        state.distance, note)
        except FloatingPointError as e:
            raise StudioError(str(e)) from None
        state = loop.state
        if loop.note:
            note = (note + "; " if note else "") + loop.note
        tuned = None
        tuning = getattr(state, "phase", "") == "tune"
        if tuning:  # PTI reached its tuning: the copy as it is now is the result's generator
            state.G.requires_grad_(False)
            if not state.done:
                with torch.no_grad():
                    state.images = state.G.synthesis(state.ws, noise_mode="const")
            tuned = w.keep_tuned(state.G)
        elif not state.done:  # stopped by the time limit: the image of the latest ws, with its noise
            state.images = proj.render_projection(self.G, state.ws, state.noise)
        final = state.history[-1] if state.history else {}
        summary = f"{recipe}, {state.steps} steps, distance: {state.distance}; PSNR {final.get('psnr', float('nan')):.2f} dB"
        if recipe == "pti":
            summary = (f"pti: the pivot by {pivot}, then " + (f"{state.step - proj.RECIPES[pivot].steps} steps of tuning"
                       if tuning else "no tuning (stopped before it)") + f"; distance: {state.distance}; PSNR "
                       f"{final.get('psnr', float('nan')):.2f} dB" + ("; the tuned generator stays with this result "
                       f"(the {tuned_keep()} most recent are kept): edits of its .npz use it" if tuned else ""))
        yield ProjectUpdate(state.step, state.steps, target, state.image, state.history, state.distance,
                            summary + (f" ({note})" if note else ""), done=True, ws=state.ws[:1], noise=state.noise,
                            video=video_path if writer is not None else None, tuned=tuned)


class Image2StyleGAN(Task):
    def _latent(self, path, field) -> torch.Tensor:
        if not path:
            raise StudioError(f"{field}: give a latents .npz (a projection's download)")
        try:
            return self.w.latents(path)[:1]
        except StudioError as e:
            raise StudioError(f"{field}: {e}") from None

    def morph(self, path: str, latents_a, latents_b, frames=60, fps=30) -> Iterator[WalkFrame]:
        """Image2StyleGAN morphing: a video from projection A to projection B (linear in W+)."""
        frames = inputs.integer(frames, "frames", 2, MAX_FRAMES)
        fps = inputs.integer(fps, "frames per second", 1, 60)
        a, b = self._latent(latents_a, "image A"), self._latent(latents_b, "image B")
        ws = proj.morph(a, b, frames)
        batch = default_batch(self.G)
        with Mp4Writer(path, fps=fps) as writer:
            for i in range(0, frames, batch):
                for frame in synthesize(self.G, ws[i:i + batch], self.w.noise(None)):
                    rgb = writer.write(frame)
                    if writer.count < frames:
                        yield WalkFrame(rgb, writer.count, frames)
        yield WalkFrame(rgb, frames, frames, path)

    def expression_transfer(self, target, neutral, expressive, strength=1.0, first=0, last=-1):
        """target + strength * (expressive - neutral) on ws first..last; returns target | result
        and the result's latent."""
        w = self.w
        last = w.num_ws - 1 if isinstance(last, int) and not isinstance(last, bool) and last == -1 else last
        layers = w.w_range(first, last)
        strength = inputs.number(strength, "strength", -3, 3)
        t = self._latent(target, "target")
        n = self._latent(neutral, "neutral face")
        e = self._latent(expressive, "expressive face")
        out = proj.expression_transfer(t, n, e, strength, layers)
        return image_grid(synthesize(self.G, torch.cat([t, out])), 1, 2), out

    def crossover(self, content, style, k=None):
        """Style transfer by crossover: the first k ws from `content`, the rest from `style`
        (default k: the middle preset's start). Returns content | style | result."""
        w = self.w
        c, s = self._latent(content, "content image"), self._latent(style, "style image")
        k = mixing_preset(self.G, "middle")[0] if k is None or k == "" else inputs.integer(k, "k (ws from the content)", 0, w.num_ws)
        out = proj.crossover(c, s, k)
        return image_grid(synthesize(self.G, torch.cat([c, s, out])), 1, 3), out
