"""Drag (DragGAN, editing/drag.py): handle -> target points on the page's current latent, with a
preview every second showing the tracked points."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Optional

import PIL.Image
import PIL.ImageDraw
import torch

from editing.drag import LOST_MISMATCH, drag_steps
from ops.images import to_pil

from .. import inputs
from ..errors import StudioError
from ..runloop import RunLoop
from . import Task

MAX_POINTS = 16          # handle -> target pairs in one drag
MAX_MASK_SIDE = 4096     # a painted mask larger than this (either side) is refused, not resized
MAX_DRAG_STEPS = 1000
DEFAULT_DRAG_STEPS = 200


@dataclass
class DragUpdate:
    step: int
    steps: int
    image: Optional[PIL.Image.Image]    # the current image with handles (red), targets (blue) and arrows
    note: str = ""
    done: bool = False
    ws: Optional[torch.Tensor] = None
    tuned: Optional[str] = None         # the PTI-tuned generator it was dragged with (Workspace.start)


def parse_points(text) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Points as JSON: [[hx, hy, tx, ty], ...] or [{"handle": [x, y], "target": [x, y]}, ...]."""
    text = inputs.text(text, "points", 4000).strip()
    if not text:
        raise StudioError("points: click a handle on the image, then where it should go")
    try:
        raw = json.loads(text)
    except ValueError:
        raise StudioError('points: a JSON list such as [[30, 40, 36, 40]] (handle x, y, target x, y)') from None
    if not isinstance(raw, list) or not raw:
        raise StudioError("points: a non-empty JSON list of handle -> target pairs")
    if len(raw) > MAX_POINTS:
        raise StudioError(f"points: at most {MAX_POINTS} handle -> target pairs")
    pairs = []
    for item in raw:
        if isinstance(item, dict):
            item = list(item.get("handle") or []) + list(item.get("target") or [])
        if not isinstance(item, list) or len(item) != 4:
            raise StudioError("points: each pair is [handle x, handle y, target x, target y]")
        values = [inputs.number(v, "point coordinate", -1e6, 1e6) for v in item]
        pairs.append(((values[0], values[1]), (values[2], values[3])))
    return pairs


def parse_mask(value, resolution: int) -> Optional[torch.Tensor]:
    """What may move, [resolution, resolution] of 0/1, from the brush: an image editor's value
    ({"layers": [...]}, their painted pixels: alpha > 0), one painted layer (RGBA: alpha > 0;
    grey or RGB: non-black) as an array, PIL image or nothing. A pixel of the model moves where any
    of the (larger) canvas's pixels over it was painted. None: nothing painted, all may move."""
    import numpy as np
    if value is None:
        return None
    layers = (value.get("layers") or []) if isinstance(value, dict) else [value]
    painted = None
    for layer in layers:
        if layer is None:
            continue
        if isinstance(layer, PIL.Image.Image):
            layer = np.asarray(layer)
        if not isinstance(layer, np.ndarray) or layer.ndim not in (2, 3) or layer.size == 0 \
                or (layer.ndim == 3 and layer.shape[2] not in (1, 3, 4)):
            raise StudioError("mask: paint on the image with the brush (a layer of the same size)")
        if max(layer.shape[:2]) > MAX_MASK_SIDE:
            raise StudioError(f"mask: at most {MAX_MASK_SIDE} pixels a side")
        layer = np.nan_to_num(layer.astype(np.float32))
        on = layer[..., 3] > 0 if layer.ndim == 3 and layer.shape[2] == 4 else \
            (layer if layer.ndim == 2 else layer.max(axis=2)) > 0
        painted = on if painted is None or painted.shape != on.shape else painted | on
    if painted is None or not painted.any():
        return None
    box = PIL.Image.fromarray(painted.astype(np.uint8) * 255).resize((resolution, resolution), PIL.Image.BOX)
    return torch.from_numpy((np.asarray(box) > 0).astype(np.float32))


def _flat(points) -> list:
    """The numbers of a points text, pairs flattened (a partial last pair kept); [] for nonsense."""
    try:
        raw = json.loads(points or "[]")
        flat = [float(v) for item in raw for v in item]
    except (ValueError, TypeError):
        return []
    return [int(v) if v == int(v) else v for v in flat if v == v and abs(v) < 1e6]


def draw_points(image: PIL.Image.Image, handles, targets, scale: int = 1, mask=None) -> PIL.Image.Image:
    """The image enlarged by `scale` with each handle (red), its target (blue) and a line between;
    a handle past the last target (placed, its target not yet) is drawn alone. With a mask
    ([H, W], 1 = may move), what must stay still is dimmed."""
    if mask is not None:
        import numpy as np
        keep = np.asarray(mask, dtype=np.float32)[..., None]
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        image = PIL.Image.fromarray((rgb * (0.45 + 0.55 * keep)).astype(np.uint8))
    image = image.convert("RGB").resize((image.width * scale, image.height * scale), PIL.Image.NEAREST)
    d = PIL.ImageDraw.Draw(image)
    r = max(2, scale)

    def centre(p):
        return (p[0] + 0.5) * scale, (p[1] + 0.5) * scale

    def dot(c, colour):
        d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=colour)

    for i, handle in enumerate(handles):
        h = centre(handle)
        if i < len(targets):
            t = centre(targets[i])
            d.line([h, t], fill=(255, 255, 255), width=max(1, scale // 2))
            dot(t, (40, 90, 230))
        dot(h, (230, 40, 40))
    return image


class Drag(Task):
    def scale(self) -> int:
        """How much the page enlarges the image (to about 256 px) for placing points."""
        return self.enlargement()

    def image(self, seed=0, psi=0.7, class_idx=None, latents=None) -> PIL.Image.Image:
        """The current latent's image, at the model's resolution (the one render a drag's canvas needs)."""
        from editing.generate import synthesize
        start = self.w.start(seed, psi, class_idx, latents)
        return to_pil(synthesize(start.G, start.ws, self.w.noise(None)))[0]

    def canvas(self, seed=0, psi=0.7, class_idx=None, latents=None, points="[]") -> PIL.Image.Image:
        """The current latent's image, enlarged, with the points placed so far."""
        return self.draw(self.image(seed, psi, class_idx, latents), points)

    def draw(self, image: PIL.Image.Image, points="[]") -> PIL.Image.Image:
        """`image` (the model's resolution; e.g. a file of image()) enlarged, with the points placed
        so far (a handle without its target yet is drawn alone). No model runs: a click on a
        ZeroGPU Space costs no GPU call."""
        if image.size != (self.G.img_resolution, self.G.img_resolution):
            raise StudioError("show the image first (the button under it), then click on it")
        flat = _flat(points)
        pairs = [flat[i:i + 4] for i in range(0, len(flat) - len(flat) % 4, 4)]
        handles = [p[:2] for p in pairs] + ([flat[-2:]] if len(flat) % 4 else [])
        return draw_points(image, handles, [p[2:] for p in pairs], self.scale())

    def add_point(self, points, x, y) -> str:
        """Points after a click at (x, y) of the enlarged image: the next handle, or its target."""
        flat = _flat(points)[: 4 * MAX_POINTS - 1]
        s, hi = self.scale(), self.G.img_resolution - 1
        flat += [min(hi, max(0, int(x) // s)), min(hi, max(0, int(y) // s))]
        return json.dumps([flat[i:i + 4] for i in range(0, len(flat), 4)])

    def run(self, points, seed=0, psi=0.7, class_idx=None, latents=None, steps=None,
            time_limit: Optional[float] = None, mask=None) -> Iterator[DragUpdate]:
        """Drag the page's current latent (uploaded .npz, else a seed's W+) so each handle moves to
        its target; previews at most once a second; Stop (closing the iteration) stops. mask:
        what may move, painted (parse_mask); nothing painted: everything may."""
        pairs = parse_points(points)
        mask = parse_mask(mask, self.G.img_resolution)
        steps = DEFAULT_DRAG_STEPS if steps is None or steps == "" else \
            (inputs.integer(steps, "steps", 0, MAX_DRAG_STEPS) or DEFAULT_DRAG_STEPS)
        start = self.w.start(seed, psi, class_idx, latents)
        scale = self.scale()
        try:
            run = drag_steps(start.G, start.ws, [p for p, _ in pairs], [t for _, t in pairs], mask, steps=steps,
                             noise_mode=self.w.noise(None))
            first = next(run)
        except ValueError as e:
            raise StudioError(f"points: {e}") from None

        def picture(state):
            return draw_points(to_pil(state.images.clamp(-1, 1))[0], state.handles, state.targets, scale, mask)

        note = (f"dragging {len(pairs)} point{'s' if len(pairs) > 1 else ''}"
                + (f", {int(mask.sum())} of {mask.numel()} pixels may move" if mask is not None else "")
                + (f" ({start.note})" if start.note else ""))
        yield DragUpdate(0, steps, picture(first), note)
        state = first
        if not first.done:
            with RunLoop(run, time_limit) as loop:
                for state, show in loop:
                    yield DragUpdate(state.step, steps, picture(state) if show else None,
                                     f"{note}: step {state.step}, {state.distance:.1f} px to go")
            state = loop.state or state
            if loop.note:
                note += "; " + loop.note
        else:
            run.close()
        lost = state.mismatch > LOST_MISMATCH
        summary = (f"{note}: {state.step} steps, the farthest handle {state.distance:.1f} px from its target"
                   + (" (reached)" if state.distance <= 1.0 and not lost else "")
                   + (f"; but the tracked point no longer shows the handle's content (mismatch {state.mismatch:.2f}): "
                      "the picture changed rather than moved there; this model may not move that part. Paint a "
                      "mask, or drag less far" if lost else ""))
        yield DragUpdate(state.step, steps, picture(state), summary, True, state.ws, start.tuned)
