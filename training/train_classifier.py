"""Train the attribute classifier of the cartoon faces (companions/classifier.py) and write it,
with its vocabulary (words.json, from training/captions.py), where the app finds it.

    python -m training.train_classifier --data data/avataaars --out checkpoints/avataaars64/classifier
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from companions.classifier import WORDS_NAME, AttributeClassifier, _as_input, load, with_none


def class_weights(targets: np.ndarray, classes: int, power: float = 0.5) -> torch.Tensor:
    """Cross-entropy weights for one head: class c weighs share(c) ** -power, scaled so the
    mean weight over the training faces is 1 (power 0: plain; 1: every class counts alike).
    A class the data lack gets weight 0."""
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    share = counts / counts.sum()
    w = np.where(counts > 0, np.maximum(share, 1e-12) ** -power, 0.0)
    w /= (w * share).sum()
    return torch.tensor(w, dtype=torch.float32)


def train_classifier(images, labels, attributes, epochs=3, batch_size=128, lr=2e-3, seed=0, progress=True,
                     init=None, reweight=(), power=0.5):
    """Fit an AttributeClassifier on uint8 images and {attribute: labels (-1 = none)}; `init`: a
    classifier (same attributes) whose weights it starts from, to fine-tune on other data;
    `reweight`: attributes whose rare classes weigh more in the loss (class_weights, `power`)."""
    from tqdm import tqdm
    torch.manual_seed(seed)
    model = AttributeClassifier(attributes)
    if init is not None:
        if init.attributes != model.attributes:
            raise ValueError("the classifier to start from reads other attributes")
        model.load_state_dict(init.state_dict())
    model = model.train().to(memory_format=torch.channels_last)
    targets = {a: torch.from_numpy(v) for a, v in with_none(labels, attributes).items()}
    unknown = set(reweight) - set(attributes)
    if unknown:
        raise ValueError(f"no such attribute to re-weight: {sorted(unknown)}")
    weights = {a: class_weights(targets[a].numpy(), len(attributes[a]) + 1, power) if a in reweight else None
               for a in attributes}
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
            loss = sum(F.cross_entropy(out[a], targets[a][idx], weight=weights[a]) for a in attributes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    bar.close()
    return model.eval()


def accuracy(model, images, labels, preds=None) -> dict[str, float]:
    """Held-out accuracy per attribute (the "none" class counts as a class); `preds`: the
    model's predictions of `images` where already made."""
    preds = model.predict(images)[1] if preds is None else preds
    truth = with_none(labels, model.attributes)
    return {a: float((preds[a] == truth[a]).mean()) for a in model.attributes}


def recall(model, images, labels, attributes, preds=None) -> dict[str, dict[str, float]]:
    """Held-out recall of every class of the given attributes, and the share of faces predicted
    as it beside its share in the labels: {attribute: {class: {"recall", "read", "labelled"}}}."""
    preds = model.predict(images)[1] if preds is None else preds
    truth = with_none(labels, model.attributes)
    out = {}
    for a in attributes:
        names = model.attributes[a] + ["none"]
        out[a] = {}
        for c, name in enumerate(names):
            here = truth[a] == c
            if here.any():
                out[a][name] = {"recall": round(float((preds[a][here] == c).mean()), 4),
                                "read": round(float((preds[a] == c).mean()), 4),
                                "labelled": round(float(here.mean()), 4)}
    return out


def write_vocabulary(folder) -> None:
    """words.json beside a classifier: the captions' words for each attribute."""
    from .captions import vocabulary
    Path(folder, WORDS_NAME).write_text(json.dumps(vocabulary(), indent=1, sort_keys=True))


def main(argv=None):
    from training.avatars import ATTRIBUTES, attribute_classes, load_split
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--images", type=int, default=20_000, help="train on the first this many training images")
    p.add_argument("--lr", type=float, default=2e-3, help="the one-cycle schedule's peak learning rate")
    p.add_argument("--init", help="a classifier folder to start from (fine-tuning), not random weights")
    p.add_argument("--reweight", nargs="*", default=[], metavar="ATTRIBUTE",
                   help="attributes whose rare classes weigh more in the loss (e.g. eye_type)")
    p.add_argument("--power", type=float, default=0.5, help="class weight = share ** -power (with --reweight)")
    a = p.parse_args(argv)
    attributes = {k: attribute_classes(k) for k in ATTRIBUTES if k != "clothe_graphic_type"}
    images, labels = load_split(a.data, "train")
    images, labels = images[:a.images], {k: v[:a.images] for k, v in labels.items()}
    t0 = time.time()
    init = load(a.init) if a.init else None
    model = train_classifier(images, labels, attributes, epochs=a.epochs, lr=a.lr, init=init,
                             reweight=a.reweight, power=a.power)
    seconds = time.time() - t0
    held_images, held_labels = load_split(a.data, "heldout")
    _, held_preds = model.predict(held_images)
    acc = accuracy(model, held_images, held_labels, held_preds)
    model.save_pretrained(a.out)
    write_vocabulary(a.out)
    report = {"heldout_accuracy": acc, "train_images": len(images), "heldout_images": len(held_images),
              "epochs": a.epochs, "lr": a.lr, "train_seconds": round(seconds, 1), "data": Path(a.data).name}
    if a.init:
        report["init"] = Path(a.init).as_posix()
    if a.reweight:
        report["reweight"], report["power"] = a.reweight, a.power
        report["heldout_recall"] = recall(model, held_images, held_labels, a.reweight, held_preds)
    Path(a.out, "accuracy.json").write_text(json.dumps(report, indent=1))
    from .cards import classifier_card
    Path(a.out, "README.md").write_text(classifier_card(a.out))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
