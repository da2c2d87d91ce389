"""A Workspace: one loaded generator with everything the page does with it.

It owns the generator, its companion networks (the attribute classifier where one ships),
its per-model defaults (class, noise mode, layer presets) and its cached analyses (SeFa and
GANSpace directions, attribute boundaries, style statistics), and has one method per thing a
visitor does. Every method checks its arguments (StudioError naming the field and its range)
and returns plain values: PIL images, tensors, file paths.

Requests may run at once on one Workspace: nothing here changes the shared generator.
StyleGAN3 translate/rotate passes a per-call transform; StyleSpace edits run on a private
copy (editing.stylespace.edit_styles); analyses are computed once under a per-key lock.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
import PIL.Image
import torch

from editing import MAX_SEED
from editing import projection as proj
from editing.directions import apply_direction, attribute_direction, direction_std, ganspace, sefa
from editing.generate import (
    MAX_IMAGES,
    default_batch,
    load_latents,
    mixing_grid_image,
    parse_seeds,
    save_latents,
    seeds_to_z,
    synthesize,
)
from editing.latents import PRESETS, mixing_preset, mixing_ws, preset_label, render_mixing_grid, seeds_to_ws
from editing.stylespace import edit_styles, style_layers, style_statistics
from editing.video import Mp4Writer, num_frames, walk_frames
from ops.images import image_grid, to_pil
from ops.memo import Memo

from . import inputs
from .errors import StudioError
from .uploads import read_image

NOISE_MODES = ("const", "random", "none")
DIRECTION_METHODS = ("SeFa", "GANSpace", "Attribute")
PSI_RANGE = (-1.0, 1.5)
MAX_FRAMES = 600       # frames in one video
MAX_GRID = 4           # rows or columns of a video grid
MAX_MIX_SEEDS = 8      # rows or columns of a style-mixing grid
NUM_COMPONENTS = 20    # SeFa / GANSpace components offered
RECIPES = tuple(proj.RECIPES)
MAX_PROJECTION_STEPS = 5000
TEXT_METHODS = ("optimization", "global (fast)", "global (exact)")
MAX_TEXT_STEPS = 2000
MAX_PROMPT = 200       # characters
PREVIEW_SECONDS = 1.0  # at most one preview image a second (progress comes every step)


def projection_time_limit() -> float:
    """Seconds one projection may run before it stops and returns what it has (STUDIO_PROJECT_MAX_S)."""
    return float(os.environ.get("STUDIO_PROJECT_MAX_S", "600"))


@dataclass
class Gallery:
    """What generate() yields after each batch: the images so far; latents once done."""
    images: list                        # PIL images
    seeds: list                         # their seeds
    total: int                          # how many were asked for
    ws: Optional[torch.Tensor] = None   # [N, num_ws, w_dim] once every image is done
    z: Optional[torch.Tensor] = None

    @property
    def done(self) -> bool:
        return self.ws is not None


@dataclass
class WalkFrame:
    """What walk() yields: the latest frame; the video's path once it is complete."""
    frame: np.ndarray                   # (H, W, 3) uint8
    count: int
    total: int
    path: Optional[str] = None


@dataclass
class DirectionEdit:
    strip: PIL.Image.Image              # -strength ... +strength, 5 images in a row
    ws: torch.Tensor                    # the +strength latent [1, num_ws, w_dim]
    note: str = ""


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


@dataclass
class TextEditUpdate:
    """What text_edit() yields: progress (optimisation), now and then a preview; the last one
    (done=True) carries the result."""
    step: int
    steps: int
    image: Optional[PIL.Image.Image]    # before | after, when it is time for a preview
    note: str = ""
    done: bool = False
    ws: Optional[torch.Tensor] = None   # the edited W+ (optimisation) or the start (global)
    styles: Optional[dict] = None       # global: {layer: [channels]} added to the styles


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


@dataclass
class Workspace:
    G: torch.nn.Module
    label: str                                          # what the visitor calls this model
    classifier: Optional[torch.nn.Module] = None        # attribute classifier (the embedded model ships one)
    default_class: int = 0                              # conditional models: the class used when none is given
    noise_mode: str = "const"
    encoder: Optional[torch.nn.Module] = None           # image -> W+ (editing/encoder.py), where one was trained
    faces: bool = False                                 # FFHQ-aligned faces: uploads are aligned by default
    clip_loader: Optional[Callable[[], object]] = None  # the CLIP for text edits, loaded on first use
    _analyses: Memo = field(default_factory=Memo, repr=False)

    # --- what the model is --------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def to(self, device) -> "Workspace":
        """Move every network this workspace owns to `device`, as a diffusers pipeline's .to() moves
        its components: the generator, the classifier, the encoder, and the CLIP (now where it is
        loaded, else on first use). Cached analyses stay valid: their tensors are moved where used."""
        device = torch.device(device)
        self.G.to(device)
        for net in (self.classifier, self.encoder):
            if net is not None:
                net.to(device)
        return self

    @property
    def is_stylegan3(self) -> bool:
        return hasattr(self.G.synthesis, "layer_names")

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    def describe(self) -> str:
        G = self.G
        ignored = getattr(G, "ignored_config_keys", None)
        return (f"{type(G).__name__}: {G.img_resolution}x{G.img_resolution}, {G.img_channels} channels, "
                f"z {G.z_dim}, w {G.w_dim}, {G.num_ws} ws" + (f", {G.c_dim} classes" if G.c_dim else "")
                + (f" (config.json keys it does not take were ignored: {', '.join(ignored)})" if ignored else ""))

    def presets(self) -> dict[str, list[int]]:
        """{coarse/middle/fine: the ws each takes}."""
        return {name: mixing_preset(self.G, name) for name in PRESETS}

    def preset_labels(self) -> list[tuple[str, str]]:
        """[(label, preset)], e.g. ('coarse: ws 0-3', 'coarse'), and the free range."""
        return [(preset_label(self.G, name), name) for name in PRESETS] + [("custom range", "custom")]

    def style_layer_names(self) -> list[str]:
        return list(style_layers(self.G))

    def attribute_choices(self) -> list[str]:
        if self.classifier is None:
            return []
        return [f"{a}={v}" for a, values in self.classifier.attributes.items() for v in values]

    # --- argument checks ---------------------------------------------------------------

    def psi(self, value) -> float:
        return inputs.number(value, "truncation ψ", *PSI_RANGE)

    def class_index(self, value) -> Optional[int]:
        """The class of a conditional model (None = the default class); None for an unconditional one."""
        if value is None or value == "":
            return self.default_class if self.G.c_dim else None
        idx = inputs.integer(value, "class", 0, self.G.c_dim - 1 if self.G.c_dim else MAX_SEED)  # ignored when unconditional
        return idx if self.G.c_dim else None

    def noise(self, value) -> str:
        return self.noise_mode if value is None else inputs.choice(value, "noise mode", NOISE_MODES)

    def w_range(self, first, last, field="layers") -> list[int]:
        hi = self.num_ws - 1
        a, b = inputs.integer(first, f"first w ({field})", 0, hi), inputs.integer(last, f"last w ({field})", 0, hi)
        if a > b:
            raise StudioError(f"{field}: the first w ({a}) comes after the last ({b}); ws run from 0 to {hi} for this model")
        return list(range(a, b + 1))

    def seeds(self, text, field="seeds", limit=MAX_IMAGES) -> list[int]:
        try:
            return parse_seeds(inputs.text(text, field, 2000), limit=limit)
        except ValueError as e:
            raise StudioError(f"{field}: {e}") from None

    def latents(self, path) -> torch.Tensor:
        """W+ from an uploaded .npz (key 'w'), checked against this model before it is read."""
        try:
            ws = load_latents(path, self.G)
        except ValueError as e:
            raise StudioError(str(e)) from None
        return ws.to(self.device)

    # --- cached analyses ----------------------------------------------------------------

    def analysis(self, key, compute: Callable[[], object]):
        """compute() once per key for this model; concurrent requests for one key wait for it."""
        return self._analyses.get(key, compute)

    def prepare(self, task: str, recipe=None) -> None:
        """Load what a task's networks need before the task runs (ZeroGPU: in the main process,
        where it stays): "project" the recipe's perceptual network (LPIPS or VGG16 layers, and
        the VGG16 weights download), "text_edit" the CLIP. Nothing here raises: the task itself
        gives the message."""
        try:
            if task == "project":
                name = recipe if recipe in proj.RECIPES else self.default_recipe()
                r = proj.RECIPES[name]
                if r.steps:
                    from companions.perceptual import perceptual
                    perceptual(r.distance, self.G.img_resolution, self.classifier, device=self.device)
            elif task == "text_edit" and self.clip_loader is not None:
                self.clip()
        except Exception:
            pass

    def analysis_keys(self) -> set:
        return set(self._analyses.keys())

    def analyses_since(self, known: set) -> dict:
        """The analyses computed since `known` (analysis_keys() earlier), their tensors on the CPU:
        what a call run in another process (ZeroGPU's worker) hands back to the main one."""
        return {k: _to_cpu(v) for k, v in self._analyses.items() if k not in known}

    def keep_analyses(self, entries: dict) -> None:
        for key, value in entries.items():
            self._analyses.put(key, value)

    # --- Generate -----------------------------------------------------------------------

    def generate_one(self, seed, psi=0.7, noise_mode=None, class_idx=None) -> tuple[PIL.Image.Image, str]:
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        c = self.class_index(class_idx)
        ws = seeds_to_ws(self.G, [seed], self.psi(psi), class_idx=c)
        image = to_pil(synthesize(self.G, ws, self.noise(noise_mode)))[0]
        return image, self.describe() + (f" (class {c} shown)" if c is not None else "")

    def generate(self, seeds, psi=0.7, truncation_cutoff=0, noise_mode=None, class_idx=None,
                 translate=(0.0, 0.0), rotate=0.0) -> Iterator[Gallery]:
        """Images of a seed list ("0-7", "1,5,9"), yielded batch by batch."""
        seed_list = self.seeds(seeds)
        psi = self.psi(psi)
        cutoff = inputs.integer(truncation_cutoff, "truncation cutoff", 0, self.num_ws) or None
        noise, c = self.noise(noise_mode), self.class_index(class_idx)
        tx = inputs.number(translate[0], "translate x", -1, 1)
        ty = inputs.number(translate[1], "translate y", -1, 1)
        rot = inputs.number(rotate, "rotate", -180, 180)
        if (tx, ty, rot) != (0.0, 0.0, 0.0) and not self.is_stylegan3:
            raise StudioError("translate and rotate need a StyleGAN3 model")
        ws = seeds_to_ws(self.G, seed_list, psi, cutoff, c)
        images, batch = [], default_batch(self.G)
        for i in range(0, len(seed_list), batch):
            images += to_pil(synthesize(self.G, ws[i:i + batch], noise, (tx, ty), rot))
            if len(images) < len(seed_list):
                yield Gallery(list(images), seed_list[:len(images)], len(seed_list))
        yield Gallery(images, seed_list, len(seed_list), ws=ws, z=seeds_to_z(self.G, seed_list))

    # --- Style mixing ---------------------------------------------------------------------

    def mixing_layers(self, preset, first=None, last=None) -> list[int]:
        preset = inputs.choice(preset, "styles taken from the columns", PRESETS + ("custom",))
        return mixing_preset(self.G, preset) if preset in PRESETS else self.w_range(first, last, "custom range")

    def style_mix(self, row_seeds, col_seeds, preset="middle", first=None, last=None, psi=0.7, noise_mode=None,
                  class_idx=None, latents=None) -> tuple[PIL.Image.Image, torch.Tensor, str]:
        """The official style-mixing grid; returns it, the cells' latents and a note. latents
        (an .npz, e.g. a projection): its first latent is the first row, before the row seeds'."""
        extra = self.latents(latents)[:1] if latents else None
        rows = self.seeds(row_seeds, "row seeds", MAX_MIX_SEEDS - (extra is not None))
        cols = self.seeds(col_seeds, "column seeds", MAX_MIX_SEEDS)
        layers = self.mixing_layers(preset, first, last)
        cells, row_ws, col_ws = mixing_ws(self.G, rows, cols, layers, self.psi(psi), self.class_index(class_idx), extra)
        grid, row_img, col_img = render_mixing_grid(self.G, cells, row_ws, col_ws, self.noise(noise_mode))
        note = f"ws {layers[0]}-{layers[-1]} from the columns" if layers else "no ws mixed at this resolution"
        return mixing_grid_image(grid, row_img, col_img), cells, note

    # --- Interpolate ----------------------------------------------------------------------

    def walk(self, path: str, seeds, frames_per_key=30, fps=30, grid_rows=1, grid_cols=1, loop=True, psi=0.7,
             noise_mode=None, class_idx=None, latents=None) -> Iterator[WalkFrame]:
        """A looping walk through keyframe seeds, written to `path` as H.264 MP4 a frame at a
        time; yields every frame (the last one carries the path). latents (an .npz, e.g. a
        projection): the walk starts from its first latent (1x1 grid)."""
        rows = inputs.integer(grid_rows, "grid rows", 1, MAX_GRID)
        cols = inputs.integer(grid_cols, "grid columns", 1, MAX_GRID)
        fpk = inputs.integer(frames_per_key, "frames per keyframe", 2, 120)
        fps = inputs.integer(fps, "frames per second", 1, 60)
        loop = inputs.flag(loop, "loop")
        cells = rows * cols
        start = self.latents(latents)[:1] if latents else None
        if start is not None and cells != 1:
            raise StudioError("a walk from latents takes a 1x1 grid")
        seed_list = self.seeds(seeds, "keyframe seeds", 16 * cells)
        keys = len(seed_list) + (start is not None)
        if keys < 2 * cells or len(seed_list) % cells:
            raise StudioError(f"a {rows}x{cols} grid needs a multiple of {cells} keyframe seeds, at least {2 * cells}")
        total = num_frames(keys // cells, fpk, loop)
        if total > MAX_FRAMES:
            raise StudioError(f"that is {total} frames; at most {MAX_FRAMES} per video (fewer seeds or frames per keyframe)")
        frames = walk_frames(self.G, seed_list, fpk, self.psi(psi), loop, (rows, cols), self.noise(noise_mode),
                             class_idx=self.class_index(class_idx), start=start)
        with Mp4Writer(path, fps=fps) as writer:
            for frame in frames:
                rgb = writer.write(frame)
                if writer.count < total:
                    yield WalkFrame(rgb, writer.count, total)
        yield WalkFrame(rgb, total, total, path)

    # --- Directions ---------------------------------------------------------------------

    def find_direction(self, method, index, attribute, layers) -> tuple[torch.Tensor, float, str]:
        """A unit direction in W and the spread of w along it (its unit of strength)."""
        method = inputs.choice(method, "method", DIRECTION_METHODS)
        if method in ("SeFa", "GANSpace"):
            k = inputs.integer(index, "component", 0, NUM_COMPONENTS - 1)
            if method == "SeFa":
                def compute():
                    dirs = sefa(self.G, layers, num=NUM_COMPONENTS)[0]
                    return dirs, direction_std(self.G, dirs)
                dirs, std = self.analysis(("sefa", tuple(layers)), compute)
            else:
                dirs, std, _ = self.analysis("ganspace", lambda: ganspace(self.G, num=NUM_COMPONENTS))
            if k >= len(dirs):
                raise StudioError(f"this model has components 0 to {len(dirs) - 1}")
            return dirs[k], float(std[k]), f"{method} component {k}"
        if self.classifier is None:
            raise StudioError("attribute directions need a model with an attribute classifier (the embedded avataaars-64)")
        choices = self.attribute_choices()
        attribute = inputs.text(attribute, "attribute", 200)
        if attribute not in choices:
            raise StudioError(f"unknown attribute {attribute[:60]!r}; one of: {', '.join(choices[:12])}, …")
        name, _, value = attribute.partition("=")
        try:
            fit = self.analysis(("attribute", name, value),
                                lambda: attribute_direction(self.G, self.classifier, name, value))
        except ValueError as e:
            raise StudioError(str(e)) from None
        return fit["direction"], fit["std"], f"{attribute} (boundary accuracy {fit['accuracy']:.0%})"

    def direction(self, seed=0, method="SeFa", index=0, attribute=None, strength=3.0, first=0, last=-1, psi=0.7,
                  class_idx=None, latents=None) -> DirectionEdit:
        """Five images from -strength to +strength along a direction, strength in standard
        deviations of W along it (the same units for every method), applied to ws first..last
        (last = -1: the last w) of a seed's latent or of uploaded latents."""
        last = self.num_ws - 1 if isinstance(last, int) and not isinstance(last, bool) and last == -1 else last
        layers = self.w_range(first, last)
        strength = inputs.number(strength, "strength", 0, 10)
        if latents:
            ws = self.latents(latents)[:1]
        else:
            seed = inputs.integer(seed, "seed", 0, MAX_SEED)
            ws = seeds_to_ws(self.G, [seed], self.psi(psi), class_idx=self.class_index(class_idx))
        d, unit, note = self.find_direction(method, index, attribute, layers)
        steps = [-1, -0.5, 0, 0.5, 1]
        moved = torch.cat([apply_direction(ws, d, strength * s * unit, layers) for s in steps])
        return DirectionEdit(image_grid(synthesize(self.G, moved), 1, len(steps)), moved[-1:], note)

    def stylespace(self, seed=0, layer=None, channel=0, strength=10.0, psi=0.7, class_idx=None) -> PIL.Image.Image:
        """Before | after moving one style channel by `strength` standard deviations."""
        layers = style_layers(self.G)
        if not isinstance(layer, str) or layer not in layers:
            raise StudioError(f"no style layer {str(layer)[:40]!r}; this model has: {', '.join(layers)}")
        width = layers[layer][1].out_features
        channel = inputs.integer(channel, f"channel of {layer}", 0, width - 1)
        strength = inputs.number(strength, "strength", -50, 50)
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        std = float(self.analysis("style-std", lambda: style_statistics(self.G))[layer][channel])
        ws = seeds_to_ws(self.G, [seed], self.psi(psi), class_idx=self.class_index(class_idx))
        before = synthesize(self.G, ws)
        with edit_styles(self.G, {(layer, channel): strength * std}) as edited:
            after = synthesize(edited, ws)
        return image_grid(torch.cat([before, after]), 1, 2)

    # --- Project --------------------------------------------------------------------------

    def recipes(self) -> list[str]:
        """The recipes this model can run (encoder and hybrid need a trained encoder)."""
        return [r for r in RECIPES if self.encoder is not None or proj.RECIPES[r].init != "encoder"]

    def default_recipe(self) -> str:
        return "hybrid" if self.encoder is not None else "nvidia"

    def prepare_image(self, path, align=None) -> tuple[PIL.Image.Image, str]:
        """An uploaded image, read and checked (studio.uploads), FFHQ-aligned when asked (default:
        for face models), centre-cropped and resized to the model's resolution."""
        image = read_image(path)
        align = self.faces if align is None else inputs.flag(align, "align faces")
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

    def project(self, image, recipe=None, steps=None, align=None, seed=0, video_path: Optional[str] = None,
                time_limit: Optional[float] = None) -> Iterator[ProjectUpdate]:
        """Project an uploaded image (a file path) into this model's latent space. Yields progress
        after every step and a preview at most once a second; the last update carries ws, the
        optimised noise and, with video_path, the optimisation as MP4 (target | reconstruction).
        Stopping the iteration stops the optimisation; after `time_limit` seconds (default
        STUDIO_PROJECT_MAX_S) it stops by itself and returns what it has."""
        recipe = inputs.choice(recipe or self.default_recipe(), "recipe", RECIPES)
        if proj.RECIPES[recipe].init == "encoder" and self.encoder is None:
            raise StudioError(f"the {recipe} recipe needs an encoder, and none has been trained for this model "
                              "(training/train_encoder.py makes one): use nvidia or image2stylegan")
        if steps is not None and steps != "":  # 0 (or nothing): the recipe's own number
            steps = inputs.integer(steps, "steps", 0, MAX_PROJECTION_STEPS) or None
        if recipe == "encoder":
            steps = 0
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        limit = projection_time_limit() if time_limit is None else float(time_limit)
        target, note = self.prepare_image(image, align)
        run = proj.projection_steps(self.G, target, recipe, steps, seed, encoder=self.encoder, classifier=self.classifier,
                                    preview_every=1)
        writer = None
        if video_path:
            from editing.video import Mp4Writer
            writer = Mp4Writer(video_path, fps=15)
        target_t = proj.to_target(target, self.G)
        scale = max(1, 256 // self.G.img_resolution)
        start = last_preview = time.monotonic()
        state, completed = None, False
        try:
            for state in run:
                now = time.monotonic()
                show = state.done or now - last_preview >= PREVIEW_SECONDS or state.step == 1
                if writer is not None and (state.done or state.step % max(1, state.steps // 100) == 0):
                    pair = torch.cat([target_t, state.images[:1].clamp(-1, 1)], dim=3)
                    writer.write(pair[0].repeat_interleave(scale, 1).repeat_interleave(scale, 2))
                if state.done:
                    break
                if now - start > limit:
                    note = (note + "; " if note else "") + f"stopped after {limit:.0f} s at step {state.step} of {state.steps}"
                    run.close()
                    break
                if show:
                    last_preview = now
                yield ProjectUpdate(state.step, state.steps, target, state.image if show else None, state.history,
                                    state.distance, note)
            completed = True
        except FloatingPointError as e:
            raise StudioError(str(e)) from None
        finally:
            run.close()
            if writer is not None and not completed:  # stopped by the visitor, or failed: drop the video
                writer.container.close()
        video = None
        if writer is not None:
            writer.close()
            video = video_path
        if not state.done:  # stopped by the time limit: the image of the latest ws, with its noise
            state.images = proj.render_projection(self.G, state.ws, state.noise)
        final = state.history[-1] if state.history else {}
        summary = f"{recipe}, {state.steps} steps, distance: {state.distance}; PSNR {final.get('psnr', float('nan')):.2f} dB"
        yield ProjectUpdate(state.step, state.steps, target, state.image, state.history, state.distance,
                            summary + (f" ({note})" if note else ""), done=True, ws=state.ws[:1], noise=state.noise,
                            video=video)

    @staticmethod
    def save_projection(path: str, ws: torch.Tensor, noise: Optional[dict] = None) -> str:
        """The projection as .npz: `w` [1, num_ws, w_dim] (NVIDIA's projected_w.npz key) plus one
        `noise.<layer>` array per optimised noise buffer."""
        arrays = {"w": ws.detach().float().cpu().numpy()}
        for name, value in (noise or {}).items():
            arrays[f"noise.{name}"] = value.detach().float().cpu().numpy()
        np.savez(path, **arrays)
        return path

    def _latent(self, path, field) -> torch.Tensor:
        if not path:
            raise StudioError(f"{field}: give a latents .npz (a projection's download)")
        try:
            return self.latents(path)[:1]
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
                for frame in synthesize(self.G, ws[i:i + batch], self.noise(None)):
                    rgb = writer.write(frame)
                    if writer.count < frames:
                        yield WalkFrame(rgb, writer.count, frames)
        yield WalkFrame(rgb, frames, frames, path)

    def expression_transfer(self, target, neutral, expressive, strength=1.0, first=0, last=-1) -> tuple[PIL.Image.Image, torch.Tensor]:
        """Image2StyleGAN expression transfer: target + strength * (expressive - neutral) on ws
        first..last; returns target | result and the result's latent."""
        last = self.num_ws - 1 if isinstance(last, int) and not isinstance(last, bool) and last == -1 else last
        layers = self.w_range(first, last)
        strength = inputs.number(strength, "strength", -3, 3)
        t = self._latent(target, "target")
        n = self._latent(neutral, "neutral face")
        e = self._latent(expressive, "expressive face")
        out = proj.expression_transfer(t, n, e, strength, layers)
        return image_grid(synthesize(self.G, torch.cat([t, out])), 1, 2), out

    def crossover(self, content, style, k=None) -> tuple[PIL.Image.Image, torch.Tensor]:
        """Image2StyleGAN style transfer by crossover: the first k ws from `content`, the rest
        from `style` (default k: the coarse preset's end). Returns content | style | result."""
        c, s = self._latent(content, "content image"), self._latent(style, "style image")
        k = mixing_preset(self.G, "middle")[0] if k is None or k == "" else inputs.integer(k, "k (ws from the content)", 0, self.num_ws)
        out = proj.crossover(c, s, k)
        return image_grid(synthesize(self.G, torch.cat([c, s, out])), 1, 3), out

    # --- Text edit ----------------------------------------------------------------------

    def clip(self):
        """The CLIP for text edits, on this workspace's device."""
        if self.clip_loader is None:
            raise StudioError("no CLIP model is available for text edits of this model")
        clip = self.clip_loader()
        if clip is not None and clip.device != self.device:
            clip.to(self.device)
        return clip

    def text_methods(self) -> list[str]:
        """The methods this model offers: exact global directions only where StyleCLIP's
        precomputation was run for it (hours on a GPU for FFHQ-sized models)."""
        from editing.text_edit import relevance_file
        return [m for m in TEXT_METHODS if m != "global (exact)" or relevance_file(self.G, "exact")]

    def start_latent(self, seed=0, psi=0.7, class_idx=None, latents=None) -> torch.Tensor:
        """The page's current latent: an uploaded .npz (a projection, an earlier edit), else a seed's W+."""
        if latents:
            return self.latents(latents)[:1]
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        return seeds_to_ws(self.G, [seed], self.psi(psi), class_idx=self.class_index(class_idx))

    def keep_attributes(self, prompt: str, images: torch.Tensor):
        """The identity-keeping term for the embedded model: the attribute classifier's readings of
        every attribute the prompt does not name stay as they were (KL divergence); None where the
        model has no classifier of the cartoon faces' attributes."""
        if self.classifier is None:
            return None, ""
        from editing.text_edit import attribute_keeper
        from training.captions import named_attributes
        attributes = list(self.classifier.attributes)
        named = named_attributes(prompt, attributes)
        keep = [a for a in attributes if a not in named]
        return attribute_keeper(self.classifier, images, keep), f"keeping {len(keep)} attributes the prompt does not name"

    def text_edit(self, prompt, neutral="", method="global (fast)", alpha=4.0, beta=0.2, steps=None, seed=0, psi=0.7,
                  class_idx=None, latents=None, time_limit: Optional[float] = None) -> Iterator[TextEditUpdate]:
        """Edit the current latent with words (StyleCLIP): latent optimisation with previews, or a
        global direction in StyleSpace. Stopping the iteration stops the optimisation; after
        `time_limit` seconds (default STUDIO_PROJECT_MAX_S) it stops by itself with what it has."""
        from editing import text_edit as te
        prompt = inputs.text(prompt, "prompt", MAX_PROMPT).strip()
        if not prompt:
            raise StudioError("prompt: write what the edit should give, e.g. 'with sunglasses' or 'smiling'")
        neutral = inputs.text(neutral or "", "neutral prompt", MAX_PROMPT).strip()
        method = inputs.choice(method, "method", TEXT_METHODS)
        if method.startswith("global"):  # every field is checked before any work (CLIP loads on first use)
            alpha = inputs.number(alpha, "α (strength)", -20, 20)
            beta = inputs.number(beta, "β (disentanglement threshold)", 0, 1)
        else:
            steps = 300 if steps is None or steps == "" else (inputs.integer(steps, "steps", 0, MAX_TEXT_STEPS) or 300)
        ws = self.start_latent(seed, psi, class_idx, latents)
        clip = self.clip()
        before = synthesize(self.G, ws)
        if method.startswith("global"):
            kind = "exact" if method == "global (exact)" else "fast"
            relevance = None
            if kind == "exact":  # only the shipped precomputation, never StyleCLIP's minutes of it inside a request
                if te.relevance_file(self.G, "exact") is not None:
                    relevance = self.analysis(("relevance", kind, clip.fingerprint or clip.name),
                                              lambda: te.shipped_relevance(self.G, clip, "exact"))
            elif (key := ("relevance", kind, clip.fingerprint or clip.name)) in self._analyses:
                relevance = self.analysis(key, lambda: None)
            else:
                relevance = te.shipped_relevance(self.G, clip, "fast") or te.disk_relevance(self.G, clip)
                if relevance is None:  # computed here only when its estimate fits the budget, with progress
                    relevance = yield from self._fast_relevance(clip)
                self.keep_analyses({key: relevance})
            if relevance is None:
                raise StudioError("exact global directions need StyleCLIP's precomputation for this model and this CLIP "
                                  "(python -m training.precompute_relevance; hours on a GPU for FFHQ-sized models): "
                                  "use global (fast)")
            try:
                edit = te.global_edit(self.G, ws, prompt, neutral, alpha, beta, relevance, clip=clip,
                                      noise_mode=self.noise(None))
            except ValueError as e:
                raise StudioError(str(e)) from None
            note = (f"global direction ({kind} relevance, {clip.name}): {edit.channels} style channels moved "
                    f"(β = {beta:g}), α = {alpha:g}")
            if edit.channels == 0:
                note += "; no channel reaches β, so nothing changed: lower β"
            yield TextEditUpdate(1, 1, image_grid(torch.cat([before, edit.images.clamp(-1, 1)]), 1, 2), note, True, ws,
                                 edit.styles)
            return
        limit = projection_time_limit() if time_limit is None else float(time_limit)
        preserve, keep_note = self.keep_attributes(prompt, before)
        run = te.optimize_steps(self.G, ws, prompt, clip=clip, steps=steps, preserve=preserve, preview_every=1,
                                noise_mode=self.noise(None))
        start = last_preview = time.monotonic()
        state, note = None, f"latent optimisation, {clip.name}" + (f"; {keep_note}" if keep_note else "")
        try:
            for state in run:
                if state.done:
                    break
                now = time.monotonic()
                if now - start > limit:
                    note += f"; stopped after {limit:.0f} s at step {state.step} of {steps}"
                    break
                show = now - last_preview >= PREVIEW_SECONDS or state.step == 1
                if show:
                    last_preview = now
                image = image_grid(torch.cat([before, state.images[:1].clamp(-1, 1)]), 1, 2) if show else None
                yield TextEditUpdate(state.step, steps, image, note)
        finally:
            run.close()
        if not state.done:
            state.images = synthesize(self.G, state.ws)
        last = state.history[-1] if state.history else {}
        note += f"; CLIP loss {last.get('clip_loss', float('nan')):.4f}" if last else ""
        yield TextEditUpdate(state.step, steps, image_grid(torch.cat([before, state.images.clamp(-1, 1)]), 1, 2), note,
                             True, state.ws)

    def relevance_estimate(self, clip) -> tuple:
        """(RelevanceCost, estimated seconds) of the fast relevance of this model with this CLIP,
        on this device: counted on meta copies, timed by one forward and backward pass here."""
        from editing import text_edit as te

        return self.analysis(("relevance-estimate", clip.fingerprint or clip.name),  # once per model and CLIP
                             lambda: te.estimate_relevance(self.G, clip))

    def _fast_relevance(self, clip):
        """Compute the fast relevance inside a request when its estimate fits the budget (yielding
        progress), and keep it on disk; otherwise say what it costs and how to precompute it."""
        from editing import text_edit as te
        cost, seconds = self.relevance_estimate(clip)
        budget = te.relevance_budget()
        if seconds > budget:
            raise StudioError(
                f"global (fast) needs this model's channel relevance for this CLIP first; here it would take "
                f"{cost.describe(seconds)}, more than a request may take ({budget:.0f} s). Precompute it once "
                f"(it is then kept on disk and used here): python -m training.precompute_relevance --model "
                f"{self.label} --method fast  -- or use optimization.")
        note = f"computing this model's channel relevance once ({cost.describe(seconds)})"
        relevance = None
        for item in te.relevance_fast_steps(self.G, clip, batch=cost.batch):
            if isinstance(item, te.Relevance):
                relevance = item
            else:
                yield TextEditUpdate(item[0], item[1], None, note)
        te.save_to_disk(self.G, clip, relevance)
        return relevance

    @staticmethod
    def save_text_edit(path: str, ws: torch.Tensor, styles: Optional[dict] = None) -> str:
        """The edit as .npz: `w` [1, num_ws, w_dim], plus `styles.<layer>` offsets for a global edit."""
        arrays = {"w": ws.detach().float().cpu().numpy()}
        for name, value in (styles or {}).items():
            arrays[f"styles.{name}"] = value.detach().float().cpu().numpy()
        np.savez(path, **arrays)
        return path

    # --- files --------------------------------------------------------------------------

    @staticmethod
    def save_latents(path: str, ws: torch.Tensor, z=None, seeds=None) -> str:
        return save_latents(path, ws, z=z, seeds=seeds)
