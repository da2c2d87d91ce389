"""A projection step beside NVIDIA's projector.py, in one run, on this CPU: the same StyleGAN2
config-f weights (random; ours copied into NVIDIA's Generator, name for name), fp32, batch 1, the
nvidia recipe (W, noise buffers, LPIPS at 256 px) with a VGG16 of random weights standing in for
the LPIPS network on both sides (the real ones download); and the no-grad forward of the same
generator, for the step / forward ratio.

NVIDIA's code is not part of this project (its licence is non-commercial): fetch
NVlabs/stylegan2-ada-pytorch beside the checkout and name its folder:

    python benchmarks/bench_projection_nvidia.py --nvidia /tmp/nv     # -> results/projection_vs_nvidia_cpu.json

NVIDIA's project() computes w statistics (10,000 mappings) before its loop, so its step time is
the difference between runs of 2 and 2 + timed steps, divided by the timed steps; ours is timed
step by step after two warm-up steps. Both run with ops.config.reuse_freed_memory(), as the app."""
import argparse
import contextlib
import json
import os
import sys
import time
import types

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

TAPS = (3, 8, 15, 22, 29)  # VGG16 `features` indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (LPIPS)


class StandInVGG(torch.nn.Module):
    """NVIDIA's vgg16.pt interface (images in [0, 255] -> LPIPS features, flattened) with torchvision's
    VGG16 at random weights: the same convolutions, so the same cost."""

    def __init__(self, features):
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def forward(self, x, resize_images=False, return_lpips=True):
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features[:TAPS[-1] + 1]):
            x = layer(x)
            if i in TAPS:
                out.append((x / x.square().sum(dim=1, keepdim=True).add(1e-10).sqrt()).flatten(1))
        return torch.cat(out, dim=1)


def nvidia_generator(nv_root, ours):
    sys.path.insert(0, nv_root)
    sys.modules.setdefault("imageio", types.ModuleType("imageio"))  # only its video writer uses it
    from training.networks import Generator
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=ours.img_resolution, img_channels=3,
                  mapping_kwargs=dict(num_layers=8),
                  synthesis_kwargs=dict(channel_base=32768, channel_max=512, conv_clamp=256, num_fp16_res=0))
    missing, unexpected = G.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and not unexpected, (missing[:3], unexpected[:3])
    return G.eval().requires_grad_(False)


@contextlib.contextmanager
def nvidia_vgg(stand_in):
    import dnnlib
    open_url, jit_load = dnnlib.util.open_url, torch.jit.load
    dnnlib.util.open_url = lambda url, **kw: contextlib.nullcontext(None)
    torch.jit.load = lambda f, **kw: stand_in
    try:
        yield
    finally:
        dnnlib.util.open_url, torch.jit.load = open_url, jit_load


def nvidia_step(nv_G, target_u8, stand_in, timed):
    import projector
    runs = {}
    with nvidia_vgg(stand_in):
        for steps in (2, 2 + timed):
            t = time.perf_counter()
            projector.project(nv_G, target_u8, num_steps=steps, device=torch.device("cpu"))
            runs[steps] = time.perf_counter() - t
    return (runs[2 + timed] - runs[2]) / timed


def our_step(G, target, distance, timed):
    from editing.projection import projection_steps
    times, t = [], None
    for state in projection_steps(G, target, "nvidia", steps=timed + 3, distance=distance, preview_every=1):
        now = time.perf_counter()
        if t is not None and state.step > 2 and len(times) < timed:
            times.append(now - t)
        t = now
    return float(np.mean(times))


@torch.no_grad()
def forward_seconds(G, repeats=3):
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), None)
    G.synthesis(ws, noise_mode="const")
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        G.synthesis(ws, noise_mode="const")
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nvidia", required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch (outside this repo)")
    p.add_argument("--sizes", default="256,1024")
    p.add_argument("--timed", type=int, default=3)
    a = p.parse_args()
    import torchvision
    from bench_generate import config_f

    import ops
    from companions import perceptual
    ops.config.reuse_freed_memory()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    features = torchvision.models.vgg16(weights=None).features.eval().requires_grad_(False)
    state = features.state_dict()
    stand_in = StandInVGG(features).eval().requires_grad_(False)
    res = {"threads": torch.get_num_threads(), "torch": torch.__version__, "timed_steps": a.timed, "cases": {}}
    for size in map(int, a.sizes.split(",")):
        G = config_f(size, num_fp16_res=0).eval().requires_grad_(False)  # fp32 on both sides
        nv_G = nvidia_generator(a.nvidia, G)
        rng = np.random.default_rng(0)
        target_u8 = torch.from_numpy(rng.integers(0, 255, (3, size, size)).astype(np.uint8))
        target = target_u8.float().unsqueeze(0) / 127.5 - 1
        distance = perceptual.lpips_distance(state)  # LPIPS with the same VGG16 weights
        fwd = forward_seconds(G)
        ours = our_step(G, target, distance, a.timed)
        theirs = nvidia_step(nv_G, target_u8, stand_in, a.timed)
        fwd_after = forward_seconds(G)
        res["cases"][f"config-f {size}"] = {
            "forward (no grad) s": round(min(fwd, fwd_after), 3), "our step s": round(ours, 3),
            "NVIDIA's step s": round(theirs, 3), "our step / forward": round(ours / min(fwd, fwd_after), 2),
            "NVIDIA's step / forward": round(theirs / min(fwd, fwd_after), 2), "NVIDIA / ours": round(theirs / ours, 2)}
        print(json.dumps(res["cases"], indent=1), flush=True)
        del G, nv_G
    with open(os.path.join(ROOT, "benchmarks", "results", "projection_vs_nvidia_cpu.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
