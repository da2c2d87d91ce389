"""Look inside (editing/inspect.py): a layer's activations for the page's current latent, and the
image's 2-D spectrum."""
from __future__ import annotations

from dataclasses import dataclass

import PIL.Image
import torch
import torch.nn.functional as F

from editing import inspect as ins
from editing.generate import make_transform_kwargs
from ops.images import to_pil

from .. import inputs
from ..errors import StudioError
from . import Task

PANEL = 256  # each picture of the panel is shown about this many pixels a side


@dataclass
class Inspection:
    image: PIL.Image.Image              # the image | the layer's activations | the image's spectrum
    note: str


class Inspect(Task):
    def layers(self) -> list[str]:
        return ins.feature_layers(self.G)

    def default_layer(self) -> str:
        """The layer at about a quarter of the image's resolution: its features still show parts."""
        names = self.layers()
        return names[min(len(names) - 1, max(0, len(names) * 2 // 3))]

    def run(self, seed=0, psi=0.7, class_idx=None, latents=None, layer=None, channel=-1,
            translate=(0.0, 0.0), rotate=0.0) -> Inspection:
        """The current latent's image, a layer's activations (channel -1: the norm over channels)
        and the image's amplitude spectrum, side by side, each enlarged to about PANEL px.
        StyleGAN3 models take translate / rotate, to watch what moves with the picture."""
        w = self.w
        layer = layer or self.default_layer()
        if not isinstance(layer, str) or layer not in self.layers():
            raise StudioError(f"layer: no layer {str(layer)[:60]!r}; one of: {', '.join(self.layers())}")
        channel = inputs.integer(channel, "channel", -1, 1 << 16)
        tx = inputs.number(translate[0], "translate x", -2, 2)
        ty = inputs.number(translate[1], "translate y", -2, 2)
        rotate = inputs.number(rotate, "rotate", -360, 360)
        start = w.start(seed, psi, class_idx, latents)
        try:
            kwargs = make_transform_kwargs(start.G, (tx, ty), rotate)
        except ValueError as e:
            raise StudioError(f"translate: {e}") from None
        images, maps = ins.activations(start.G, start.ws, layer, w.noise(None), **kwargs)
        if channel >= maps.shape[1]:
            raise StudioError(f"channel must be from -1 (the norm) to {maps.shape[1] - 1} for {layer}")
        heat = ins.activation_map(maps, None if channel < 0 else channel)
        size = max(PANEL, images.shape[-1])
        pictures = [F.interpolate(images.clamp(-1, 1), size=(size, size), mode="nearest"),
                    F.interpolate(ins.heat_rgb(heat), size=(size, size), mode="nearest"),
                    F.interpolate(ins.heat_rgb(ins.spectrum(images)), size=(size, size), mode="nearest")]
        strip = to_pil(torch.cat(pictures, dim=3))[0]
        what = "the norm over its channels" if channel < 0 else f"channel {channel} (grey: 0)"
        note = (f"{layer}: {maps.shape[1]} channels of {maps.shape[-1]}x{maps.shape[-2]}, showing {what}; "
                f"right: the image's amplitude spectrum (log, zero frequency at the centre)")
        return Inspection(strip, note + (f"; {start.note}" if start.note else ""))
