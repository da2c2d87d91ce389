"""Drag to edit (Pan et al. 2023, "Drag Your GAN"): move handle points of an image to targets by
optimising the latent, in two alternating steps.

- Motion supervision: F is the generator's feature map after one synthesis block, resized to
  the image. For each handle p with target t and d = (t - p) / |t - p|, the features a unit step
  further, F(q + d), are pulled onto the (detached) features F(q) for every q in a disc of radius
  r1 around p; outside the movable region (mask 0), F stays at its starting values (weight λ).
  Only the first ws of W+ are optimised (the paper's 6 of 18; scaled with the number of ws), so
  the edit changes shape and pose and leaves the fine styles.
- Point tracking: each handle moves to the nearest neighbour (L1 in F) of its starting feature
  within a square of radius r2 around it.

It stops when every handle is within `stop_distance` of its target, at `steps`, or when the
caller stops iterating. Points are (x, y) pixel coordinates of the image.

    result = drag(G, ws, handles=[(30, 40)], targets=[(36, 40)])     # .ws, .images, .handles, .steps
    for state in drag_steps(G, ws, handles, targets): ...             # one state per step, for previews
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F

PAPER_RESOLUTION = 512    # the paper's r1 = 3, r2 = 12 are for 512 px images
SMALLEST_FEATURES = 32    # features coarser than this (the paper's 1/4 of a 64 px image) blur a few-pixel move:
                          # a cell of 16 px features spans 4 image pixels, and tracking within r2 = 2 px
                          # cannot tell them apart
LOST_MISMATCH = 0.35      # DragState.mismatch above this: the tracked point no longer shows the handle's
                          # content (0 for a true move, as a StyleGAN3 translation; on the embedded model v3,
                          # seeds 0-39 of benchmarks/bench_drag.py, above it for 7 of the 11 drags whose optical
                          # flow disagrees, and for 5 of the 29 where it agrees)


@dataclass
class DragOptions:
    """Every choice of the method; None: derived from the model (see defaults)."""
    steps: int = 200                    # at most this many optimisation steps
    lr: Optional[float] = None          # Adam on the optimised ws: 2e-3 at 512 px (the official GUI's 0.001-0.002),
                                        # times 512 / resolution (a pixel is a larger part of a smaller image)
    r1: Optional[float] = None          # motion-supervision radius, pixels (3 at 512 px)
    r2: Optional[int] = None            # tracking radius, pixels (12 at 512 px)
    lambda_mask: float = 20.0           # weight of keeping the features outside the mask (the paper's 20)
    num_optimized: Optional[int] = None  # the first ws optimised (6 of 18)
    feature_resolution: Optional[int] = None  # the block whose features are used (128 at 512-1024 px: the 6th;
                                        # res / 4 in general, at least SMALLEST_FEATURES)
    stop_distance: Optional[float] = None  # done when every handle is this close to its target (1 px at 512 px, at least 0.5)
    noise_mode: str = "const"


def defaults(G, options: Optional[DragOptions] = None) -> DragOptions:
    """The options for G: the paper's values at 512 px, scaled by G's resolution."""
    o = options or DragOptions()
    res = G.img_resolution
    scale = res / PAPER_RESOLUTION
    return DragOptions(
        steps=o.steps, lambda_mask=o.lambda_mask, noise_mode=o.noise_mode,
        lr=o.lr if o.lr is not None else 2e-3 / scale,
        r1=o.r1 if o.r1 is not None else max(1.0, 3 * scale),
        r2=o.r2 if o.r2 is not None else max(2, round(12 * scale)),
        num_optimized=o.num_optimized if o.num_optimized is not None else _num_optimized(G),
        feature_resolution=o.feature_resolution if o.feature_resolution is not None else max(SMALLEST_FEATURES,
                                                                                               min(128, res // 4)),
        stop_distance=o.stop_distance if o.stop_distance is not None else max(0.5, scale),
    )


def _num_optimized(G) -> int:
    """The paper's first 6 of 18 ws, scaled with the number of ws; below 256 px one fewer (at
    least 1): a small model's coarsest ws already hold most of its geometry. On the embedded model
    (64 px, 10 ws; drags of seeds 0-39 placed as benchmarks/bench_drag.py places them) the picture
    under the handle really moved (optical flow within 2 px of the drag) in 19 of 40 drags with 3 ws
    and 16 px features, 28 of 40 with 2 ws, 29 of 40 with 2 ws and 32 px features."""
    k = round(G.num_ws * 6 / 18)
    return max(1, k - 1 if G.img_resolution < 256 else k)


@dataclass
class DragState:
    step: int
    ws: torch.Tensor                    # [1, num_ws, w_dim]
    images: torch.Tensor                # [1, C, H, W], about [-1, 1]
    handles: list                       # [(x, y)] tracked
    targets: list
    distance: float                     # the largest handle-to-target distance, pixels
    done: bool = False
    total: int = 0                      # the step limit
    mismatch: float = 0.0               # the worst handle's feature distance to its starting feature, relative
                                        # to an arbitrary pixel's (0: the same content; about 1: lost)

    @property
    def steps(self) -> int:
        return self.step


Drag = DragState  # what drag() returns: the last state


def feature_layer(G, resolution: int) -> str:
    """The synthesis module whose output is the feature map: the block of that resolution
    (StyleGAN2), the layer whose sampling rate is nearest it (StyleGAN3)."""
    syn = G.synthesis
    if hasattr(syn, "layer_names"):
        rates = {name: rate for name, _, rate in syn.w_layout() if name in syn.layer_names}
        return min(rates, key=lambda n: (abs(math.log2(rates[n] / resolution)), -rates[n]))
    blocks = [r for r in syn.block_resolutions if r <= resolution] or [syn.block_resolutions[0]]
    return f"b{blocks[-1]}"


class _Features:
    """G's images and the chosen layer's features, resized to the image: one forward pass."""

    def __init__(self, G, layer: str):
        from .inspect import LayerCapture
        self.capture = LayerCapture(G, layer)
        self.G = self.capture.G

    def __call__(self, ws, noise_mode):
        images = self.G.synthesis(ws, noise_mode=noise_mode)
        feats = F.interpolate(self.capture.captured.float(), size=images.shape[-2:], mode="bilinear",
                              align_corners=False)
        return images, feats                                           # [1, C, H, W] each

    @property
    def captured(self):
        return self.capture.captured


def _sample(feats, points):
    """Bilinear samples of feats [1, C, H, W] at points [K, 2] (x, y pixel centres). [K, C]"""
    H, W = feats.shape[-2:]
    grid = torch.stack([(points[:, 0] + 0.5) / W * 2 - 1, (points[:, 1] + 0.5) / H * 2 - 1], dim=-1)
    out = F.grid_sample(feats, grid.view(1, 1, -1, 2).to(feats.dtype), mode="bilinear", align_corners=False)
    return out[0, :, 0].T


def _disc(radius: float, device) -> torch.Tensor:
    """Integer offsets (dx, dy) within a disc. [K, 2]"""
    r = int(math.floor(radius))
    d = torch.arange(-r, r + 1, device=device, dtype=torch.float32)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    keep = dx ** 2 + dy ** 2 <= radius ** 2
    return torch.stack([dx[keep], dy[keep]], dim=1)


def motion_loss(feats, handles, targets, r1: float, feats0=None, mask=None, lambda_mask: float = 20.0):
    """The motion-supervision loss: for each handle, L1 between the detached features of its
    r1-disc and those one unit step towards its target; plus lambda_mask times the L1 change of
    the features outside the mask (mask [H, W], 1 = may move)."""
    loss = feats.new_zeros(())
    offsets = _disc(r1, feats.device)
    for p, t in zip(handles, targets):
        d = t - p
        n = float(d.norm())
        if n < 1e-6:
            continue
        q = p[None] + offsets                                           # [K, 2]
        loss = loss + (_sample(feats, q).detach() - _sample(feats, q + d / n)).abs().mean(dim=1).sum()
    if mask is not None and feats0 is not None:
        keep = (1 - mask.to(feats.device, feats.dtype))[None, None]
        loss = loss + lambda_mask * ((feats - feats0) * keep).abs().mean()
    return loss


def track(feats, reference, handles, r2: int) -> torch.Tensor:
    """Each handle's new position: the pixel within the square of radius r2 around it whose
    features are nearest (L1) to its reference feature. feats [1, C, H, W], reference [K, C],
    handles [K, 2] -> [K, 2]"""
    H, W = feats.shape[-2:]
    out = []
    for p, f in zip(handles, reference):
        x, y = int(round(float(p[0]))), int(round(float(p[1])))
        x0, x1 = max(0, x - r2), min(W, x + r2 + 1)
        y0, y1 = max(0, y - r2), min(H, y + r2 + 1)
        patch = feats[0, :, y0:y1, x0:x1]                               # [C, h, w]
        dist = (patch - f[:, None, None]).abs().sum(dim=0)
        k = int(torch.argmin(dist))
        out.append(torch.tensor([x0 + k % (x1 - x0), y0 + k // (x1 - x0)], dtype=torch.float32))
    return torch.stack(out).to(handles.device)


def _points(points, name: str, size: int) -> torch.Tensor:
    t = torch.as_tensor([[float(v) for v in p] for p in points], dtype=torch.float32).reshape(-1, 2)
    if not torch.isfinite(t).all() or (t < 0).any() or (t > size - 1).any():
        raise ValueError(f"{name}: (x, y) pixel coordinates from 0 to {size - 1}")
    return t


def drag_steps(G, ws: torch.Tensor, handles: Sequence, targets: Sequence, mask=None,
               options: Optional[DragOptions] = None, **overrides) -> Iterator[DragState]:
    """Drag, yielding a DragState after every step (the last one done=True). Stopping the
    iteration stops the optimisation. ws [1, num_ws, w_dim]; mask [H, W] (1 = may move)."""
    o = defaults(G, DragOptions(**{**(options.__dict__ if options else {}), **overrides}))
    size = G.img_resolution
    handles_t = _points(handles, "handles", size)
    targets_t = _points(targets, "targets", size)
    if len(handles_t) != len(targets_t) or not len(handles_t):
        raise ValueError("give one target for each handle, and at least one handle")
    if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"ws must be [1, {G.num_ws}, {G.w_dim}]")
    device = next(G.parameters()).device
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.float32, device=device)
        if mask.shape != (size, size):
            raise ValueError(f"the mask must be [{size}, {size}] (1 = may move)")
    features = _Features(G, feature_layer(G, o.feature_resolution))
    k = min(o.num_optimized, G.num_ws)
    ws = ws.detach().to(device, torch.float32)
    head = ws[:, :k].clone().requires_grad_(True)
    tail = ws[:, k:]
    opt = torch.optim.Adam([head], lr=o.lr)
    handles_t, targets_t = handles_t.to(device), targets_t.to(device)

    def whole():
        return torch.cat([head, tail], dim=1)

    feats0 = reference = None
    for step in range(o.steps + 1):
        images, feats = features(whole(), o.noise_mode)                # one forward pass per step
        if feats0 is None:
            feats0 = feats.detach()
            reference = _sample(feats0, handles_t)                      # the handles' starting features
            # how far an arbitrary pixel's features are from each handle's: the scale of a mismatch
            scale = (feats0[0].flatten(1).T[:, None] - reference[None]).abs().sum(-1).mean(0).clamp_min(1e-12)
        else:
            handles_t = track(feats.detach(), reference, handles_t, o.r2)
        mismatch = float(((_sample(feats.detach(), handles_t) - reference).abs().sum(-1) / scale).max())
        distance = float((targets_t - handles_t).norm(dim=1).max())
        done = distance <= o.stop_distance or step == o.steps
        yield DragState(step, whole().detach().clone(), images.detach(), handles_t.tolist(), targets_t.tolist(),
                        distance, done, o.steps, mismatch)
        if done:
            return
        loss = motion_loss(feats, handles_t, targets_t, o.r1, feats0, mask, o.lambda_mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def drag(G, ws: torch.Tensor, handles: Sequence, targets: Sequence, mask=None, **options) -> DragState:
    """Move each handle (x, y) of G's image of ws to its target; see drag_steps. Returns the last
    state: .ws, .images, .handles (tracked), .steps."""
    states = drag_steps(G, ws, handles, targets, mask, **options)
    last = next(states)
    for last in states:  # noqa: B007 (the last state is the result)
        continue
    return last
