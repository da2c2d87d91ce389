"""StyleSpace (Wu et al. 2021, "StyleSpace Analysis"): the per-layer style vectors s = A w + b
that modulate each convolution. Single channels of s control small, local things (an eyebrow,
a lip colour), so editing one channel is often more precise than moving w.

    styles = compute_styles(G, ws)                 # {layer name: [N, channels]}
    with edit_styles(G, {("b32.conv1", 7): 5.0}) as G_edited:  # add 5 to channel 7 of that layer's style
        img = G_edited.synthesis(ws)
"""
from __future__ import annotations

import contextlib
from typing import Mapping

import torch

from .directions import sample_w


def style_layers(G) -> dict[str, tuple[int, torch.nn.Module]]:
    """{layer name: (index into W+, affine module)}, names as in the state dict (b32.conv1, L3_36_512...)."""
    return {name: (w_idx, G.synthesis.get_submodule(name).affine) for name, w_idx, _ in G.synthesis.w_layout()}


@torch.no_grad()
def compute_styles(G, ws: torch.Tensor) -> dict[str, torch.Tensor]:
    """The style vector of every layer for W+ latents ws [N, num_ws, w_dim]."""
    return {name: affine(ws[:, i].to(torch.float32)) for name, (i, affine) in style_layers(G).items()}


@torch.no_grad()
def style_statistics(G, samples: int = 2000, seed: int = 0) -> dict[str, torch.Tensor]:
    """Standard deviation of every style channel over random z: the unit in which edits are given."""
    w = sample_w(G, samples, seed).float()  # conditional models: every class in turn
    return {name: s.std(dim=0) for name, s in compute_styles(G, w.unsqueeze(1).expand(-1, G.num_ws, -1)).items()}


def conv_style_layers(G) -> dict[str, tuple[int, torch.nn.Module]]:
    """style_layers without the ToRGB layers (StyleCLIP's global directions leave them alone:
    their styles recolour the whole image)."""
    return {name: v for name, v in style_layers(G).items()
            if not name.endswith("torgb") and not getattr(G.synthesis.get_submodule(name), "is_torgb", False)}


@contextlib.contextmanager
def offset_styles(G, offsets: Mapping[str, torch.Tensor]):
    """Within the block, yields a private copy of G (stylegan.layers.private_copy: the same
    weights, its own modules) whose forward passes add offsets[layer] ([channels], or
    [N, channels] per image) to that layer's style vector. The offsets may require gradients:
    their gradient is the image's sensitivity to every style channel. G itself is never changed,
    so requests running at once do not see each other's edits."""
    from stylegan.layers import private_copy
    layers = style_layers(G)
    for name, t in offsets.items():
        if name not in layers:
            raise ValueError(f"no style layer {name!r}; layers: {', '.join(layers)}")
        if t.shape[-1] != layers[name][1].out_features:
            raise ValueError(f"{name} has {layers[name][1].out_features} channels, not {t.shape[-1]}")

    def make_hook(offset):
        def hook(module, inputs, output):
            return output + offset.to(output.dtype)
        return hook
    edited = private_copy(G)
    for name, offset in offsets.items():
        edited.synthesis.get_submodule(name).affine.register_forward_hook(make_hook(offset))
    yield edited


@contextlib.contextmanager
def edit_styles(G, edits: Mapping[tuple[str, int], float]):
    """Within the block, yields a private copy of G whose forward passes add
    edits[(layer, channel)] to that style channel (see offset_styles).

        with edit_styles(G, {("b32.conv1", 7): 5.0}) as G_edited:
            img = G_edited.synthesis(ws)
    """
    layers = style_layers(G)
    offsets: dict[str, torch.Tensor] = {}
    for (name, channel), delta in edits.items():
        if name not in layers:
            raise ValueError(f"no style layer {name!r}; layers: {', '.join(layers)}")
        affine = layers[name][1]
        width = affine.out_features
        if not 0 <= int(channel) < width:
            raise ValueError(f"{name} has channels 0..{width - 1}, not {channel}")
        if name not in offsets:
            offsets[name] = torch.zeros(width, device=affine.weight.device)
        offsets[name][int(channel)] += float(delta)
    with offset_styles(G, offsets) as edited:
        yield edited
