"""Drag to edit: does the handle reach its target, does the picture really move there, does the
mask hold the rest still, and how long does it take.

    python benchmarks/bench_drag.py quality    # -> results/drag_quality.json + drag.png
    python benchmarks/bench_drag.py quality --model runs/x/snapshots/G_ema-000040 --out runs/x/drag
    python benchmarks/bench_drag.py speed      # -> results/drag_speed_cpu.json
    python benchmarks/bench_drag.py shift --model runs/x/snapshots/G_ema-000040 --out runs/x/drag

quality: the embedded model, seeds 0-19 (ψ 0.7). Each seed's handle is put on a visible
feature: the pixel of largest local contrast (smoothed gradient magnitude of the grey image)
inside the face's central 32 x 32; its target 5-10 px away in a direction drawn from the seed.
Measured per drag (200 steps at most, the defaults of editing.drag):
- the tracked handle's final distance to its target (what the method believes);
- an independent check of the motion: the dense optical flow (OpenCV's Farneback, on the images
  enlarged 4x) from the first image to the last, averaged over 3 x 3 pixels at the handle,
  against (target - handle): the share of drags where it is within 2 px;
- with a mask (a disc of radius 12 px around the handle may move), the same drag: its PSNR
  outside the disc (first vs last image), against the unmasked drag's PSNR there;
- steps and seconds per drag, and how often the tracked point's features stopped matching the
  handle's (DragState.mismatch > LOST_MISMATCH: the page then says the picture changed instead).

shift: can the model's W+ draw its own image moved? For seeds 0-5 (ψ 0.7), the first ws that
drags optimise (defaults(G).num_optimized), and then all of them, are fitted by Adam (lr 0.01,
150 steps, L2) to the image translated by 4 px to the right (the left edge repeated). The PSNR
reached against the translated image, beside the PSNR of the unmoved image against it: a model
whose latents hold the position reaches far above that floor; one that draws every face at one
place barely leaves it, and no drag of it can move a part (the optimiser changes the picture).

speed: seconds per drag step (forward, motion loss, backward, tracking) for the embedded model
and a 1024 px StyleGAN2 config-f network at random weights, batch 1, after a warm-up step.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import stylegan  # noqa: E402
from editing.drag import LOST_MISMATCH, defaults, drag, drag_steps  # noqa: E402
from editing.generate import synthesize  # noqa: E402
from editing.latents import seeds_to_ws  # noqa: E402
from editing.projection import psnr as image_psnr  # noqa: E402
from ops.images import image_grid, to_pil  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MASK_RADIUS = 12
FLOW_TOLERANCE = 2.0


def grey_uint8(image: torch.Tensor, scale: int = 4) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> grey uint8 [H*scale, W*scale] (bicubic)."""
    import PIL.Image
    pil = to_pil(image.clamp(-1, 1))[0].convert("L")
    return np.asarray(pil.resize((pil.width * scale, pil.height * scale), PIL.Image.BICUBIC))


def pick_handle(image: torch.Tensor, rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """The handle: the largest smoothed gradient magnitude in the central half; the target 5-10 px away."""
    import cv2
    g = grey_uint8(image, 1).astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    mag = cv2.GaussianBlur(mag, (5, 5), 1.5)
    H, W = g.shape
    c = np.zeros_like(mag)
    c[H // 4:3 * H // 4, W // 4:3 * W // 4] = mag[H // 4:3 * H // 4, W // 4:3 * W // 4]
    y, x = np.unravel_index(int(np.argmax(c)), c.shape)
    angle, length = rng.uniform(0, 2 * math.pi), rng.uniform(5, 10)
    tx = int(np.clip(round(x + length * math.cos(angle)), 2, W - 3))
    ty = int(np.clip(round(y + length * math.sin(angle)), 2, H - 3))
    return (int(x), int(y)), (tx, ty)


def flow_at(first: torch.Tensor, last: torch.Tensor, point, scale: int = 4) -> np.ndarray:
    """Farneback flow first -> last at point (x, y) of the model's pixels, in those pixels."""
    import cv2
    a, b = grey_uint8(first, scale), grey_uint8(last, scale)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=21, iterations=5, poly_n=7,
                                        poly_sigma=1.5, flags=0)
    x, y = int(point[0] * scale + scale // 2), int(point[1] * scale + scale // 2)
    r = scale + scale // 2
    return flow[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 2).mean(0) / scale


def psnr_outside(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    keep = (1 - mask)[None, None].expand_as(a).bool()
    mse = float(((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2)[keep].square().mean())
    return 10 * math.log10(1 / max(mse, 1e-12))


def disc(size: int, centre, radius: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((x - centre[0]) ** 2 + (y - centre[1]) ** 2) <= radius ** 2).float()


def quality(seeds=range(20), out=RESULTS, model="avataaars-64"):
    G = stylegan.load(model, device="cpu")
    options = defaults(G)
    rows, figure = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        ws = seeds_to_ws(G, [seed], 0.7)
        first = synthesize(G, ws)
        handle, target = pick_handle(first, rng)
        t0 = time.perf_counter()
        free = drag(G, ws, [handle], [target])
        seconds = time.perf_counter() - t0
        mask = disc(G.img_resolution, handle, MASK_RADIUS)
        masked = drag(G, ws, [handle], [target], mask=mask)
        wanted = np.subtract(target, handle).astype(float)
        flow = flow_at(first, free.images, handle)
        row = {"seed": seed, "handle": handle, "target": target, "target_distance": round(float(np.hypot(*wanted)), 2),
               "tracked_final_distance": round(float(np.hypot(*np.subtract(free.handles[0], target))), 2),
               "flow": [round(float(v), 2) for v in flow],
               "flow_error": round(float(np.hypot(*(flow - wanted))), 2),
               "steps": free.steps, "seconds": round(seconds, 2), "mismatch": round(free.mismatch, 3),
               "masked_tracked_final_distance": round(float(np.hypot(*np.subtract(masked.handles[0], target))), 2),
               "psnr_outside_mask": {"masked": round(psnr_outside(first, masked.images, mask), 2),
                                     "unmasked": round(psnr_outside(first, free.images, mask), 2)}}
        print(row, flush=True)
        rows.append(row)
        if len(figure) < 8:
            figure.append((first, free, masked, handle, target))
    n = len(rows)
    summary = {
        "drags": n, "model": ("avataaars-64 (embedded)" if model == "avataaars-64" else model) + ", psi 0.7",
        "options": {k: v for k, v in vars(options).items()},
        "mean_target_distance_px": round(float(np.mean([r["target_distance"] for r in rows])), 2),
        "mean_tracked_final_distance_px": round(float(np.mean([r["tracked_final_distance"] for r in rows])), 2),
        "tracked_within_1px": sum(r["tracked_final_distance"] <= 1.0 for r in rows),
        "optical_flow_within_2px_of_target_minus_handle": sum(r["flow_error"] <= FLOW_TOLERANCE for r in rows),
        "mean_optical_flow_error_px": round(float(np.mean([r["flow_error"] for r in rows])), 2),
        "mean_psnr_outside_mask_db": {k: round(float(np.mean([r["psnr_outside_mask"][k] for r in rows])), 2)
                                      for k in ("masked", "unmasked")},
        "masked_mean_tracked_final_distance_px": round(float(np.mean([r["masked_tracked_final_distance"] for r in rows])), 2),
        "tracking_lost (mismatch > LOST_MISMATCH)": sum(r["mismatch"] > LOST_MISMATCH for r in rows),
        "mean_steps": round(float(np.mean([r["steps"] for r in rows])), 1),
        "mean_seconds_per_drag_cpu": round(float(np.mean([r["seconds"] for r in rows])), 2),
        "per_drag": rows,
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "drag_quality.json"), "w") as f:
        json.dump(summary, f, indent=2)
    save_figure(figure, os.path.join(out, "drag.png"))
    print({k: v for k, v in summary.items() if k != "per_drag"})


def save_figure(cases, path):
    """Rows of before | after | after with the mask, 4x, with the handle (red), target (blue) and an arrow."""
    from studio.tasks.drag import draw_points
    tiles = []
    for first, free, masked, handle, target in cases:
        mask = disc(first.shape[-1], handle, MASK_RADIUS)
        tiles.append(draw_points(to_pil(first.clamp(-1, 1))[0], [handle], [target], 4))
        tiles.append(draw_points(to_pil(free.images.clamp(-1, 1))[0], free.handles, [target], 4))
        tiles.append(draw_points(to_pil(masked.images.clamp(-1, 1))[0], masked.handles, [target], 4, mask.numpy()))
    t = torch.stack([torch.from_numpy(np.asarray(im, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1) for im in tiles])
    image_grid(t, len(cases), 3).save(path)


def step_seconds(G, steps: int = 3) -> float:
    ws = seeds_to_ws(G, [0], 0.7)
    r = G.img_resolution
    run = drag_steps(G, ws, [(r // 2, r // 2)], [(r // 2 + r // 8, r // 2)], steps=steps + 1, stop_distance=0.0)
    next(run)                                     # step 0: the first forward pass
    next(run)                                     # warm-up step
    t0 = time.perf_counter()
    for _ in range(steps):
        next(run)
    run.close()
    return (time.perf_counter() - t0) / steps


def speed(out=RESULTS):
    from stylegan.stylegan2 import StyleGAN2Generator
    torch.manual_seed(0)
    results = {"threads": torch.get_num_threads()}
    G = stylegan.load("avataaars-64", device="cpu")
    results["avataaars-64 (embedded)"] = {"seconds_per_step": round(step_seconds(G, 10), 4)}
    print(results, flush=True)
    big = StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                             mapping_kwargs=dict(num_layers=8),
                             synthesis_kwargs=dict(channel_base=32768, channel_max=512)).eval()
    results["stylegan2 config-f 1024 (random weights)"] = {"seconds_per_step": round(step_seconds(big, 2), 2),
                                                            "feature_layer": f"b{defaults(big).feature_resolution}"}
    print(results, flush=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "drag_speed_cpu.json"), "w") as f:
        json.dump(results, f, indent=2)


def shift(out=RESULTS, model="avataaars-64", seeds=range(6), pixels=4, steps=150):
    G = stylegan.load(model, device="cpu")
    k = defaults(G).num_optimized

    def psnr(a, b):
        return float(image_psnr(a, b).mean())
    rows = []
    for seed in seeds:
        ws = seeds_to_ws(G, [seed], 0.7)
        with torch.no_grad():
            x0 = G.synthesis(ws, noise_mode="const")
        moved = torch.roll(x0, shifts=pixels, dims=3)
        moved[..., :pixels] = x0[..., :1]
        row = {"seed": seed, "unmoved_psnr": round(psnr(x0, moved), 2)}
        for name, fitted in (("first_ws", k), ("all_ws", G.num_ws)):
            head = ws[:, :fitted].clone().requires_grad_(True)
            opt = torch.optim.Adam([head], lr=0.01)
            for _ in range(steps):
                loss = ((G.synthesis(torch.cat([head, ws[:, fitted:]], 1), noise_mode="const") - moved) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                row[f"psnr_{name}"] = round(psnr(G.synthesis(torch.cat([head, ws[:, fitted:]], 1), noise_mode="const"), moved), 2)
        print(row, flush=True)
        rows.append(row)
    summary = {"model": model, "pixels": pixels, "steps": steps, "first_ws": k, "num_ws": G.num_ws,
               **{key: round(float(np.mean([r[key] for r in rows])), 2) for key in ("unmoved_psnr", "psnr_first_ws", "psnr_all_ws")},
               "per_seed": rows}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "drag_shift.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print({k: v for k, v in summary.items() if k != "per_seed"})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["quality", "speed", "shift"])
    p.add_argument("--model", default="avataaars-64", help="quality, shift: a registry name or a Hub-native folder (a snapshot)")
    p.add_argument("--out", default=RESULTS, help="the folder of the results file and figure")
    a = p.parse_args()
    if a.what == "speed":
        speed(out=a.out)
    else:
        (quality if a.what == "quality" else shift)(out=a.out, model=a.model)
