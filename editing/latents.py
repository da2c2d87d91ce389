"""Latent arithmetic: mapping seeds to W, style mixing, interpolation.

Shapes: z [N, z_dim]; w [N, w_dim]; ws (W+) [N, num_ws, w_dim], one w per synthesis layer
(StyleGAN2: two per resolution, the ToRGB sharing the next layer's; StyleGAN3: one per layer).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .generate import class_vector, seeds_to_z


@torch.no_grad()
def seeds_to_ws(G, seeds: Sequence[int], truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                class_idx: Optional[int] = None) -> torch.Tensor:
    """W+ of each seed (truncated towards w_avg). [N, num_ws, w_dim]"""
    z = seeds_to_z(G, seeds)
    return G.mapping(z, class_vector(G, class_idx, len(seeds)), truncation_psi=truncation_psi,
                     truncation_cutoff=truncation_cutoff)


PRESETS = ("coarse", "middle", "fine")


def layer_resolutions(G) -> list[int]:
    """The resolution each w of W+ acts on. StyleGAN2: the lowest resolution the w feeds (ws 2k
    and 2k + 1 at 4 * 2^k, as the StyleGAN papers count: at 1024, 18 ws, two per resolution).
    StyleGAN3: each layer's output sampling rate (ws[0], the input's, as its first layer's)."""
    layout = G.synthesis.w_layout()
    if hasattr(G.synthesis, "block_resolutions"):
        res = [None] * G.num_ws
        for _, i, r in layout:
            res[i] = r if res[i] is None else min(res[i], r)
        return res
    rates = [r for _, _, r in layout]
    return [rates[0]] + rates


def mixing_preset(G, name: str) -> list[int]:
    """The ws taken from the other latent in the paper's three mixes (StyleGAN, section 3.1).
    StyleGAN2, by resolution: coarse = 4-8 px (pose, face shape, glasses), middle = 16-32 px
    (features, hair style, eyes), fine = 64 px and up (colours, micro-structure); at 18 ws
    0-3, 4-7 and 8-17. StyleGAN3, whose layers do not map to image scales this way: the same
    split scaled to its number of ws (cuts at 4/18 and 8/18 of them)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: one of {', '.join(PRESETS)}")
    n = G.num_ws
    if not hasattr(G.synthesis, "block_resolutions"):
        cut = [0, round(n * 4 / 18), round(n * 8 / 18), n]
        k = PRESETS.index(name)
        return list(range(cut[k], cut[k + 1]))
    bands = {"coarse": (0, 8), "middle": (16, 32), "fine": (64, 1 << 30)}
    lo, hi = bands[name]
    return [i for i, r in enumerate(layer_resolutions(G)) if lo <= r <= hi]


def preset_label(G, name: str) -> str:
    """'coarse: ws 0-3' -- what the UI shows next to a preset."""
    layers = mixing_preset(G, name)
    if not layers:
        return f"{name}: none at this resolution"
    return f"{name}: ws {layers[0]}-{layers[-1]}" if len(layers) > 1 else f"{name}: w {layers[0]}"


def mix(ws_base: torch.Tensor, ws_style: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """ws_base with the `layers` taken from ws_style (broadcast over the batch)."""
    out = ws_base.clone()
    idx = torch.as_tensor(list(layers), dtype=torch.long, device=out.device)
    out[:, idx] = ws_style.expand_as(out)[:, idx]
    return out


@torch.no_grad()
def mixing_ws(G, row_seeds: Sequence[int], col_seeds: Sequence[int], layers: Sequence[int],
              truncation_psi: float = 1.0, class_idx: Optional[int] = None, row_latents: Optional[torch.Tensor] = None):
    """The latents of a style-mixing grid: cells [len(cols) * len(rows), num_ws, w_dim], column
    by column (cell (r, c) at c * len(rows) + r: row r with `layers` from column seed c), and the
    rows' and columns' own W+. row_latents [K, num_ws, w_dim] (a projection, say) are the first
    K rows, before the row seeds'."""
    all_ws = seeds_to_ws(G, list(row_seeds) + list(col_seeds), truncation_psi, class_idx=class_idx)
    row_ws, col_ws = all_ws[:len(row_seeds)], all_ws[len(row_seeds):]
    if row_latents is not None:
        row_ws = torch.cat([row_latents.to(row_ws), row_ws])
    cells = torch.cat([mix(row_ws, col_ws[j:j + 1], layers) for j in range(len(col_seeds))])
    return cells, row_ws, col_ws


@torch.no_grad()
def render_mixing_grid(G, cells: torch.Tensor, row_ws: torch.Tensor, col_ws: torch.Tensor, noise_mode: str = "const"):
    """Images of mixing_ws's latents: grid [rows, cols, C, H, W], the rows' and the columns' own images."""
    images = G.synthesis(cells, noise_mode=noise_mode)
    grid = images.reshape(len(col_ws), len(row_ws), *images.shape[1:]).transpose(0, 1)
    return grid, G.synthesis(row_ws, noise_mode=noise_mode), G.synthesis(col_ws, noise_mode=noise_mode)


@torch.no_grad()
def style_mixing_grid(G, row_seeds: Sequence[int], col_seeds: Sequence[int], layers: Sequence[int],
                      truncation_psi: float = 1.0, noise_mode: str = "const", class_idx: Optional[int] = None):
    """The official style_mixing.py grid: cell (r, c) is row seed r with `layers` from column seed c.
    Returns images [len(rows), len(cols), C, H, W], the rows' and the columns' own images."""
    return render_mixing_grid(G, *mixing_ws(G, row_seeds, col_seeds, layers, truncation_psi, class_idx), noise_mode)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation (W and W+: the space is roughly linear)."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last axis (Z: Gaussian samples live near a sphere).
    Norms are interpolated linearly; falls back to lerp for (anti)parallel vectors."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1, 1)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    safe = so.abs() > 1e-4
    wa = torch.where(safe, torch.sin((1 - t) * omega) / torch.where(safe, so, 1), 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / torch.where(safe, so, 1), t)
    return (wa * ua + wb * ub) * (na + (nb - na) * t)


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, space: str = "w") -> torch.Tensor:
    """`steps` points from a[0] to b[0] inclusive: lerp for "w"/"w+", slerp for "z". [steps, *a.shape[1:]]"""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    if a.ndim < 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be latents of one shape with a batch axis, got {list(a.shape)} and {list(b.shape)}")
    t = torch.linspace(0, 1, steps, device=a.device, dtype=a.dtype).reshape(-1, *([1] * (a.ndim - 1)))
    return (slerp if space == "z" else lerp)(a[:1], b[:1], t)
