"""In-domain quality numbers for a generator of cartoon faces.

- Frechet distance (Heusel et al. 2017, the formula of FID) between Gaussians fitted to the
  attribute classifier's penultimate features of real and of generated images:
      FD = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))
  Not comparable with FID numbers elsewhere (other features); comparable within this project.
- Per attribute, the total-variation distance between the label distributions the classifier
  predicts on real and on generated images: TV = 1/2 sum_k |p_k - q_k|, in [0, 1].

    python -m metrics.frechet --data data/avataaars --classifier checkpoints/avataaars64/classifier \
        --generator checkpoints/avataaars64 [--run runs/avataaars]   # --run: the curve over snapshots
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from ops.images import to_uint8


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # near-singular covariances are normal here
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():  # singular product: nudge both diagonals (as pytorch-fid does)
            offset = np.eye(len(sigma1)) * 1e-6
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def feature_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    return frechet_distance(*gaussian(features_a), *gaussian(features_b))


def tv_distance(pred_a: np.ndarray, pred_b: np.ndarray, num_classes: int) -> float:
    p = np.bincount(pred_a, minlength=num_classes) / len(pred_a)
    q = np.bincount(pred_b, minlength=num_classes) / len(pred_b)
    return float(0.5 * np.abs(p - q).sum())


@torch.no_grad()
def generate(G, n: int, seed: int = 0, batch_size: int = 250, truncation_psi: float = 1.0) -> np.ndarray:
    """n samples of G as uint8 (n, H, W, 3), from z drawn with `seed`."""
    rng = np.random.RandomState(seed)
    out = []
    for i in range(0, n, batch_size):
        z = torch.from_numpy(rng.randn(min(batch_size, n - i), G.z_dim)).float()
        img = G(z, None, truncation_psi=truncation_psi, noise_mode="random")
        out.append(to_uint8(img))
    return np.concatenate(out)


def compare_predictions(real, fake, attributes: dict) -> dict:
    """FD and per-attribute TV from two results of classifier.predict (features, labels)."""
    (fr, pr), (ff, pf) = real, fake
    tv = {a: tv_distance(pr[a], pf[a], len(c) + 1) for a, c in attributes.items()}
    return {"fd": feature_distance(fr, ff), "tv": tv, "tv_mean": float(np.mean(list(tv.values())))}


def compare(classifier, real: np.ndarray, fake: np.ndarray) -> dict:
    """FD and per-attribute TV of two uint8 image sets, through the classifier."""
    return compare_predictions(classifier.predict(real), classifier.predict(fake), classifier.attributes)


def main(argv=None):
    import stylegan
    from companions.classifier import load
    from training.avatars import load_split
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--classifier", required=True)
    p.add_argument("--generator", help="a generator to measure (path, Hub id or registry name)")
    p.add_argument("--run", help="a training run folder: measure each of its snapshots/")
    p.add_argument("--every", type=int, default=1, help="with --run: measure every this many snapshots (and the last)")
    p.add_argument("--num", type=int, default=10_000)
    p.add_argument("--out", help="write the numbers here (JSON)")
    a = p.parse_args(argv)
    clf = load(a.classifier)
    real, _ = load_split(a.data, "train")
    n = a.num
    assert len(real) >= 2 * n, f"need {2 * n} training images for two disjoint real sets"
    order = np.random.default_rng(0).permutation(len(real))
    real_a, real_b = real[np.sort(order[:n])], real[np.sort(order[n:2 * n])]
    reference = clf.predict(real_a)  # computed once, compared with every set below

    def against_reference(images):
        return compare_predictions(reference, clf.predict(images), clf.attributes)
    report = {"num_images": n, "real_vs_real": against_reference(real_b)}
    print("real vs real", report["real_vs_real"]["fd"], flush=True)
    if a.generator:
        G = stylegan.load(a.generator)
        report["generator"] = against_reference(generate(G, n, seed=1))
        report["generator_psi0.7"] = against_reference(generate(G, n, seed=1, truncation_psi=0.7))
        print("generator", report["generator"]["fd"], "psi 0.7", report["generator_psi0.7"]["fd"], flush=True)
    if a.run:
        curve = []
        snaps = sorted(Path(a.run, "snapshots").glob("G_ema-*"))
        for snap in [s for i, s in enumerate(snaps) if i % a.every == 0 or i == len(snaps) - 1]:
            kimg = int(snap.name.split("-")[1])
            G = stylegan.load(str(snap))
            r = against_reference(generate(G, n, seed=1))
            curve.append({"kimg": kimg, "fd": r["fd"], "tv_mean": r["tv_mean"]})
            print(curve[-1], flush=True)
        report["curve"] = curve
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
