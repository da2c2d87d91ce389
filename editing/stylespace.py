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


@contextlib.contextmanager
def edit_styles(G, edits: Mapping[tuple[str, int], float]):
    """Within the block, yields a private copy of G (stylegan.layers.private_copy: the same
    weights, its own modules) whose forward passes add edits[(layer, channel)] to that style
    channel. G itself is never changed, so requests running at once do not see each other's edits.

        with edit_styles(G, {("b32.conv1", 7): 5.0}) as G_edited:
            img = G_edited.synthesis(ws)
    """
    from stylegan.layers import private_copy
    layers = style_layers(G)
    by_layer: dict[str, list[tuple[int, float]]] = {}
    for (name, channel), delta in edits.items():
        if name not in layers:
            raise ValueError(f"no style layer {name!r}; layers: {', '.join(layers)}")
        width = layers[name][1].out_features
        if not 0 <= int(channel) < width:
            raise ValueError(f"{name} has channels 0..{width - 1}, not {channel}")
        by_layer.setdefault(name, []).append((int(channel), float(delta)))

    def make_hook(changes):
        def hook(module, inputs, output):
            output = output.clone()
            for channel, delta in changes:
                output[:, channel] += delta
            return output
        return hook
    edited = private_copy(G)
    for name, changes in by_layer.items():
        edited.synthesis.get_submodule(name).affine.register_forward_hook(make_hook(changes))
    yield edited
