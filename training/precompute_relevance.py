"""Precompute StyleCLIP's channel relevance for a model, for global text directions.

    python -m training.precompute_relevance --model avataaars-64 --out checkpoints/avataaars64/styleclip
    python -m training.precompute_relevance --model stylegan2-ffhq-1024 --method fast        # into the studio's cache
    python -m training.precompute_relevance --model stylegan2-ffhq-1024 --method fast --estimate  # what it would cost
    python -m training.precompute_relevance --model stylegan2-ffhq-1024 --clip ViT-B-32 --pretrained laion2b_s34b_b79k \\
        --out my-ffhq-styleclip --method exact            # hours on a GPU, as StyleCLIP's own

A fast relevance without --out goes to the studio's disk cache (editing.text_edit.relevance_cache_dir:
STUDIO_RELEVANCE_CACHE, or ~/.cache/stylegan-studio/relevance), keyed by the model's and the CLIP's
weights, where the page's "global (fast)" finds it. It runs in bounded memory: --batch images
hold their graph at once (default: 1 from 512 px), --probe-batch backward passes are batched
into one (faster on a GPU; that many times the backward's memory).

--method exact (StyleCLIP's: every conv style channel moved by +-5 sigma over --images faces) or
fast (ours: the Jacobian of the mean CLIP embedding, one backward pass per CLIP dimension). The
exact run keeps finished layers in <out>/relevance_exact.partial.pt and goes on from there when
run again. The result is <out>/relevance_<method>.safetensors; put the folder beside a local model
as `styleclip/` and the studio offers "global (exact)" for it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="avataaars-64", help="anything stylegan.load takes")
    p.add_argument("--clip", default=None, help="a CLIP folder, hf-hub:org/repo or open_clip model name "
                                                "(default: the one shipped beside the model)")
    p.add_argument("--pretrained", default=None, help="open_clip pretrained tag, with a model name")
    p.add_argument("--method", choices=["exact", "fast"], default="exact")
    p.add_argument("--images", type=int, default=None, help="faces averaged over (exact: 100, fast: 32)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--probes", type=int, default=None, help="fast: random directions of CLIP space instead of all its axes")
    p.add_argument("--probe-batch", type=int, default=1, help="fast: backward passes batched into one")
    p.add_argument("--estimate", action="store_true", help="print what it would cost (FLOPs, peak memory, time) and stop")
    p.add_argument("--out", default=None, help="a folder (required for exact; fast: default the studio's cache)")
    p.add_argument("--device", default=None)
    a = p.parse_args(argv)
    if a.out is None and a.method == "exact":
        p.error("--out is required with --method exact")

    import stylegan
    from companions.clip import load_clip
    from editing import text_edit as te
    from editing.text_edit import model_clip, relevance_exact, relevance_fast
    G = stylegan.load(a.model, device=a.device)
    device = next(G.parameters()).device
    clip = model_clip(G, load_clip(a.clip, a.pretrained, device=device) if a.clip else None).to(device)
    if a.method == "fast":
        cost, seconds = te.estimate_relevance(G, clip, images=a.images or 32, probes=a.probes, batch=a.batch)
        print(f"fast relevance of {a.model} with {clip.name} on {device}: {cost.describe(seconds)}", flush=True)
        if a.estimate:
            return 0
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    from tqdm import tqdm
    bar = tqdm(unit="channel" if a.method == "exact" else "backward pass")

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)
    if a.method == "exact":
        rel = relevance_exact(G, clip, images=a.images or 100, batch=a.batch or 256, progress=progress,
                              resume=os.path.join(a.out, "relevance_exact.partial.pt"))
    else:
        rel = relevance_fast(G, clip, images=a.images or 32, batch=a.batch, probes=a.probes,
                             probe_batch=a.probe_batch, progress=progress)
    bar.close()
    if a.out:
        path = os.path.join(a.out, f"relevance_{a.method}.safetensors")
        rel.save(path)
    else:
        path = te.save_to_disk(G, clip, rel, a.probes)
    partial = os.path.join(a.out or "", "relevance_exact.partial.pt")
    if a.method == "exact" and os.path.exists(partial):
        os.remove(partial)
    print(f"{rel.directions.shape[0]} channels, {rel.images} images, {time.time() - t0:.0f} s -> {path}")
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    sys.exit(main())
