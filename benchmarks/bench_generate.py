"""Seconds per generated image, batch 1, for a StyleGAN2 config-f sized generator (random
weights), comparing in one run: the plain op definitions, the fast ops in float32, and the
fast ops computing in bfloat16. Timings are interleaved (one image of each mode in turn)
and the median is reported, so machine noise hits every mode alike.

    python benchmarks/bench_generate.py [--resolutions 256 1024] [--repeats 5] [--out benchmarks/results]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ops  # noqa: E402
from stylegan import StyleGAN2Generator  # noqa: E402


def config_f(resolution, num_fp16_res=4):
    """The official config-f generator (FFHQ 1024 uses exactly this) at any resolution; the
    official networks run their top 4 resolutions in fp16 (num_fp16_res=0: all fp32)."""
    return StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                              mapping_kwargs=dict(num_layers=8),
                              synthesis_kwargs=dict(channel_base=32768, channel_max=512, conv_clamp=256,
                                                    num_fp16_res=num_fp16_res))


def conv_gflop(G):
    """Multiply-adds of the convolutions of one image, x2 (the 'GFLOP' of the network)."""
    total = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is not None:
                O, I, k, _ = layer.weight.shape
                total += O * I * k * k * (res // 2 if name == "conv0" else res) ** 2  # conv0: transposed, at the input size
        if hasattr(block, "torgb"):
            O, I = block.torgb.weight.shape[:2]
            total += O * I * res * res
    return 2 * total / 1e9


def psnr(a, b):
    a, b = a.clamp(-1, 1), b.clamp(-1, 1)
    mse = (a - b).square().mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(4.0 / mse)).item()


MODES = {
    "plain fp32": dict(reference=True, dtype=None),
    "fast fp32": dict(reference=False, dtype=None),
    "fast bf16": dict(reference=False, dtype=torch.bfloat16),
}


def run_mode(G, ws, mode):
    with ops.config.reference(MODES[mode]["reference"]):
        return G.synthesis(ws, noise_mode="const", compute_dtype=MODES[mode]["dtype"])


def bench(resolution, repeats):
    torch.manual_seed(0)
    G = config_f(resolution).eval().requires_grad_(False)
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0))
    times = {m: [] for m in MODES}
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.7)
        outs = {m: run_mode(G, ws, m) for m in MODES}  # warm-up, and the images compared below
        for r in range(repeats):
            for m in MODES:
                if m == "plain fp32" and r >= max(2, repeats // 2):
                    continue  # the slow reference needs fewer samples
                t0 = time.perf_counter()
                run_mode(G, ws, m)
                times[m].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    return {
        "resolution": resolution,
        "gflop": round(conv_gflop(G), 1),
        "seconds": {m: round(v, 3) for m, v in med.items()},
        "speedup_fast_fp32_vs_plain": round(med["plain fp32"] / med["fast fp32"], 2),
        "speedup_fast_bf16_vs_fast_fp32": round(med["fast fp32"] / med["fast bf16"], 2),
        "max_abs_diff_fast_vs_plain": float((outs["fast fp32"] - outs["plain fp32"]).abs().max()),
        "psnr_bf16_vs_fp32_db": round(psnr(outs["fast bf16"], outs["fast fp32"]), 1),
        "samples": {m: len(v) for m, v in times.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--out", default=None, help="folder for generate_cpu.json")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (by default ops.config.reuse_freed_memory() is applied, as in app.py)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reuse = False if args.default_malloc else ops.config.reuse_freed_memory()
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                          f"{torch.get_num_threads()} threads", "reuse_freed_memory": reuse, "runs": []}
    print(results["machine"], "| freed memory reused:", reuse)
    print(f"{'res':>5} {'GFLOP':>6} | {'plain fp32':>10} {'fast fp32':>10} {'fast bf16':>10} | fp32 speedup | bf16 PSNR")
    for res in args.resolutions:
        r = bench(res, args.repeats)
        results["runs"].append(r)
        s = r["seconds"]
        print(f"{res:>5} {r['gflop']:>6} | {s['plain fp32']:>9.3f}s {s['fast fp32']:>9.3f}s {s['fast bf16']:>9.3f}s | "
              f"{r['speedup_fast_fp32_vs_plain']:>11.2f}x | {r['psnr_bf16_vs_fp32_db']:.1f} dB "
              f"(fast vs plain max |diff| {r['max_abs_diff_fast_vs_plain']:.1e})", flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "generate_cpu.json"), "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
