"""Seconds per image and per video frame on the CPU, for the embedded model (avataaars-64) and a
StyleGAN2 config-f sized network at 1024^2 (random weights), batch 1 and batch 8: what a
visitor of a CPU Space waits for. Each case is timed `--repeats` times, interleaved with the
others so machine noise hits them alike (with one untimed call whenever the model changes);
medians reported.

    python benchmarks/bench_editing.py [--repeats 3] [--out benchmarks/results] [--also NAME=FOLDER]

`--also` times another generator in the same run (a Hub-native folder: e.g. the embedded model
before it was replaced, `git show`n out of history), so the two compare as a ratio.

- image: seeds -> W+ -> synthesis (editing.generate.synthesize), per image.
- frame: a looping walk (editing.video.walk_frames) encoded to MP4 (editing.video.write_mp4), per frame.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_generate import config_f  # noqa: E402

import ops  # noqa: E402
import stylegan  # noqa: E402
from editing.generate import synthesize  # noqa: E402
from editing.latents import seeds_to_ws  # noqa: E402
from editing.video import walk_frames, write_mp4  # noqa: E402


def time_images(G, batch):
    ws = seeds_to_ws(G, list(range(batch)), 0.7)
    t = time.perf_counter()
    synthesize(G, ws, batch_size=batch)
    return (time.perf_counter() - t) / batch


def time_frames(G, batch, frames_per_key=4):
    seeds = list(range(2))  # two keyframes, looping: 2 * frames_per_key frames
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        n = write_mp4(walk_frames(G, seeds, frames_per_key, 0.7, batch_size=batch), os.path.join(d, "w.mp4"))
        return (time.perf_counter() - t) / n


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    p.add_argument("--also", action="append", default=[], help="NAME=FOLDER: another generator timed in the same run")
    a = p.parse_args()
    ops.config.reuse_freed_memory()  # as app.py does
    torch.manual_seed(0)
    models = {"avataaars-64": stylegan.load(device="cpu"), "config-f 1024": config_f(1024).eval().requires_grad_(False)}
    for spec in a.also:
        name, _, folder = spec.partition("=")
        models[name] = stylegan.load(folder, device="cpu")
    cases = [(m, kind, b) for m in models for kind in ("image", "frame") for b in (1, 8)]
    times = {c: [] for c in cases}
    with torch.no_grad():
        for _ in range(a.repeats):
            previous = None
            for m, kind, b in cases:
                if m != previous:  # warm-up: after the other model, oneDNN rebuilds its kernels and
                    time_images(models[m], 1)  # glibc its arenas; a Space serving one model does not pay that
                    previous = m
                fn = time_images if kind == "image" else time_frames
                times[(m, kind, b)].append(fn(models[m], b))
    rows = [{"model": m, "what": kind, "batch": b, "seconds": round(statistics.median(times[(m, kind, b)]), 4)}
            for m, kind, b in cases]
    for r in rows:
        print(f"{r['model']:>14}  {r['what']:<5} batch {r['batch']}: {r['seconds']:.4f} s each")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "editing_cpu.json"), "w") as f:
        json.dump({"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                              f"{torch.get_num_threads()} threads", "repeats": a.repeats, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
