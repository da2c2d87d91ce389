"""The GPU check: every tab's work on a StyleGAN2 config-f network at 1024 px (random weights;
what FFHQ uses) with open_clip's ViT-B-32 (random weights) and a VGG16 of random weights for the
perceptual distances, on a CUDA device; time and peak memory per action, in fp32 and in the
reduced-precision paths (fp16 layers as the official networks use them, bf16 compute). Run it
the day a session has a GPU:

    python benchmarks/gpu_check.py                       # cuda, 1024 px -> benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --device cpu --resolution 64 --quick   # the script itself, anywhere

Everything runs through the same studio Workspace the page uses, so a device mistake anywhere
fails here as it would for a visitor. Peak memory is torch.cuda.max_memory_allocated per action
(on the CPU: growth of resident memory)."""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import PIL.Image
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class Meter:
    def __init__(self, device):
        self.device = torch.device(device)
        self.rows = []

    def run(self, name, fn):
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            import psutil
            base = psutil.Process().memory_info().rss
        t = time.perf_counter()
        error = None
        try:
            out = fn()
            if hasattr(out, "__next__"):
                for _ in out:
                    pass
        except Exception as e:  # reported, and the check goes on
            error = f"{type(e).__name__}: {str(e)[:300]}"
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
        else:
            import psutil
            peak = psutil.Process().memory_info().rss - base
        row = {"action": name, "seconds": round(time.perf_counter() - t, 3), "peak_MiB": round(peak / 2 ** 20, 1)}
        if error:
            row["error"] = error
        self.rows.append(row)
        print(json.dumps(row), flush=True)


def config_f(resolution, num_fp16_res=0):
    from bench_generate import config_f as official
    return official(resolution, num_fp16_res)


def tabs(m, w, tag, tmp, frames):
    """The quick tabs: generation, mixing, a walk, directions, StyleSpace."""
    m.run("generate one image" + tag, lambda: w.generate_one(1, 0.7))
    m.run("gallery of 16 seeds" + tag, lambda: list(w.generate("0-15", 0.7)))
    m.run("style mixing 4x4" + tag, lambda: w.style_mix("1-4", "5-8", "middle"))
    m.run(f"walk, {frames} frames" + tag, lambda: list(w.walk(os.path.join(tmp, "walk.mp4"), "0-1",
                                                              frames_per_key=frames // 2)))
    m.run("direction SeFa (first: the analysis)" + tag, lambda: w.direction(1, "SeFa", 0))
    m.run("direction GANSpace (first: the analysis)" + tag, lambda: w.direction(1, "GANSpace", 0))
    layer = w.style_layer_names()[len(w.style_layer_names()) // 2]
    m.run("StyleSpace channel (first: style statistics)" + tag, lambda: w.stylespace(1, layer, 0, 5))


def optimisations(m, G, w, clip, photo, steps, report):
    """Projection, text edits and the fast relevance, fp32; then the bf16 paths."""
    import PIL.Image

    from editing import text_edit as te
    from editing.generate import synthesize
    from editing.projection import projection_steps
    m.run(f"project nvidia, {steps} steps [fp32]", lambda: list(w.project(photo, "nvidia", steps=steps)))
    m.run(f"project image2stylegan, {steps} steps [fp32]", lambda: list(w.project(photo, "image2stylegan", steps=steps)))
    m.run(f"text optimisation, {steps} steps [fp32]", lambda: list(w.text_edit("smiling", method="optimization", steps=steps)))
    r = G.img_resolution
    points = json.dumps([[r // 2, r // 2, r // 2 + r // 8, r // 2]])
    m.run(f"drag, {steps} steps [fp32]", lambda: list(w.drag(points, 1, steps=steps)))
    m.run(f"project pti (encoder-free pivot), {steps} tuning steps [fp32]", lambda: list(w.project(photo, "pti", steps=steps)))
    layers = w.inspect_task.layers()
    m.run("look inside, a middle layer's channel norm", lambda: w.inspect(1, layer=layers[len(layers) // 2]))
    cost, seconds = te.estimate_relevance(G, clip, images=32)
    report["fast relevance, 32 images, every CLIP axis (estimated)"] = cost.describe(seconds)
    m.run("fast relevance, 2 images x 16 probes (bounded memory)",
          lambda: te.relevance_fast(G, clip, images=2, probes=16, batch=1))
    m.run("fast relevance, 2 images x 16 probes, 8 batched",
          lambda: te.relevance_fast(G, clip, images=2, probes=16, batch=1, probe_batch=8))
    rel = te.relevance_fast(G, clip, images=2, probes=8, batch=1)
    ws = w.start_latent(1)
    m.run("global edit (relevance known)", lambda: te.global_edit(G, ws, "smiling", relevance=rel, clip=clip))
    ws8 = w.start_latent(1).repeat(8, 1, 1)
    m.run("synthesis batch 8, bf16 compute", lambda: G.synthesis(ws8, noise_mode="const", compute_dtype=torch.bfloat16))
    m.run("synthesis batch 8, fp32", lambda: synthesize(G, ws8))
    m.run(f"project nvidia, {steps} steps, bf16 autocast",
          lambda: list(projection_steps(G, PIL.Image.open(photo), "nvidia", steps, dtype=torch.bfloat16)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--resolution", type=int, default=1024)
    p.add_argument("--quick", action="store_true", help="fewer steps and frames (to check the script, not to time)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "gpu_check.json"))
    a = p.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here: python benchmarks/gpu_check.py --device cpu --resolution 64 --quick checks the script")
    steps, frames = (3, 4) if a.quick else (100, 60)

    from companions import perceptual
    from companions.clip import load_clip
    from studio import Workspace

    torch.manual_seed(0)
    vgg_state = __import__("torchvision").models.vgg16(weights=None).features.state_dict()
    perceptual.vgg16_state = lambda download=True: vgg_state  # the LPIPS / VGG16 path, weights random
    clip = load_clip("ViT-B-32", None, device=device)
    tmp = tempfile.mkdtemp()
    photo = os.path.join(tmp, "photo.png")
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(photo)
    m = Meter(device)
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "resolution": a.resolution, "quick": a.quick}

    for precision, fp16_res in (("fp32", 0), ("fp16 layers (num_fp16_res=4, as the official networks)", 4)):
        G = config_f(a.resolution, fp16_res).eval().requires_grad_(False).to(device)
        w = Workspace(G, "config-f", clip_loader=lambda: clip)
        tabs(m, w, f" [{precision}]", tmp, frames)
        if not fp16_res:  # the optimisations once is enough
            optimisations(m, G, w, clip, photo, steps, report)
        del G, w
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report["actions"] = m.rows
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)
    failed = [r for r in m.rows if "error" in r]
    print(f"{len(m.rows)} actions, {len(failed)} failed -> {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    sys.exit(main())
