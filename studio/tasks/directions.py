"""Directions: SeFa, GANSpace, attribute boundaries (the model's classifier) and the direction
files the model declares (InterFaceGAN, e4e-style, GANSpace); and StyleSpace's single channels."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import PIL.Image
import torch

from editing import MAX_SEED
from editing.directions import PCA, apply_direction, attribute_direction, direction_std, ganspace, sefa
from editing.generate import synthesize
from editing.latents import seeds_to_ws
from editing.stylespace import edit_styles, style_layers, style_statistics
from ops.images import image_grid

from .. import inputs
from ..errors import StudioError
from . import Task

DIRECTION_METHODS = ("SeFa", "GANSpace", "Attribute", "Declared")
NUM_COMPONENTS = 20    # SeFa / GANSpace components offered
STEPS = (-1, -0.5, 0, 0.5, 1)


@dataclass
class DirectionEdit:
    strip: PIL.Image.Image              # -strength ... +strength, 5 images in a row
    ws: torch.Tensor                    # the +strength latent [1, num_ws, w_dim]
    note: str = ""
    tuned: Optional[str] = None         # the PTI-tuned generator it was rendered with (Workspace.start)


class Directions(Task):
    def attribute_choices(self) -> list[str]:
        classifier = self.w.classifier
        if classifier is None:
            return []
        return [f"{a}={v}" for a, values in classifier.attributes.items() for v in values]

    def declared_choices(self) -> list[str]:
        return self.w.companions.direction_names()

    def find(self, method, index, attribute, layers) -> tuple[torch.Tensor, float, str]:
        """A direction in W ([w_dim], or [num_ws, w_dim] for a per-layer file) and the spread of
        w along it (its unit of strength)."""
        w = self.w
        method = inputs.choice(method, "method", DIRECTION_METHODS)
        if method in ("SeFa", "GANSpace"):
            k = inputs.integer(index, "component", 0, NUM_COMPONENTS - 1)
            if method == "SeFa":
                def compute():
                    dirs = sefa(self.G, layers, num=NUM_COMPONENTS)[0]
                    return dirs, direction_std(self.G, dirs)
                dirs, std = w.analysis(("sefa", tuple(layers)), compute)
            else:
                dirs, std, _ = w.analysis("ganspace", lambda: ganspace(self.G, num=NUM_COMPONENTS))
            if k >= len(dirs):
                raise StudioError(f"this model has components 0 to {len(dirs) - 1}")
            return dirs[k], float(std[k]), f"{method} component {k}"
        if method == "Declared":
            return self._declared(attribute, index)
        if w.classifier is None:
            raise StudioError("attribute directions need a model with an attribute classifier (the embedded avataaars-64)")
        choices = self.attribute_choices()
        attribute = inputs.text(attribute, "attribute", 200)
        if attribute not in choices:
            raise StudioError(f"unknown attribute {attribute[:60]!r}; one of: {', '.join(choices[:12])}, …")
        name, _, value = attribute.partition("=")
        try:
            fit = w.analysis(("attribute", name, value),
                             lambda: attribute_direction(self.G, w.classifier, name, value))
        except ValueError as e:
            raise StudioError(str(e)) from None
        return fit["direction"], fit["std"], f"{attribute} (boundary accuracy {fit['accuracy']:.0%})"

    def _declared(self, name, index) -> tuple[torch.Tensor, float, str]:
        """A declared file: an InterFaceGAN-style boundary (strength in standard deviations of w
        along its mean row), or a GANSpace file's component `index` (in its own std)."""
        w = self.w
        names = self.declared_choices()
        if not names:
            raise StudioError("this model declares no direction files (InterFaceGAN, GANSpace): use SeFa or GANSpace")
        name = inputs.text(name, "direction", 200)
        if name not in names:
            raise StudioError(f"unknown direction {name[:60]!r}; this model declares: {', '.join(names)}")
        value = w.companions.direction(name)
        if isinstance(value, PCA):
            k = inputs.integer(index, "component", 0, len(value.std) - 1)
            if value.mean.shape[-1] != self.G.w_dim:
                raise StudioError(f"{name} is for w of {value.mean.shape[-1]} dimensions; this model's has {self.G.w_dim}")
            return value.direction(k), float(value.std[k]), f"{name} component {k} (GANSpace file)"
        if value.shape[-1] != self.G.w_dim or value.shape[0] not in (1, self.G.num_ws):
            raise StudioError(f"{name} is a direction of shape {list(value.shape)}; this model's W+ is "
                              f"[{self.G.num_ws}, {self.G.w_dim}]")
        mean = value.mean(0)
        scale = float(mean.norm()) or 1.0
        std = w.analysis(("declared-std", name),
                         lambda: float(direction_std(self.G, (mean / scale)[None].to(w.device))[0]) / scale)
        return value[0] if len(value) == 1 else value, std, f"{name} (declared file)"

    def edit(self, seed=0, method="SeFa", index=0, attribute=None, strength=3.0, first=0, last=-1, psi=0.7,
             class_idx=None, latents=None) -> DirectionEdit:
        """Five images from -strength to +strength along a direction, strength in standard
        deviations of W along it (the same units for every method), applied to ws first..last
        (last = -1: the last w) of a seed's latent or of uploaded latents."""
        w = self.w
        last = w.num_ws - 1 if isinstance(last, int) and not isinstance(last, bool) and last == -1 else last
        layers = w.w_range(first, last)
        strength = inputs.number(strength, "strength", 0, 10)
        start = w.start(seed, psi, class_idx, latents)
        ws = start.ws
        d, unit, note = self.find(method, index, attribute, layers)
        note = "; ".join(n for n in (note, start.note) if n)
        if d.ndim == 2:  # one row per w: each chosen w moves along its own row
            idx = torch.as_tensor(layers, dtype=torch.long)
            moved = []
            for s in STEPS:
                out = ws.clone()
                out[:, idx] += (strength * s * unit) * d[idx].to(ws.device, ws.dtype)
                moved.append(out)
            moved = torch.cat(moved)
        else:
            moved = torch.cat([apply_direction(ws, d, strength * s * unit, layers) for s in STEPS])
        return DirectionEdit(image_grid(synthesize(start.G, moved), 1, len(STEPS)), moved[-1:], note, start.tuned)


class StyleSpace(Task):
    def edit(self, seed=0, layer=None, channel=0, strength=10.0, psi=0.7, class_idx=None) -> PIL.Image.Image:
        """Before | after moving one style channel by `strength` standard deviations."""
        w = self.w
        layers = style_layers(self.G)
        if not isinstance(layer, str) or layer not in layers:
            raise StudioError(f"no style layer {str(layer)[:40]!r}; this model has: {', '.join(layers)}")
        width = layers[layer][1].out_features
        channel = inputs.integer(channel, f"channel of {layer}", 0, width - 1)
        strength = inputs.number(strength, "strength", -50, 50)
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        std = float(w.analysis("style-std", lambda: style_statistics(self.G))[layer][channel])
        ws = seeds_to_ws(self.G, [seed], w.psi(psi), class_idx=w.class_index(class_idx))
        before = synthesize(self.G, ws)
        with edit_styles(self.G, {(layer, channel): strength * std}) as edited:
            after = synthesize(edited, ws)
        return image_grid(torch.cat([before, after]), 1, 2)
