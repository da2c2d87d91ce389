"""Pivotal tuning (Roich et al. 2022, "Pivotal Tuning for Latent-based Editing of Real Images"):
project the image to a pivot latent, then fine-tune a private copy of the generator so that the
pivot reproduces the image, keeping the pivot fixed. The image is then reconstructed closely and
still edited in the latent space of (almost) the original generator.

The paper's defaults: all synthesis weights tuned with Adam at lr 3e-4 for up to 350 steps, the
loss L2 + LPIPS (weights 1 and 1), early stop once LPIPS is below 0.06; the locality
regularisation is optional and off (as in the official code), so it is not offered here.

    result = pti(G, photo)                    # .G (the tuned copy), .ws (the pivot), .images, .history
    for state in pti_steps(G, photo, ws): ...  # tuning alone, from a given pivot, a state per step
    for state in pti_run(G, photo): ...        # the pivot's projection, then the tuning, as one run
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

from .projection import psnr, to_target

PTI_STEPS = 350
PTI_LR = 3e-4
LPIPS_STOP = 0.06


@dataclass
class PTIState:
    step: int
    steps: int
    G: torch.nn.Module                  # the tuned copy (its own weights; the caller's G is untouched)
    ws: torch.Tensor                    # the pivot [N, num_ws, w_dim]
    images: torch.Tensor                # the tuned generator's images of the pivot
    history: list = field(default_factory=list)  # [{"step", "loss", "l2", "distance", "psnr"}]
    distance: str = ""
    done: bool = False
    pivot: str = ""                     # the recipe that made the pivot
    noise: dict = field(default_factory=dict)  # tuned images use constant noise: nothing optimised

    @property
    def image(self):
        from ops.images import to_pil
        return to_pil(self.images[:1].clamp(-1, 1))[0]


@dataclass
class PTIRunState:
    """A state of pti_run: the pivot's projection (phase "pivot", G not tuned yet), then the
    tuning (phase "tune"), counted as one run of `steps` = pivot steps + tuning steps."""
    step: int
    steps: int
    phase: str
    ws: torch.Tensor
    images: torch.Tensor
    history: list
    distance: str
    noise: dict
    G: Optional[torch.nn.Module] = None   # the tuned copy, in the tuning phase
    pivot: str = ""
    done: bool = False

    @property
    def image(self):
        from ops.images import to_pil
        return to_pil(self.images[:1].clamp(-1, 1))[0]


def tuned_copy(G) -> torch.nn.Module:
    """A copy of G with weights of its own; only the synthesis network's parameters take gradients."""
    Gt = copy.deepcopy(G).eval().requires_grad_(False)
    Gt.synthesis.requires_grad_(True)
    return Gt


def pti_steps(G, image, ws: torch.Tensor, steps: int = PTI_STEPS, lr: float = PTI_LR, l2_weight: float = 1.0,
              distance_weight: float = 1.0, stop_distance: Optional[float] = None, distance=None, classifier=None,
              ) -> Iterator[PTIState]:
    """Tune a copy of G so that its image of the pivot `ws` matches `image`, yielding a state per
    step (the last one done=True). stop_distance: stop once the distance is below it (default:
    0.06 with LPIPS, as the paper; none with another distance, whose scale differs)."""
    from companions.perceptual import perceptual
    target = to_target(image, G)
    device = target.device
    if distance is None:
        distance = perceptual("lpips", G.img_resolution, classifier, device=device)
    if stop_distance is None and distance.pretrained and distance.name.lower().startswith("lpips"):
        stop_distance = LPIPS_STOP
    Gt = tuned_copy(G)
    ws = ws.detach().to(device, torch.float32)
    opt = torch.optim.Adam([p for p in Gt.synthesis.parameters() if p.requires_grad], lr=lr)
    history = []
    for step in range(steps + 1):
        images = Gt.synthesis(ws, noise_mode="const").float()
        l2 = F.mse_loss(images, target)
        d = distance(images, target).float().mean()
        loss = l2_weight * l2 + distance_weight * d
        history.append({"step": step, "loss": float(loss.detach()), "l2": float(l2.detach()),
                        "distance": float(d.detach()), "psnr": float(psnr(images.detach(), target).mean())})
        done = step == steps or (stop_distance is not None and float(d.detach()) < stop_distance)
        if done:
            Gt.requires_grad_(False)  # the result: a plain generator
        yield PTIState(step, steps, Gt, ws, images.detach(), history, distance.name, done)
        if done:
            return
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def default_pivot(G, encoder=None) -> str:
    """The best projection recipe G has for a pivot: hybrid where there is an encoder, else nvidia (W)."""
    from companions import companion
    return "hybrid" if (encoder is not None or companion(G, "encoder") is not None) else "nvidia"


def pti_run(G, image, pivot: Optional[str] = None, pivot_steps: Optional[int] = None, steps: int = PTI_STEPS,
            seed: int = 0, encoder=None, classifier=None, distance=None, class_idx=None, encoder_iterations=None,
            **options) -> Iterator[PTIRunState]:
    """The pivot's projection (editing.projection.projection_steps with `pivot`'s recipe), then
    pti_steps from its ws, as one sequence of states: the pivot's last state is not done, the
    tuning's last one is. Closing the iteration stops whichever is running."""
    from .projection import get_recipe, projection_steps
    pivot = pivot or default_pivot(G, encoder)
    n_pivot = get_recipe(pivot, pivot_steps).steps
    total = n_pivot + steps
    projection = projection_steps(G, image, pivot, pivot_steps, seed, encoder=encoder, classifier=classifier,
                                  distance=distance, preview_every=1, class_idx=class_idx,
                                  encoder_iterations=encoder_iterations)
    last = None
    try:
        for state in projection:
            last = state
            yield PTIRunState(state.step, total, "pivot", state.ws, state.images, state.history, state.distance,
                              state.noise, pivot=pivot)
    finally:
        projection.close()
    ws = last.ws.detach().clone()
    tuning = pti_steps(G, image, ws, steps=steps, distance=distance, classifier=classifier, **options)
    try:
        for state in tuning:
            yield PTIRunState(n_pivot + state.step, total, "tune", ws, state.images, state.history, state.distance,
                              {}, state.G, pivot, state.done)
    finally:
        tuning.close()


def pti(G, image, pivot: Optional[str] = None, pivot_steps: Optional[int] = None, seed: int = 0, encoder=None,
        classifier=None, distance=None, steps: int = PTI_STEPS, **options) -> PTIState:
    """PTI: pti_run to its end (a pivot from the best recipe the model has: hybrid where an
    encoder is given or shipped beside G, else NVIDIA's W projection; then the tuning). Returns
    the tuning's last state, whose .G is the tuned copy, .ws the pivot, .step the tuning steps."""
    last = None
    for last in pti_run(G, image, pivot, pivot_steps, steps, seed, encoder=encoder, classifier=classifier,  # noqa: B007
                        distance=distance, **options):
        pass
    n_pivot = last.steps - steps
    return PTIState(step=last.step - n_pivot, steps=steps, G=last.G, ws=last.ws, images=last.images,
                    history=last.history, distance=last.distance, done=last.done, pivot=last.pivot)
