"""An attribute classifier for the cartoon faces: a small CNN with one head per attribute.

It serves three purposes: its held-out accuracy says how well the attributes can be read off
a 64x64 image; its penultimate features (after global pooling) give an in-domain Frechet
distance, where Inception weights cannot be had; and later, its predictions on generated
images give attribute directions in W.

Each head has one class per attribute value plus a last class "none" for faces where the
attribute does not show (hair colour under a hat, beard colour without a beard).

    python -m metrics.classifier --data data/avataaars --out checkpoints/avataaars64/classifier
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ops.images import from_uint8


class AttributeClassifier(ModelMixin, ConfigMixin):
    """image [N, 3, 64, 64] in [-1, 1] -> {attribute: logits [N, classes + 1]}; features [N, width*8]."""

    config_name = "config.json"

    @register_to_config
    def __init__(self,
        attributes: dict,           # {attribute: [class names]} ("none" is added as the last class).
        width: int = 16,            # Channels of the first stage; each of the 4 stages doubles them.
        resolution: int = 64,       # Input resolution.
    ):
        super().__init__()
        self.attributes = {a: list(c) for a, c in attributes.items()}
        layers, c_in = [], 3
        for i in range(4):  # 64 -> 32 -> 16 -> 8 -> 4
            c = width * 2 ** i
            layers += [torch.nn.Conv2d(c_in, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(inplace=True),
                       torch.nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(inplace=True)]
            c_in = c
        self.trunk = torch.nn.Sequential(*layers)
        self.feature_dim = c_in
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(c_in, len(c) + 1) for a, c in self.attributes.items()})

    def features(self, img):
        """Penultimate features: the trunk's output, averaged over positions. [N, feature_dim]"""
        return self.trunk(img).mean(dim=[2, 3])

    def forward(self, img):
        f = self.features(img)
        return {a: head(f) for a, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, images, batch_size=500):
        """uint8 (N, H, W, 3) or float [N, 3, H, W] in [-1, 1] -> (features [N, D],
        {attribute: predicted class [N]}, with len(classes) meaning "none")."""
        self.eval()
        feats, preds = [], {a: [] for a in self.attributes}
        for i in range(0, len(images), batch_size):
            x = _as_input(images[i:i + batch_size])
            f = self.features(x)
            feats.append(f)
            for a, head in self.heads.items():
                preds[a].append(head(f).argmax(dim=1))
        return torch.cat(feats).numpy().astype(np.float64), {a: torch.cat(p).numpy() for a, p in preds.items()}


def _as_input(images):
    return from_uint8(images) if isinstance(images, np.ndarray) else images.float()


def with_none(labels: dict[str, np.ndarray], attributes: dict) -> dict[str, np.ndarray]:
    """Labels with -1 ("does not show") moved to the extra last class."""
    return {a: np.where(labels[a] < 0, len(attributes[a]), labels[a]) for a in attributes}


def train_classifier(images, labels, attributes, epochs=3, batch_size=128, lr=2e-3, seed=0, progress=True):
    """Fit an AttributeClassifier on uint8 images and {attribute: labels (-1 = none)}."""
    from tqdm import tqdm
    torch.manual_seed(seed)
    model = AttributeClassifier(attributes).train().to(memory_format=torch.channels_last)
    targets = {a: torch.from_numpy(v) for a, v in with_none(labels, attributes).items()}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    rng = np.random.default_rng(seed)
    bar = tqdm(total=steps, disable=not progress, unit="step")
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for i in range(len(images) // batch_size):
            idx = np.sort(order[i * batch_size:(i + 1) * batch_size])
            x = _as_input(images[idx]).contiguous(memory_format=torch.channels_last)  # faster convolutions on the CPU
            out = model(x)
            loss = sum(F.cross_entropy(out[a], targets[a][idx]) for a in attributes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    bar.close()
    return model.eval()


def accuracy(model, images, labels) -> dict[str, float]:
    """Held-out accuracy per attribute (the "none" class counts as a class)."""
    _, preds = model.predict(images)
    truth = with_none(labels, model.attributes)
    return {a: float((preds[a] == truth[a]).mean()) for a in model.attributes}


def load(path) -> AttributeClassifier:
    return AttributeClassifier.from_pretrained(str(path), low_cpu_mem_usage=False).eval().requires_grad_(False)


def main(argv=None):
    from training.avatars import ATTRIBUTES, attribute_classes, load_split
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--images", type=int, default=20_000, help="train on the first this many training images")
    a = p.parse_args(argv)
    attributes = {k: attribute_classes(k) for k in ATTRIBUTES if k != "clothe_graphic_type"}
    images, labels = load_split(a.data, "train")
    images, labels = images[:a.images], {k: v[:a.images] for k, v in labels.items()}
    t0 = time.time()
    model = train_classifier(images, labels, attributes, epochs=a.epochs)
    seconds = time.time() - t0
    held_images, held_labels = load_split(a.data, "heldout")
    acc = accuracy(model, held_images, held_labels)
    model.save_pretrained(a.out)
    report = {"heldout_accuracy": acc, "train_images": len(images), "heldout_images": len(held_images),
              "epochs": a.epochs, "train_seconds": round(seconds, 1)}
    Path(a.out, "accuracy.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
