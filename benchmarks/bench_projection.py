"""Projection: quality against steps, editability, and CPU speed.

    python benchmarks/bench_projection.py quality --data data/avataaars   # -> results/projection_quality.json + .png
    python benchmarks/bench_projection.py speed                           # -> results/projection_speed_cpu.json

quality: 50 held-out avatars (training/avatars.py's held-out split: never trained on, by the
generator or the encoder), projected by each recipe on the embedded model, all 50 at once (each
image is optimised on its own; the batch only shares the passes). At chosen steps: PSNR, SSIM
(window 11) and the attribute classifier's feature distance (the in-domain perceptual distance;
note the offline recipes also optimise it) of the reconstruction against the target. nvidia's and
image2stylegan's curves are read off one long run each (image2stylegan's lr is constant, so its
curve is exactly that of shorter runs; nvidia's schedule depends on the run's length, so a
separate 100-step run is reported too); hybrid is run once per step budget. Offline, every
recipe uses the fallback distance (pixel + MS-SSIM + classifier features): the results file
names it. Then editability: the classifier's SMILE and BLACK-skin directions in W, applied at the
same strength to generated faces and to the projections; the change of the classifier's P(class).

speed: seconds per optimisation step, fp32 and bf16 (autocast), batch 1: the embedded model
with its real distance, and StyleGAN2 config-f networks at 256 and 1024 px (random weights) with
LPIPS VGG16 at random weights as a stand-in of the same cost. Timed after a warm-up step;
100 steps extrapolated from the mean of the timed ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stylegan  # noqa: E402
from companions.perceptual import perceptual  # noqa: E402
from editing.projection import project, projection_steps, psnr, render_projection  # noqa: E402
from ops.images import from_uint8, image_grid  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ssim(a, b):
    from pytorch_msssim import ssim as _ssim
    return _ssim((a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2, data_range=1.0, size_average=False)


def metrics(images, target, classifier):
    with torch.no_grad():
        fa, fb = classifier.features(images.clamp(-1, 1)), classifier.features(target)
        return {"psnr": float(psnr(images, target).mean()), "ssim": float(ssim(images, target).mean()),
                "feature_distance": float((fa - fb).square().mean(dim=1).mean())}


def curve(G, target, recipe, steps, checkpoints, classifier, encoder):
    """Metrics at each checkpoint step of one run (the clean ws rendered with the run's noise)."""
    out, t0, final = {}, time.time(), None
    for state in projection_steps(G, target, recipe, steps, seed=0, encoder=encoder, classifier=classifier, preview_every=1):
        if state.step in checkpoints or state.done:
            images = render_projection(G, state.ws, state.noise)
            out[state.step] = dict(metrics(images, target, classifier), seconds=round(time.time() - t0, 1))
            print(recipe, state.step, out[state.step], flush=True)
        final = state
    return out, final


def class_probability(G, classifier, ws, attribute, value):
    from editing.generate import synthesize
    with torch.no_grad():
        logits = classifier(synthesize(G, ws))[attribute]
    return logits.softmax(dim=1)[:, classifier.attributes[attribute].index(value)]


EDITS = (("mouth_type", "SMILE"), ("skin_color", "BLACK"))  # an expression and a colour
EDIT_STRENGTH = 3.0  # standard deviations of W along the direction, on every w


def editability(G, classifier, sets: dict) -> dict:
    """For each attribute direction (editing.directions.attribute_direction), the mean change of
    the classifier's probability of that class when the direction is applied at EDIT_STRENGTH,
    for each set of latents (generated faces and each recipe's projections)."""
    from editing.directions import apply_direction, attribute_direction
    out = {}
    for attribute, value in EDITS:
        fit = attribute_direction(G, classifier, attribute, value)
        d, unit = fit["direction"], fit["std"]
        res = {}
        for name, ws in sets.items():
            before = class_probability(G, classifier, ws, attribute, value)
            after = class_probability(G, classifier, apply_direction(ws, d, EDIT_STRENGTH * unit, range(G.num_ws)),
                                      attribute, value)
            res[name] = {"before": round(float(before.mean()), 3), "after": round(float(after.mean()), 3),
                         "change": round(float((after - before).mean()), 3)}
            print(attribute, value, name, res[name], flush=True)
        out[f"{attribute}={value}"] = res
    return out


def quality(data, n=50, out=RESULTS, long_steps=1000):
    from companions.classifier import load
    from companions.encoder import load_encoder
    from training.avatars import load_split
    G = stylegan.load("avataaars-64", device="cpu")
    classifier = load(os.path.join(ROOT, "checkpoints/avataaars64/classifier"))
    encoder = load_encoder(os.path.join(ROOT, "checkpoints/avataaars64/encoder"))
    images, _ = load_split(data, "heldout")
    target = from_uint8(images[:n])
    distance = perceptual("lpips", G.img_resolution, classifier).name
    results = {"images": n, "split": "heldout (never trained on)", "distance": distance, "recipes": {}}
    marks = {0, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000}
    finals = {}
    results["recipes"]["encoder"], finals["encoder"] = curve(G, target, "encoder", None, marks, classifier, encoder)
    hybrid = {}
    for steps in (25, 50, 100, 250, 500):
        c, f = curve(G, target, "hybrid", steps, {steps}, classifier, encoder)
        hybrid[steps] = c[steps]
        if steps == 100:
            finals["hybrid@100"] = f
    results["recipes"]["hybrid (one run per budget)"] = hybrid
    c, _ = curve(G, target, "nvidia", 100, {100}, classifier, encoder)
    results["recipes"]["nvidia (100-step run)"] = c
    results["recipes"]["nvidia"], finals["nvidia"] = curve(G, target, "nvidia", long_steps, marks, classifier, encoder)
    results["recipes"]["image2stylegan"], finals["image2stylegan"] = curve(G, target, "image2stylegan", long_steps, marks,
                                                                           classifier, encoder)
    # Editability: attribute directions applied to generated faces and to the projections.
    from editing.latents import seeds_to_ws
    sets = {f"generated (seeds 0-{n - 1}, psi 0.7)": seeds_to_ws(G, list(range(n)), 0.7)}
    sets.update({f"projected: {k}": f.ws for k, f in finals.items()})
    results[f"editability (+{EDIT_STRENGTH:g} std along the attribute direction, all ws)"] = editability(G, classifier, sets)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "projection_quality.json"), "w") as f:
        json.dump(results, f, indent=2)
    # The figure: 8 held-out avatars; rows target | encoder | hybrid@100 | image2stylegan (W+) | nvidia (W).
    k = 8
    rows = [target[:k]] + [render_projection(G, finals[name].ws[:k], finals[name].noise and
                                             {a: b[:k] for a, b in finals[name].noise.items()})
                           for name in ("encoder", "hybrid@100", "image2stylegan", "nvidia")]
    image_grid(torch.cat(rows).clamp(-1, 1), len(rows), k).resize((k * 128, len(rows) * 128), 0).save(
        os.path.join(out, "projection_quality.png"))


def speed(out=RESULTS, timed=3):
    from bench_generate import config_f

    from companions.classifier import load
    from companions.encoder import load_encoder
    torch.manual_seed(0)
    res = {"threads": torch.get_num_threads(), "cpu": os.uname().machine, "timed_steps": timed, "cases": {}}
    G64 = stylegan.load("avataaars-64", device="cpu")
    classifier = load(os.path.join(ROOT, "checkpoints/avataaars64/classifier"))
    encoder = load_encoder(os.path.join(ROOT, "checkpoints/avataaars64/encoder"))
    target = torch.rand(1, 3, 64, 64) * 2 - 1
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).split(".")[-1]
        project(G64, target, "hybrid", steps=2, encoder=encoder, classifier=classifier, dtype=dtype)  # warm-up
        t = time.perf_counter()
        project(G64, target, "hybrid", steps=100, encoder=encoder, classifier=classifier, dtype=dtype)
        total = time.perf_counter() - t
        t = time.perf_counter()
        project(G64, target, "encoder", encoder=encoder)
        enc = time.perf_counter() - t
        res["cases"][f"avataaars-64 hybrid 100 steps {name}"] = {"total_s": round(total, 2), "s_per_step": round(total / 100, 4),
                                                                 "encoder_only_s": round(enc, 3)}
        print(res["cases"], flush=True)
    for size in (256, 1024):
        G = config_f(size).eval().requires_grad_(False)
        dist = perceptual("lpips", size, stand_in=True)
        target = torch.rand(1, 3, size, size) * 2 - 1
        for dtype in (torch.float32, torch.bfloat16):
            name = str(dtype).split(".")[-1]
            times, t = [], None
            for state in projection_steps(G, target, "nvidia", steps=timed + 2, distance=dist, preview_every=1, dtype=dtype):
                now = time.perf_counter()
                if t is not None and 1 <= state.step - 1 <= timed:
                    times.append(now - t)
                t = now
            per = float(np.mean(times))
            res["cases"][f"config-f {size} nvidia {name}"] = {"s_per_step": round(per, 3), "100_steps_s": round(100 * per, 1)}
            print(res["cases"], flush=True)
        del G
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "projection_speed_cpu.json"), "w") as f:
        json.dump(res, f, indent=2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["quality", "speed"])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--steps", type=int, default=1000, help="length of the long nvidia / image2stylegan runs")
    a = p.parse_args()
    if a.what == "quality":
        quality(a.data, a.images, long_steps=a.steps)
    else:
        speed()


if __name__ == "__main__":
    main()
