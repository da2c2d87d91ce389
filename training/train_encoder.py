"""Train an encoder (editing/encoder.py) for any loaded generator: image -> W+ in one pass.

    python -m training.train_encoder --model avataaars-64 --run runs/encoder64 --steps 6000 \
        --data data/avataaars --out checkpoints/avataaars64/encoder

Each step renders a batch of the generator's own images from known latents -- w drawn with a
range of truncation psi (0.4 to 1) and style mixing (half the batch takes its later ws from a
second w), so the encoder sees W+ and not only W -- and trains on:
  - latent loss: the squared error of the predicted W+ against the true one, in units of the
    spread of w (so it means the same for every generator);
  - image loss through the generator: the image of the predicted W+ against the target, pixel
    MSE plus an in-domain perceptual term where the model ships an attribute classifier
    (its features), else the perceptual distance of editing/perceptual.py.
With --data (a folder of training.avatars shards), half of each batch is real training images,
trained with the image loss alone: the encoder then also sees images the generator did not make,
which is what a visitor uploads.

Resumable: the run folder's state.pt holds the encoder, the optimiser and the step, and every
random draw of step k comes from a generator seeded with (seed, k). --minutes stops (and saves)
after that much time; running the command again continues.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from companions.encoder import Encoder
from companions.perceptual import classifier_feature_distance
from editing.projection import psnr, w_statistics
from ops.images import from_uint8


def sample_ws(G, n: int, gen: torch.Generator, psi_range=(0.4, 1.0), mix_prob: float = 0.5) -> torch.Tensor:
    """W+ latents of the kind visitors' images land near: truncated by a random psi, half of
    them style-mixed at a random crossover. [n, num_ws, w_dim]"""
    device = G.mapping.w_avg.device
    z = torch.randn([2 * n, G.z_dim], generator=gen).to(device)
    c = None
    if G.c_dim:
        c = F.one_hot(torch.randint(G.c_dim, [2 * n], generator=gen), G.c_dim).float().to(device)
    w = G.mapping(z, c, truncation_psi=1)[:, 0]                             # [2n, w_dim]
    psi = torch.empty([2 * n, 1]).uniform_(*psi_range, generator=gen).to(device)
    w = G.mapping.w_avg + psi * (w - G.mapping.w_avg)
    ws = w[:n, None].repeat(1, G.num_ws, 1)
    cut = torch.randint(1, G.num_ws, [n], generator=gen)
    mixed = torch.rand([n], generator=gen) < mix_prob
    later = torch.arange(G.num_ws)[None] >= cut[:, None]                    # [n, num_ws]
    take = (later & mixed[:, None]).to(device)[..., None]
    return torch.where(take, w[n:, None], ws)


def train(G, run: str, steps: int = 6000, batch: int = 32, lr: float = 1e-3, seed: int = 0, data=None,
          classifier=None, minutes: float = 0, width: int = 32, resolution: int = 64, image_weight: float = 1.0,
          feature_weight: float = 1.0, log_every: int = 50):
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    device = G.mapping.w_avg.device
    G = G.eval().requires_grad_(False)
    resolution = min(resolution, G.img_resolution)
    E = Encoder(num_ws=G.num_ws, w_dim=G.w_dim, resolution=resolution, width=width).to(device)
    E.w_avg.copy_(G.mapping.w_avg)
    opt = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.9, 0.99))
    state_path = run / "state.pt"
    step = 0
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        E.load_state_dict(state["encoder"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        print(f"resumed at step {step}")
    per_dim = w_statistics(G)[1] ** 2 / G.w_dim   # the variance of one coordinate of w
    reals = None
    if data:
        from training.avatars import load_split
        reals, _ = load_split(data, "train")
    feat = classifier_feature_distance(classifier) if classifier is not None else None
    log = open(run / "log.jsonl", "a")
    t0, start_step = time.time(), step

    def save():
        torch.save({"encoder": E.state_dict(), "opt": opt.state_dict(), "step": step}, state_path)

    while step < steps:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        for g in opt.param_groups:  # cosine decay over the run
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        n_fake = batch // 2 if reals is not None else batch
        with torch.no_grad():
            ws = sample_ws(G, n_fake, gen)
            x_fake = G.synthesis(ws, noise_mode="const")
        pred = E(x_fake)                                                    # offsets from w_avg
        latent_loss = (pred - (ws - E.w_avg)).square().mean() / per_dim
        x = x_fake
        if reals is not None:
            idx = torch.randint(len(reals), [batch - n_fake], generator=gen).numpy()
            x_real = from_uint8(reals[np.sort(idx)]).to(device)
            x = torch.cat([x_fake, x_real])
            pred = torch.cat([pred, E(x_real)])
        img = G.synthesis(E.w_avg + pred, noise_mode="const")
        if img.shape[-1] != x.shape[-1]:
            img = F.interpolate(img, size=x.shape[-2:], mode="area")
        pixel = (img - x).square().mean()
        feature = feat(img, x).mean() if feat is not None else torch.zeros([])
        loss = latent_loss + image_weight * pixel + feature_weight * feature
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % log_every == 0 or step == steps:
            with torch.no_grad():
                rec = {"step": step, "latent": float(latent_loss), "pixel": float(pixel), "feature": float(feature),
                       "psnr": float(psnr(img, x).mean()), "s_per_step": (time.time() - t0) / (step - start_step)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            save()
        if minutes and time.time() - t0 > minutes * 60:
            break
    save()
    return E, step


def export(E: Encoder, out: str, info: dict) -> None:
    """The encoder in fp16 safetensors + config.json (diffusers layout) and a training record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    E.half().save_pretrained(out, safe_serialization=True)
    E.float()
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    from .cards import encoder_card
    (out / "README.md").write_text(encoder_card(out))


def main(argv=None):
    import stylegan
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="avataaars-64", help="registry name, Hub id or checkpoint path")
    p.add_argument("--run", required=True)
    p.add_argument("--out", help="export the encoder here when the run is complete")
    p.add_argument("--data", help="folder of training.avatars shards: half of each batch is real images")
    p.add_argument("--classifier", help="attribute classifier folder (in-domain perceptual term)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--resolution", type=int, default=256, help="encoder input (at most the model's)")
    p.add_argument("--minutes", type=float, default=0)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    G = stylegan.load(a.model)
    classifier = None
    if a.classifier:
        from companions.classifier import load
        classifier = load(a.classifier)
    t = time.time()
    E, step = train(G, a.run, a.steps, a.batch, a.lr, data=a.data, classifier=classifier, minutes=a.minutes,
                    width=a.width, resolution=a.resolution)
    if a.out and step >= a.steps:
        export(E, a.out, {"model": a.model, "steps": step, "batch": a.batch, "lr": a.lr, "real_images": bool(a.data),
                          "perceptual": "attribute-classifier features" if classifier is not None else "none",
                          "parameters": sum(p.numel() for p in E.parameters()),
                          "last_session_seconds": round(time.time() - t, 1), "threads": torch.get_num_threads(),
                          "host": os.uname().machine})
        print(f"exported to {a.out}")


if __name__ == "__main__":
    main()
