"""The fast channel relevance (global text directions) at the sizes people use: what it costs and
how closely it agrees with StyleCLIP's exact relevance.

- Cost counted on meta copies (editing.text_edit.relevance_cost: PyTorch's FLOP counter, and the
  bytes saved for backward) for a StyleGAN2 config-f generator at 256 and 1024 px with
  open_clip's ViT-B-32 (random weights: the cost stand-in; the real ones download), 32 images,
  every CLIP axis (512 backward passes) and 64 random probes.
- Measured here at 256 px on this CPU: seconds and peak resident memory of one image with 64
  backward passes (each pass costs the same, so 512 passes take 8x and 32 images 32x that; the
  memory is that of one image's graph, which is all that is held at a time), and the estimate
  the studio would have given beforehand, for the ratio.
- Agreement on the embedded model (its CLIP has 128 dimensions): Spearman rank correlation over
  channels between the fast and the shipped exact relevance, per prompt of the text-edit
  benchmark, with every axis (today's method, now computed in batches: the same numbers) and with
  64 and 32 random probes.

    python benchmarks/bench_relevance.py            # -> benchmarks/results/relevance_cpu.json
"""
import json
import os
import sys
import threading
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROMPTS = ["with sunglasses", "smiling", "with a beard", "with pink hair", "wearing a hat", "with closed eyes"]


def config_f(resolution):
    from bench_generate import config_f as official
    return official(resolution, num_fp16_res=0)  # fp32, as the relevance runs


def vit_b32():
    from companions.clip import load_clip
    return load_clip("ViT-B-32", None)  # open_clip's architecture with random weights: the cost stand-in


def rss():
    import psutil
    return psutil.Process().memory_info().rss


class Peak:
    def __enter__(self):
        self.base, self.peak, self.stop = rss(), rss(), threading.Event()

        def watch():
            while not self.stop.wait(0.02):
                self.peak = max(self.peak, rss())
        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def costs(clip):
    from editing import text_edit as te
    out = {}
    for res in (256, 1024):
        G = config_f(res).requires_grad_(False)  # built on the CPU (its filters' values are known); counted on meta
        for probes in (None, 64):
            c = te.relevance_cost(G, clip, images=32, probes=probes, batch=1)
            out[f"config-f {res}, {c.probes} probes"] = {
                "PFLOP": round(c.flops / 1e15, 3), "forward GFLOP per image": round(c.forward_flops / 1e9, 1),
                "backward GFLOP per image": round(c.backward_flops / 1e9, 1),
                "held for backward per image (GiB)": round(c.held_bytes / 2 ** 30, 2),
                "peak GiB (weights + one image's graph + the backward's own)": round(c.peak_bytes / 2 ** 30, 2),
                "fits a 24 GB GPU": c.peak_bytes < 22 * 2 ** 30}
    return out


def measured_256(clip):
    from editing import text_edit as te
    G = config_f(256).eval().requires_grad_(False)
    cost = te.relevance_cost(G, clip, images=1, probes=64, batch=1)
    forward, backward = te.measured_seconds(G, clip, 1)  # the forward is reported too: estimate_relevance's parts
    estimate = cost.seconds(forward, backward)
    before = rss()
    with Peak() as mem:
        t = time.time()
        te.relevance_fast(G, clip, images=1, batch=1, probes=64)
        seconds = time.time() - t
    per_pass = (seconds - forward) / 64
    return {"images": 1, "probes": cost.probes, "seconds": round(seconds, 1), "estimated beforehand": round(estimate, 1),
            "measured / estimated": round(seconds / estimate, 2), "forward s": round(forward, 2),
            "backward pass s": round(per_pass, 2),
            "32 images x 512 passes on this CPU (extrapolated), h": round(32 * (forward + 512 * per_pass) / 3600, 1),
            "32 images x 64 probes on this CPU (extrapolated), h": round(32 * seconds / 3600, 2),
            "resident before (MB)": round(before / 2 ** 20), "peak growth while it ran (MB)": round((mem.peak - before) / 2 ** 20),
            "counted peak (MB)": round(cost.peak_bytes / 2 ** 20)}


def agreement():
    from bench_text_edit import spearman

    import stylegan
    from companions import companion
    from editing import text_edit as te
    G = stylegan.load("avataaars-64", device="cpu")
    clip = companion(G, "clip")
    exact = te.shipped_relevance(G, clip, "exact")
    shipped_fast = te.shipped_relevance(G, clip, "fast")
    out = {}
    for probes in (None, 64, 32):
        t = time.time()
        rel = te.relevance_fast(G, clip, probes=probes)
        seconds = time.time() - t
        rows = {p: round(spearman(rel.scores(clip.text_direction(p)), exact.scores(clip.text_direction(p))), 3) for p in PROMPTS}
        if probes is None and shipped_fast is not None:
            rows["max |difference| from the shipped fast relevance (computed in one batch)"] = float(
                (rel.directions - shipped_fast.directions).abs().max())
        out[f"{probes or 'all 128'} probes ({seconds:.0f} s)"] = rows
    out["today (shipped fast vs exact)"] = {p: round(spearman(shipped_fast.scores(clip.text_direction(p)),
                                                              exact.scores(clip.text_direction(p))), 3) for p in PROMPTS}
    return out


def main():
    torch.set_num_threads(2)
    clip = vit_b32()
    res = {"machine": "2-core CPU, torch " + torch.__version__, "cost (counted)": costs(clip)}
    print(json.dumps(res, indent=1), flush=True)
    res["agreement with the exact relevance (embedded model, Spearman over channels)"] = agreement()
    print(json.dumps(res, indent=1), flush=True)
    res["measured at 256 px (config-f, ViT-B-32, random weights)"] = measured_256(clip)
    print(json.dumps(res, indent=1), flush=True)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "relevance_cpu.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
