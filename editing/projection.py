"""Projection: find the latent whose image matches a given image, so that it can be mixed,
walked and edited like a generated one. One optimisation loop; the recipes are data.

    result = project(G, image, recipe="hybrid")      # .ws [1, num_ws, w_dim], .image (PIL), .history
    for state in projection_steps(G, image, "nvidia", preview_every=10):
        show(state.image)                            # intermediate states, for previews

Recipes (the defaults; every number is a parameter of Recipe):
- nvidia: NVIDIA's projector.py (stylegan2-ada-pytorch). W space, 1000 steps from w_avg; Adam
  (0.9, 0.999), lr 0.1 with a 5% linear warm-up and a cosine ramp-down over the last 25%; w is
  perturbed by Gaussian noise of scale w_std * 0.05 * max(0, 1 - t / 0.75)^2 (w_avg and one scalar
  w_std from 10,000 z drawn by RandomState(123), no truncation); the noise buffers are optimised
  too, with the multi-scale autocorrelation regulariser (weight 1e5, down to 8x8) and
  renormalised after each step; the distance is LPIPS (VGG16) on images area-resized to 256.
  StyleGAN3 has no noise inputs: that part is skipped.
- image2stylegan: Abdal et al. 2019 (ICCV), section 5: W+ from w_avg, Adam lr 0.01 (0.9, 0.999,
  eps 1e-8), 5000 steps, loss = pixel MSE + VGG16 perceptual loss at conv1_1, conv1_2, conv3_2,
  conv4_2 (each weighted 1).
- encoder: one forward pass of the model's encoder (editing/encoder.py): instant.
- hybrid: the encoder's W+ as the start, then 100 steps of W+ optimisation (5 x pixel MSE +
  perceptual distance, Adam lr 0.1 with NVIDIA's 5% warm-up and a cosine ramp-down over the last
  10%): encoder-initialised projection. Without the warm-up, the first full-size Adam steps throw
  a good start away: on the generator's own images (encoder alone 30.0 dB) 100 steps gave 29.8 dB
  without it and 40.4 dB with it. Chosen on 16 held-out avatars (not the 50 of the results file) over lr 0.02-0.2,
  ramp-downs of 10-50%, pixel weights 1-10 and noise optimisation: from lr 0.1, ramp-down 50%,
  pixel weight 1 (21.6 dB), a ramp-down of 10% and pixel weight 5 gave 22.9 dB and SSIM 0.805
  (from 0.782) at a slightly larger classifier-feature distance (0.031 from 0.030); optimising
  the noise buffers too did not help (21.4 dB).

Where the VGG16 weights cannot be had (offline), the perceptual distance is the offline one of
editing/perceptual.py, and every result's `distance` names what was used.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from companions.perceptual import Distance, perceptual
from ops.images import from_uint8, to_pil


@dataclass(frozen=True)
class Recipe:
    name: str
    space: str = "w+"                   # "w": one w for every layer; "w+": one per layer
    steps: int = 1000
    lr: float = 0.1
    init: str = "w_avg"                 # "w_avg" | "encoder"
    distance: str = "lpips"             # "lpips" | "vgg-layers" (offline: the fallback distance)
    pixel_weight: float = 0.0           # weight of pixel MSE (images in [-1, 1])
    perceptual_weight: float = 1.0
    betas: tuple = (0.9, 0.999)
    lr_rampup: float = 0.0              # fraction of the steps of linear warm-up
    lr_rampdown: float = 0.0            # fraction of the steps of cosine ramp-down
    w_noise_scale: float = 0.0          # w noise at the start, in units of w_std
    w_noise_ramp: float = 0.0           # fraction of the steps over which the w noise fades out
    optimize_noise: bool = False        # optimise the noise buffers (StyleGAN2), with their regulariser
    noise_reg_weight: float = 1e5

    def with_(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)


RECIPES = {
    "nvidia": Recipe("nvidia", space="w", steps=1000, lr=0.1, distance="lpips", lr_rampup=0.05, lr_rampdown=0.25,
                     w_noise_scale=0.05, w_noise_ramp=0.75, optimize_noise=True),
    "image2stylegan": Recipe("image2stylegan", space="w+", steps=5000, lr=0.01, distance="vgg-layers", pixel_weight=1.0),
    "encoder": Recipe("encoder", space="w+", steps=0, init="encoder"),
    "hybrid": Recipe("hybrid", space="w+", steps=100, lr=0.1, init="encoder", distance="lpips", pixel_weight=5.0,
                     lr_rampup=0.05, lr_rampdown=0.1),
}


@dataclass
class ProjectionState:
    """Where the optimisation is; the last state of a run has done=True. An intermediate state's
    ws, noise and history are the running optimisation's own, valid until the next step (clone
    to keep them); the last state's are copies."""
    step: int
    steps: int
    ws: torch.Tensor                    # [N, num_ws, w_dim]
    images: torch.Tensor                # [N, C, H, W] in about [-1, 1]: the images of ws (with the noise)
    history: list                       # [{"step", "loss", "distance", "psnr"}] so far
    distance: str                       # which distance was used
    noise: dict = field(default_factory=dict)  # {buffer name: [N, 1, r, r]} where optimised
    done: bool = False

    @property
    def image(self) -> PIL.Image.Image:
        return to_pil(self.images[:1])[0]


Projection = ProjectionState  # what project() returns: the final state


def to_target(image, G) -> torch.Tensor:
    """A PIL image (any size: centre-cropped to a square and resized with Lanczos, as NVIDIA's
    projector does), a uint8 array (N, H, W, 3) or a tensor [N, C, H, W] in [-1, 1] -> the
    target batch [N, C, R, R] in [-1, 1] on G's device."""
    device = G.mapping.w_avg.device
    R = G.img_resolution
    if isinstance(image, PIL.Image.Image):
        image = image.convert("RGB" if G.img_channels == 3 else "L")
        w, h = image.size
        s = min(w, h)
        image = image.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        image = image.resize((R, R), PIL.Image.LANCZOS)
        arr = np.array(image, dtype=np.uint8)  # writable: torch.from_numpy wants that
        image = arr[None] if arr.ndim == 3 else arr[None, :, :, None]
    if isinstance(image, np.ndarray):
        image = from_uint8(image)
    x = image.to(device, torch.float32)
    if x.shape[-1] != R or x.shape[-2] != R:
        x = F.interpolate(x, size=(R, R), mode="area" if x.shape[-1] > R else "bilinear", align_corners=None)
    return x


@torch.no_grad()
def w_statistics(G, samples: int = 10_000, seed: int = 123, class_idx: Optional[int] = None) -> tuple[torch.Tensor, float]:
    """w_avg and one scalar w_std, as NVIDIA's projector computes them: 10,000 z from
    RandomState(123), mapped without truncation (conditional models: of class `class_idx`,
    default the first); w_std = sqrt(sum |w - w_avg|^2 / samples)."""
    device = G.mapping.w_avg.device
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).to(device, torch.float32)
    c = None
    if G.c_dim:
        c = torch.zeros([samples, G.c_dim], device=device)
        c[:, int(class_idx or 0)] = 1
    w = torch.cat([G.mapping(z[i:i + 2000], None if c is None else c[i:i + 2000])[:, :1] for i in range(0, samples, 2000)])
    w = w.float()
    w_avg = w.mean(0, keepdim=True)                                          # [1, 1, w_dim]
    return w_avg, float(((w - w_avg).square().sum() / samples) ** 0.5)


def noise_buffers(G) -> dict[str, torch.nn.Module]:
    """{name: layer} of the StyleGAN2 layers that take a noise input (none for StyleGAN3)."""
    return {name: m for name, m in G.synthesis.named_modules() if getattr(m, "use_noise", False) and hasattr(m, "noise_const")}


def noise_regularizer(noises: list[torch.Tensor]) -> torch.Tensor:
    """NVIDIA's multi-scale autocorrelation penalty: at each scale down to 8x8, the squared mean
    of each buffer times itself shifted by one pixel along x and along y; summed over scales,
    per image [N]."""
    total = 0
    for noise in noises:                                                     # [N, 1, r, r]
        while True:
            total = total + (noise * torch.roll(noise, 1, dims=3)).mean(dim=[1, 2, 3]).square()
            total = total + (noise * torch.roll(noise, 1, dims=2)).mean(dim=[1, 2, 3]).square()
            if noise.shape[-1] <= 8:
                break
            noise = F.avg_pool2d(noise, 2)
    return total


def ramped_lr(lr: float, t: float, rampup: float, rampdown: float) -> float:
    """lr at progress t in [0, 1): a linear warm-up over the first `rampup` of the run, then
    constant, then a cosine ramp-down over the last `rampdown` (NVIDIA's projector schedule,
    which StyleCLIP reuses); 0 turns a ramp off."""
    ramp = 1.0
    if rampdown > 0:
        ramp = min(1.0, (1 - t) / rampdown)
        ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp *= min(1.0, t / rampup)
    return lr * ramp


def learning_rate(recipe: Recipe, t: float) -> float:
    """A recipe's lr at progress t in [0, 1) (ramped_lr with its ramps)."""
    return ramped_lr(recipe.lr, t, recipe.lr_rampup, recipe.lr_rampdown)


def get_recipe(recipe: Union[str, Recipe], steps: Optional[int] = None, **overrides) -> Recipe:
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; one of: {', '.join(RECIPES)}")
        recipe = RECIPES[recipe]
    if steps is not None:
        overrides["steps"] = int(steps)
    return recipe.with_(**overrides) if overrides else recipe


def projection_steps(G, image, recipe: Union[str, Recipe] = "hybrid", steps: Optional[int] = None, seed: int = 0,
                     encoder=None, distance: Optional[Distance] = None, classifier=None, preview_every: int = 10,
                     dtype: torch.dtype = torch.float32, class_idx: Optional[int] = None, encoder_iterations=None,
                     **overrides) -> Iterator[ProjectionState]:
    """Project `image` (see to_target: one image or a batch, each projected on its own), yielding
    a ProjectionState every `preview_every` steps and a last one with done=True. Stopping the
    iteration stops the optimisation.

    encoder: needed by the "encoder" and "hybrid" recipes. distance: the image distance (default:
    the recipe's, via companions.perceptual.perceptual, with `classifier` in the offline fallback).
    encoder and classifier default to those shipped beside G (companions.companion), if any.
    dtype: torch.bfloat16 runs synthesis and distance under CPU/GPU autocast. class_idx: a
    conditional model's class (its w statistics start the optimisation). encoder_iterations:
    ReStyle encoders' refinement steps against G (default: the file's)."""
    from companions import companion
    recipe = get_recipe(recipe, steps, **overrides)
    if encoder is None and recipe.init == "encoder":
        encoder = companion(G, "encoder")
    if classifier is None and distance is None and recipe.steps:
        classifier = companion(G, "classifier")
    if recipe.steps < 0:
        raise ValueError("steps must be 0 or more")
    target = to_target(image, G)
    N = target.shape[0]
    device = target.device
    gen = torch.Generator().manual_seed(int(seed))
    G = _private(G)
    w_avg, w_std = w_statistics(G, class_idx=class_idx)

    if recipe.init == "encoder":
        if encoder is None:
            raise ValueError(f"the {recipe.name} recipe needs an encoder, and none was trained for this model "
                             "(training/train_encoder.py makes one); the nvidia and image2stylegan recipes need none")
        with torch.no_grad():
            encoder = encoder.to(device)
            if getattr(encoder, "iterative", False):                         # ReStyle: refined against G
                start = encoder.encode(target, G=G, iterations=encoder_iterations).float()
            else:
                start = encoder.encode(target).float()                        # [N, num_ws, w_dim]
        if recipe.space == "w":
            start = start.mean(dim=1, keepdim=True)
    else:
        start = w_avg.expand(N, 1 if recipe.space == "w" else G.num_ws, -1).clone()
    w_opt = start.detach().clone().requires_grad_(True)

    layers = noise_buffers(G) if recipe.optimize_noise and recipe.steps else {}
    noises = {}
    for name, layer in layers.items():
        r = layer.resolution
        noises[name] = torch.randn([N, 1, r, r], generator=gen).to(device).requires_grad_(True)
        layer._buffers["noise_const"] = noises[name]                             # this private copy only

    def ws_of(w):
        return w.expand(-1, G.num_ws, -1) if w.shape[1] == 1 else w

    def autocast():  # fp32: no autocast context at all (it exists for CPU and CUDA only)
        return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()

    def render(w):
        with autocast():
            return G.synthesis(ws_of(w), noise_mode="const").float()

    if distance is None and recipe.steps:
        distance = perceptual(recipe.distance, G.img_resolution, classifier, device=device)
    name = distance.name if distance is not None else "none (the encoder's forward pass)"
    history: list = []

    def state(step, images, done=False):
        # Between steps the state is a view of the optimiser's tensors (no copy per step: the
        # studio asks for one every step); the last one is a copy of its own.
        copy = (lambda t: t.detach().clone()) if done else (lambda t: t.detach())
        return ProjectionState(step, recipe.steps, copy(ws_of(w_opt)), images.detach(), history if not done else list(history),
                               name, {k: copy(v) for k, v in noises.items()}, done)

    if recipe.steps == 0:
        with torch.no_grad():
            images = render(w_opt)
        history.append(_record(0, None, None, images, target))
        yield state(0, images, done=True)
        return

    opt = torch.optim.Adam([w_opt] + list(noises.values()), lr=recipe.lr, betas=recipe.betas, eps=1e-8)
    with torch.no_grad():
        for n in noises.values():
            _normalize(n)
    for step in range(recipe.steps):
        t = step / recipe.steps
        for g in opt.param_groups:
            g["lr"] = learning_rate(recipe, t)
        w_in = w_opt
        if recipe.w_noise_scale and t < recipe.w_noise_ramp:
            scale = w_std * recipe.w_noise_scale * max(0.0, 1 - t / recipe.w_noise_ramp) ** 2
            w_in = w_opt + torch.randn(w_opt.shape, generator=gen).to(device) * scale
        images = render(w_in)
        with autocast():
            dist = distance(images, target).float()                              # [N]
        loss = recipe.perceptual_weight * dist
        if recipe.pixel_weight:
            loss = loss + recipe.pixel_weight * (images - target).square().mean(dim=[1, 2, 3])
        if noises:
            loss = loss + recipe.noise_reg_weight * noise_regularizer(list(noises.values()))
        if not torch.isfinite(loss).all():
            raise FloatingPointError(f"the projection diverged at step {step} (loss is not finite)")
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            for n in noises.values():
                _normalize(n)
        history.append(_record(step + 1, loss, dist, images, target))
        if (step + 1) % max(1, preview_every) == 0 and step + 1 < recipe.steps:
            yield state(step + 1, images)
    with torch.no_grad():
        images = render(w_opt)
    history.append(_record(recipe.steps, None, None, images, target))
    yield state(recipe.steps, images, done=True)


def project(G, image, recipe: Union[str, Recipe] = "hybrid", steps: Optional[int] = None, seed: int = 0,
            **options) -> Projection:
    """The final state of projection_steps: .ws [N, num_ws, w_dim], .image (PIL, the first),
    .images, .history (loss, distance and PSNR per step), .noise (optimised buffers), .distance."""
    states = projection_steps(G, image, recipe, steps, seed, preview_every=1 << 30, **options)
    return collections.deque(states, maxlen=1)[0]  # the last (done) state


def _record(step, loss, dist, images, target) -> dict:
    with torch.no_grad():
        mse = (images.clamp(-1, 1) - target).square().mean(dim=[1, 2, 3])
        psnr = (10 * torch.log10(4 / mse.clamp_min(1e-10))).mean()
    rec = {"step": step, "psnr": round(float(psnr), 3)}
    if loss is not None:
        rec["loss"] = float(loss.detach().mean())
        rec["distance"] = float(dist.detach().mean())
    return rec


def _normalize(noise):
    noise -= noise.mean(dim=[1, 2, 3], keepdim=True)
    noise *= noise.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()


def _private(G):
    """A copy of G whose noise buffers this run may replace (the weights are shared, not copied)."""
    from stylegan.layers import private_copy
    G = private_copy(G)
    return G


def render_projection(G, ws: torch.Tensor, noise: Optional[dict] = None) -> torch.Tensor:
    """Images of projected ws with the run's optimised noise buffers (if any). [N, C, H, W]"""
    G = _private(G)
    for name, layer in noise_buffers(G).items():
        if noise and name in noise:
            layer._buffers["noise_const"] = noise[name].to(ws.device)
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


# --- what you do with projected images (Image2StyleGAN, section 6) ----------------------------

def morph(ws_a: torch.Tensor, ws_b: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear interpolation in W+ from ws_a to ws_b, both ends included and exact (torch.lerp
    computes the second half from b's end, so the last frame is ws_b itself). [frames, num_ws, w_dim]"""
    t = torch.linspace(0, 1, frames, device=ws_a.device).view(-1, 1, 1)
    return torch.lerp(ws_a[:1].expand(frames, -1, -1), ws_b[:1].expand(frames, -1, -1), t)


def expression_transfer(ws_target: torch.Tensor, ws_neutral: torch.Tensor, ws_expression: torch.Tensor,
                        strength: float = 1.0, layers=None) -> torch.Tensor:
    """w1 + strength * (w3 - w2): the target takes the difference between an expressive face (w3)
    and the same face neutral (w2); `layers` restricts it to some ws (default: all)."""
    delta = strength * (ws_expression[:1] - ws_neutral[:1])
    if layers is not None:
        mask = torch.zeros(ws_target.shape[1], device=ws_target.device)
        mask[list(layers)] = 1
        delta = delta * mask.view(1, -1, 1)
    return ws_target[:1] + delta


def crossover(ws_content: torch.Tensor, ws_style: torch.Tensor, k: int) -> torch.Tensor:
    """Style transfer by crossover: the first k ws from ws_content (pose, shape), the rest from
    ws_style (colours, texture). [1, num_ws, w_dim]"""
    if not 0 <= k <= ws_content.shape[1]:
        raise ValueError(f"k must be between 0 and {ws_content.shape[1]}")
    out = ws_style[:1].clone()
    out[:, :k] = ws_content[:1, :k]
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), per image [N]."""
    mse = (a.clamp(-1, 1) - b.clamp(-1, 1)).square().mean(dim=[1, 2, 3])
    return 10 * torch.log10(4 / mse.clamp_min(1e-10))


__all__ = ["RECIPES", "Recipe", "ProjectionState", "Projection", "project", "projection_steps", "to_target", "morph",
           "expression_transfer", "crossover", "psnr", "render_projection", "w_statistics", "noise_regularizer"]
