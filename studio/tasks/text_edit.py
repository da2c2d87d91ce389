"""Text edit (StyleCLIP): latent optimisation with previews, or a global direction in StyleSpace
from the model's channel relevance (ours, computed once; or StyleCLIP's released files)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import PIL.Image
import torch

from editing.generate import synthesize
from ops.images import image_grid

from .. import inputs
from ..errors import StudioError
from ..runloop import RunLoop
from . import Task

TEXT_METHODS = ("optimization", "global (fast)", "global (exact)")
MAX_TEXT_STEPS = 2000
MAX_PROMPT = 200       # characters


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
    tuned: Optional[str] = None         # the PTI-tuned generator the edit was made with (Workspace.start)


class TextEdit(Task):
    def clip(self):
        """The CLIP for text edits, on this workspace's device."""
        w = self.w
        if w.clip_loader is None:
            raise StudioError("no CLIP model is available for text edits of this model")
        clip = w.clip_loader()
        if clip is not None and clip.device != w.device:
            clip.to(w.device)
        return clip

    def methods(self) -> list[str]:
        """The methods this model offers: exact global directions only where StyleCLIP's
        precomputation exists for it (shipped, or released files it declares)."""
        return [m for m in TEXT_METHODS if m != "global (exact)" or self._has_exact()]

    def _has_exact(self) -> bool:
        from editing.text_edit import relevance_file
        return bool(relevance_file(self.G, "exact")) or any(
            s.format == "styleclip" or s.name == "exact" for s in self.w.companions.declared("relevance"))

    def keep_attributes(self, prompt: str, images: torch.Tensor):
        """The identity-keeping term: the attribute classifier's readings of every attribute the
        prompt does not name (by the classifier's vocabulary) stay as they were (KL divergence);
        None where the model has no classifier with a vocabulary."""
        classifier = self.w.classifier
        vocabulary = getattr(classifier, "vocabulary", None)
        if classifier is None or not vocabulary:
            return None, ""
        from companions.classifier import named_attributes
        from editing.text_edit import attribute_keeper
        named = named_attributes(prompt, vocabulary)
        keep = [a for a in classifier.attributes if a not in named]
        return attribute_keeper(classifier, images, keep), f"keeping {len(keep)} attributes the prompt does not name"

    def _exact_relevance(self, clip):
        from editing import text_edit as te
        w = self.w
        if te.relevance_file(self.G, "exact") is not None:
            return w.analysis(("relevance", "exact", clip.fingerprint or clip.name),
                              lambda: te.shipped_relevance(self.G, clip, "exact"))
        return w.companions.relevance("exact") or w.companions.released_relevance()

    def run(self, prompt, neutral="", method="global (fast)", alpha=4.0, beta=0.2, steps=None, seed=0, psi=0.7,
            class_idx=None, latents=None, time_limit: Optional[float] = None) -> Iterator[TextEditUpdate]:
        """Edit the current latent with words (StyleCLIP): latent optimisation with previews, or a
        global direction in StyleSpace. Stopping the iteration stops the optimisation; after
        `time_limit` seconds (default STUDIO_PROJECT_MAX_S) it stops by itself with what it has."""
        from editing import text_edit as te
        w = self.w
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
        c = w.class_index(class_idx)
        start = w.start(seed, psi, c, latents)
        ws, G = start.ws, start.G
        clip = self.clip()
        before = synthesize(G, ws)
        if method.startswith("global"):
            kind = "exact" if method == "global (exact)" else "fast"
            if kind == "exact":  # only a precomputation, never StyleCLIP's minutes of it inside a request
                relevance = self._exact_relevance(clip)
            elif (key := ("relevance", kind, clip.fingerprint or clip.name, c)) in w._analyses:
                relevance = w.analysis(key, lambda: None)
            else:
                relevance = te.shipped_relevance(self.G, clip, "fast") or te.disk_relevance(self.G, clip, class_idx=c)
                if relevance is None:  # computed here only when its estimate fits the budget, with progress
                    relevance = yield from self._fast_relevance(clip, c)
                w.keep_analyses({key: relevance})
            if relevance is None:
                raise StudioError("exact global directions need StyleCLIP's precomputation for this model and this CLIP "
                                  "(python -m training.precompute_relevance; hours on a GPU for FFHQ-sized models): "
                                  "use global (fast)")
            width = (relevance.basis if relevance.basis is not None else relevance.directions).shape[1]
            if width != clip.encode_texts([""]).shape[1]:
                raise StudioError(f"these global directions were made with a CLIP of {width} dimensions, not this "
                                  f"model's CLIP ({clip.name}): declare the CLIP they were made with")
            try:
                edit = te.global_edit(G, ws, prompt, neutral, alpha, beta, relevance, clip=clip,
                                      noise_mode=w.noise(None))
            except ValueError as e:
                raise StudioError(str(e)) from None
            source = "StyleCLIP's released directions" if relevance.clip_id.startswith("styleclip:") else f"{kind} relevance"
            note = (f"global direction ({source}, {clip.name}): {edit.channels} style channels moved "
                    f"(β = {beta:g}), α = {alpha:g}")
            if edit.channels == 0:
                note += "; no channel reaches β, so nothing changed: lower β"
            note += f"; {start.note}" if start.note else ""
            yield TextEditUpdate(1, 1, image_grid(torch.cat([before, edit.images.clamp(-1, 1)]), 1, 2), note, True, ws,
                                 edit.styles, start.tuned)
            return
        preserve, keep_note = self.keep_attributes(prompt, before)
        run = te.optimize_steps(G, ws, prompt, clip=clip, steps=steps, preserve=preserve, preview_every=1,
                                noise_mode=w.noise(None))
        note = (f"latent optimisation, {clip.name}" + (f"; {keep_note}" if keep_note else "")
                + (f"; {start.note}" if start.note else ""))
        with RunLoop(run, time_limit) as loop:
            for state, show in loop:
                image = image_grid(torch.cat([before, state.images[:1].clamp(-1, 1)]), 1, 2) if show else None
                yield TextEditUpdate(state.step, steps, image, note)
        state = loop.state
        if loop.note:
            note += "; " + loop.note
        if not state.done:
            state.images = synthesize(G, state.ws)
        last = state.history[-1] if state.history else {}
        note += f"; CLIP loss {last.get('clip_loss', float('nan')):.4f}" if last else ""
        yield TextEditUpdate(state.step, steps, image_grid(torch.cat([before, state.images.clamp(-1, 1)]), 1, 2), note,
                             True, state.ws, tuned=start.tuned)

    def relevance_estimate(self, clip, class_idx=None) -> tuple:
        """(RelevanceCost, estimated seconds) of the fast relevance of this model with this CLIP,
        on this device: counted on meta copies, timed by one forward and backward pass here."""
        from editing import text_edit as te
        return self.w.analysis(("relevance-estimate", clip.fingerprint or clip.name),  # once per model and CLIP
                               lambda: te.estimate_relevance(self.G, clip))

    def _fast_relevance(self, clip, class_idx=None):
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
                f"{self.w.label} --method fast  -- or use optimization.")
        note = f"computing this model's channel relevance once ({cost.describe(seconds)})"
        relevance = None
        for item in te.relevance_fast_steps(self.G, clip, batch=cost.batch, class_idx=class_idx):
            if isinstance(item, te.Relevance):
                relevance = item
            else:
                yield TextEditUpdate(item[0], item[1], None, note)
        te.save_to_disk(self.G, clip, relevance, class_idx=class_idx)
        return relevance
