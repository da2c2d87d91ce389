"""Coverage of the rare modes: for each named class, the share of generated faces (ψ 1, 2,000
seeds) that the attribute classifier reads as that class (p > 0.5, summed over the class's
members), against its share in the training data (the labels). Issue 20's bar: every named
class at least half its share in the data. The classifier's reading of real faces is reported
beside, so that what the classifier misses is not put on the generator.

    python -m metrics.coverage --data data/avataaars-pose --classifier runs/classifier-pose \
        --generator runs/avataaars64-v2c/snapshots/G_ema-000040 [--run runs/avataaars64-v2c] [--out f.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

# name -> (attribute, the classes that count)
NAMED = {
    "sunglasses": ("accessories_type", ["SUNGLASSES", "WAYFARERS", "KURT"]),
    "pink hair": ("hair_color", ["PASTEL_PINK"]),
    "closed eyes": ("eye_type", ["CLOSE"]),
    "hat": ("top_type", ["HAT", "WINTER_HAT1", "WINTER_HAT2", "WINTER_HAT3", "WINTER_HAT4"]),
    "beard or moustache": ("facial_hair_type", ["BEARD_LIGHT", "BEARD_MEDIUM", "BEARD_MAJESTIC", "MOUSTACHE_FANCY",
                                                "MOUSTACHE_MAGNUM"]),
    "smiling": ("mouth_type", ["SMILE"]),
}


def read_shares(classifier, images: torch.Tensor | np.ndarray, batch: int = 250) -> dict[str, float]:
    """{name: share of `images` read as the class}; images [N, 3, H, W] in [-1, 1] or uint8 [N, H, W, 3]."""
    from ops.images import from_uint8
    hits = {name: [] for name in NAMED}
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        x = from_uint8(x) if isinstance(x, np.ndarray) else x
        with torch.no_grad():
            probs = {a: v.softmax(1) for a, v in classifier(x.clamp(-1, 1)).items()}
        for name, (attribute, classes) in NAMED.items():
            idx = [classifier.attributes[attribute].index(c) for c in classes]
            hits[name].append(probs[attribute][:, idx].sum(1) > 0.5)
    return {name: round(float(torch.cat(v).float().mean()), 4) for name, v in hits.items()}


def label_shares(labels: dict) -> dict[str, float]:
    """{name: share of the faces whose label is the class} (labels as training.avatars.load_split gives them)."""
    from training.avatars import attribute_classes
    out = {}
    for name, (attribute, classes) in NAMED.items():
        idx = [attribute_classes(attribute).index(c) for c in classes]
        out[name] = round(float(np.isin(labels[attribute], idx).mean()), 4)
    return out


def generated_shares(G, classifier, faces: int = 2000, psi: float = 1.0, seed: int = 0) -> dict[str, float]:
    from editing.generate import synthesize
    from editing.latents import seeds_to_ws
    images = torch.cat([synthesize(G, seeds_to_ws(G, list(range(seed + i, seed + min(i + 250, faces))), psi))
                        for i in range(0, faces, 250)])
    return read_shares(classifier, images)


def coverage(G, classifier, data_labels: dict, real_images: np.ndarray | None = None, faces: int = 2000) -> dict:
    """The table: per named class, the data's share, the classifier's reading of real faces, the
    generator's share, their ratio and whether it is at least half."""
    data = label_shares(data_labels)
    real = read_shares(classifier, real_images) if real_images is not None else {}
    gen = generated_shares(G, classifier, faces)
    rows = {}
    for name in NAMED:
        ratio = gen[name] / data[name] if data[name] else float("nan")
        rows[name] = {"training data": data[name], "real faces read": real.get(name), "generated": gen[name],
                      "ratio": round(ratio, 3), "at least half": bool(ratio >= 0.5), "faces": faces}
    return rows


def main(argv=None):
    import stylegan
    from companions.classifier import load
    from training.avatars import load_split
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--classifier", required=True)
    p.add_argument("--generator", help="a generator (path, Hub id or registry name)")
    p.add_argument("--run", help="a training run folder: every snapshot")
    p.add_argument("--faces", type=int, default=2000)
    p.add_argument("--out", help="write the tables here (JSON)")
    a = p.parse_args(argv)
    clf = load(a.classifier)
    images, labels = load_split(a.data, "train")
    real = images[np.sort(np.random.default_rng(0).permutation(len(images))[:a.faces])]
    targets = ([a.generator] if a.generator else []) + \
        ([str(s) for s in sorted(Path(a.run, "snapshots").glob("G_ema-*"))] if a.run else [])
    report = {}
    for target in targets:
        report[target] = coverage(stylegan.load(target, device="cpu"), clf, labels, real, a.faces)
        print(target, json.dumps({k: (v["generated"], v["training data"]) for k, v in report[target].items()}),
              flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
