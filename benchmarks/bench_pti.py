"""Pivotal tuning against hybrid projection, at equal CPU time, on held-out avatars.

    python benchmarks/bench_pti.py --data data/avataaars     # -> results/pti_quality.json + pti.png

50 held-out avatars (training/avatars.py's held-out split, never trained on). The pivots are
hybrid projections (the embedded encoder, then 100 optimisation steps; all 50 in one batch, each
optimised on its own), then each image's own copy of the generator is tuned for 350 steps
(editing.pti.pti_steps: lr 3e-4, L2 + the offline distance; LPIPS's 0.06 early stop needs the
VGG weights, so every image runs its 350 steps here). Equal time: the seconds of one image's
PTI (its share of the pivot's batch step, at batch 1, plus its tuning) buy hybrid this many
optimisation steps at batch 1 (both timed on this CPU in this run); hybrid is run for that many.
Reported: PSNR, SSIM and the classifier's feature distance against the targets, and the
projection benchmark's editability (the classifier's SMILE and BLACK-skin directions at +3 std
on every w; the change of P(class)), PTI's edits rendered by each image's tuned generator.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_projection import EDIT_STRENGTH, EDITS, metrics  # noqa: E402

import stylegan  # noqa: E402
from companions.perceptual import perceptual  # noqa: E402
from editing.projection import project, render_projection  # noqa: E402
from editing.pti import PTI_STEPS, pti_steps  # noqa: E402
from ops.images import from_uint8, image_grid  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIVOT_STEPS = 100


def seconds_per_step(fn, steps: int) -> float:
    fn(1)  # warm-up
    t0 = time.perf_counter()
    fn(steps)
    return (time.perf_counter() - t0) / steps


def probability(classifier, images, attribute, value):
    with torch.no_grad():
        logits = classifier(images.clamp(-1, 1))[attribute]
    return logits.softmax(dim=1)[:, classifier.attributes[attribute].index(value)]


def main(data, n=50, out=RESULTS):
    from companions.classifier import load
    from companions.encoder import load_encoder
    from editing.directions import apply_direction, attribute_direction
    from training.avatars import load_split
    torch.manual_seed(0)
    G = stylegan.load("avataaars-64", device="cpu")
    classifier = load(os.path.join(ROOT, "checkpoints/avataaars64/classifier"))
    encoder = load_encoder(os.path.join(ROOT, "checkpoints/avataaars64/encoder"))
    images, _ = load_split(data, "heldout")
    target = from_uint8(images[:n])
    distance = perceptual("lpips", G.img_resolution, classifier)

    # Batch-1 costs on this CPU: a hybrid step, a tuning step.
    one = target[:1]
    t_hybrid = seconds_per_step(lambda k: project(G, one, "hybrid", k, encoder=encoder, classifier=classifier,
                                                  distance=distance), 20)
    pivot1 = project(G, one, "hybrid", 5, encoder=encoder, classifier=classifier, distance=distance).ws

    def tune(k):
        for _ in pti_steps(G, one, pivot1, steps=k, distance=distance):
            pass
    t_tune = seconds_per_step(tune, 20)
    pti_seconds = PIVOT_STEPS * t_hybrid + PTI_STEPS * t_tune
    equal_steps = int(round(pti_seconds / t_hybrid))
    print(f"batch 1: hybrid {t_hybrid:.4f} s/step, tuning {t_tune:.4f} s/step; one PTI = {pti_seconds:.1f} s "
          f"= {equal_steps} hybrid steps", flush=True)

    t0 = time.perf_counter()
    pivot = project(G, target, "hybrid", PIVOT_STEPS, encoder=encoder, classifier=classifier, distance=distance)
    pivot_wall = time.perf_counter() - t0
    pivot_images = render_projection(G, pivot.ws, pivot.noise)
    tuned, tuned_images, tune_wall = [], [], 0.0
    for i in range(n):
        t0 = time.perf_counter()
        for state in pti_steps(G, target[i:i + 1], pivot.ws[i:i + 1], distance=distance):  # noqa: B007
            pass
        tune_wall += time.perf_counter() - t0
        tuned.append(state.G)
        tuned_images.append(state.images)
        if i % 10 == 9:
            print(f"tuned {i + 1} of {n}", flush=True)
    tuned_images = torch.cat(tuned_images)
    t0 = time.perf_counter()
    long = project(G, target, "hybrid", equal_steps, encoder=encoder, classifier=classifier, distance=distance)
    long_wall = time.perf_counter() - t0
    long_images = render_projection(G, long.ws, long.noise)

    results = {"images": n, "split": "heldout (never trained on)", "distance": distance.name,
               "batch1_seconds_per_step": {"hybrid": round(t_hybrid, 4), "pti tuning": round(t_tune, 4)},
               "pti_seconds_per_image_batch1": round(pti_seconds, 1),
               "hybrid_steps_at_equal_time": equal_steps,
               "wall_seconds_this_run": {f"pivots (hybrid 100, batch of {n})": round(pivot_wall, 1),
                                         f"tuning ({n} images, one by one)": round(tune_wall, 1),
                                         f"hybrid {equal_steps} (batch of {n})": round(long_wall, 1)},
               "reconstruction": {
                   f"hybrid {PIVOT_STEPS} (the pivot)": metrics(pivot_images, target, classifier),
                   f"hybrid {equal_steps} (equal time)": metrics(long_images, target, classifier),
                   f"pti (pivot + {PTI_STEPS} tuning steps)": metrics(tuned_images, target, classifier)}}
    print(results["reconstruction"], flush=True)

    # Editability: the same attribute directions; PTI renders each edit with the image's own generator.
    edit = {}
    for attribute, value in EDITS:
        fit = attribute_direction(G, classifier, attribute, value)
        d, unit = fit["direction"], fit["std"]

        def change(ws, render, d=d, unit=unit, attribute=attribute, value=value):
            moved = apply_direction(ws, d, EDIT_STRENGTH * unit, range(G.num_ws))
            before = probability(classifier, render(ws), attribute, value)
            after = probability(classifier, render(moved), attribute, value)
            return {"before": round(float(before.mean()), 3), "after": round(float(after.mean()), 3),
                    "change": round(float((after - before).mean()), 3)}

        with torch.no_grad():
            edit[f"{attribute}={value}"] = {
                f"hybrid {PIVOT_STEPS}": change(pivot.ws, lambda ws: render_projection(G, ws, pivot.noise)),
                f"hybrid {equal_steps}": change(long.ws, lambda ws: render_projection(G, ws, long.noise)),
                "pti": change(pivot.ws, lambda ws: torch.cat([tuned[i].synthesis(ws[i:i + 1], noise_mode="const")
                                                              for i in range(n)]))}
        print(attribute, value, edit[f"{attribute}={value}"], flush=True)
    results[f"editability (+{EDIT_STRENGTH:g} std along the attribute direction, all ws)"] = edit
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "pti_quality.json"), "w") as f:
        json.dump(results, f, indent=2)
    k = min(8, n)  # the figure: rows target | hybrid 100 | hybrid at equal time | pti | pti + smile
    fit = attribute_direction(G, classifier, "mouth_type", "SMILE")
    smile = apply_direction(pivot.ws[:k], fit["direction"], EDIT_STRENGTH * fit["std"], range(G.num_ws))
    with torch.no_grad():
        smiled = torch.cat([tuned[i].synthesis(smile[i:i + 1], noise_mode="const") for i in range(k)])
    rows = torch.cat([target[:k], pivot_images[:k], long_images[:k], tuned_images[:k], smiled]).clamp(-1, 1)
    image_grid(rows, 5, k).save(os.path.join(out, "pti.png"))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--n", type=int, default=50)
    a = p.parse_args()
    main(a.data, a.n)
