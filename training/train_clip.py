"""Train the embedded CLIP on the cartoon faces and their captions, resumably.

    python -m training.train_clip --data data/avataaars --run runs/clip --steps 3000 --lr 5e-4 --minutes 60
    python -m training.train_clip --data data/avataaars --run runs/clip_twins --init runs/clip/state.pt \
        --pairs 32 --steps 2500 --lr 3e-4          # needs the twins: training.avatars --twins 20000
    python -m training.train_clip --data data/avataaars --run runs/clip_twins --export checkpoints/avataaars64/clip

open_clip's CLIP (editing/clip.py: EMBEDDED_MODEL_CFG) with open_clip's ClipLoss, AdamW (lr 1e-3
unless told, wd 0.1 on matrices), 5% warm-up and a cosine decay, batch 128. With --pairs, that
many items of each batch are pairs of a face and its twin (training/avatars.py: the face redrawn
with one attribute changed), captioned alike but for that attribute. Each step draws its images and
writes their captions (training/captions.py) from (seed, step) alone, so a resumed run takes the
very batches an uninterrupted one would. Images get a light random resized crop (scale 0.85 to 1).
The state (model, optimiser, step) is written atomically every --save-every steps, at --minutes,
and on SIGTERM. --export writes open_clip's Hub layout with a model card that reports the
zero-shot accuracy per attribute on held-out faces.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from companions.clip import ClipModel, build_embedded, load_clip, random_crops, save_embedded  # noqa: E402
from metrics.coverage import NAMED  # noqa: E402
from training.avatars import ATTRIBUTES, attribute_classes, load_split, pose_words  # noqa: E402
from training.captions import caption, class_prompts, held_out_wordings, lacks, trained_wordings  # noqa: E402

ZERO_SHOT_ATTRIBUTES = ["skin_color", "hair_color", "top_type", "hat_color", "accessories_type", "facial_hair_type",
                        "facial_hair_color", "mouth_type", "eye_type", "eyebrow_type", "clothe_type", "clothe_color"]


def batch(images: np.ndarray, labels: dict, seed: int, step: int, size: int, twins=None, pairs: int = 0):
    """Images [size, 3, 64, 64] and their captions for one step, from (seed, step) alone. With
    twins (images, labels from load_split(..., "twins")), `pairs` of the items are a training face
    and its twin side by side, captioned alike but for the attribute that differs: the contrastive
    loss can only tell them apart by it."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(images), size - 2 * pairs)
    texts = [caption({a: labels[a][i] for a in ATTRIBUTES}, rng) for i in idx]
    x = images[idx]
    if pairs:
        twin_images, twin_labels = twins
        t = rng.integers(0, len(twin_images), pairs)
        base = twin_labels["base"][t]
        for j, b in zip(t, base):
            changed = ATTRIBUTES[int(twin_labels["changed"][j])]
            state = int(rng.integers(1 << 62))
            texts.append(caption({a: labels[a][b] for a in ATTRIBUTES}, np.random.default_rng(state), must=changed))
            texts.append(caption({a: twin_labels[a][j] for a in ATTRIBUTES}, np.random.default_rng(state), must=changed))
        x = np.concatenate([x, np.stack([images[base], twin_images[t]], 1).reshape(-1, *images.shape[1:])])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
    x = random_crops(x, 0.85, torch.Generator().manual_seed(int(rng.integers(1 << 62))))
    return x, texts


def lr_at(step: int, steps: int, lr: float, warmup: float = 0.05) -> float:
    w = max(1, int(warmup * steps))
    if step < w:
        return lr * (step + 1) / w
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - w) / max(1, steps - w))))


@torch.no_grad()
def zero_shot(clip: ClipModel, images: np.ndarray, labels: dict, attributes=ZERO_SHOT_ATTRIBUTES, batch_size=500) -> dict:
    """Accuracy per attribute of picking, for each face, the class whose prompts (averaged over
    templates) are nearest its image embedding; faces where the attribute does not show are
    left out. Also the chance level (always the most frequent class)."""
    emb = torch.cat([clip.encode_images(torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1)
                     for i in range(0, len(images), batch_size)])
    out = {}
    for a in attributes:
        prompts = class_prompts(a)
        classes = attribute_classes(a)
        text = torch.stack([torch.nn.functional.normalize(
            torch.stack([clip.encode_prompt(p) for p in prompts[c]]).mean(0), dim=-1) for c in classes])
        y = torch.from_numpy(np.asarray(labels[a])).long()
        keep = y >= 0
        pred = (emb[keep] @ text.T).argmax(1)
        counts = torch.bincount(y[keep], minlength=len(classes))
        out[a] = {"accuracy": round(float((pred == y[keep]).float().mean()), 3), "classes": len(classes),
                  "chance": round(float(counts.max() / counts.sum()), 3), "faces": int(keep.sum())}
    return out


def auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """The chance that a positive scores above a negative (ties count half): Mann-Whitney's U / (n+ n-)."""
    s = scores.double()
    ranks = torch.empty_like(s)
    order = s.argsort()
    ranks[order] = torch.arange(1, len(s) + 1, dtype=torch.float64)
    values, counts = s.unique(return_counts=True)
    for value in values[counts > 1]:  # mean ranks of ties
        tie = s == value
        ranks[tie] = ranks[tie].mean()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def wording_zero_shot(clip: ClipModel, images: np.ndarray, labels: dict, batch_size=500) -> dict:
    """How well the CLIP takes each way of saying a named class (metrics.coverage.NAMED): for one
    wording, the AUC of its similarity to the image embeddings at telling the faces that have the
    class from those that lack it ("says"; for "denies" the other way round), over the faces where
    the attribute shows. 0.5 is chance. Per named class and side, the mean AUC of the wordings the
    captions use, of the held-out ones that reuse the captions' words, and of those with a word
    no caption uses (captions.held_out_wordings)."""
    emb = torch.cat([clip.encode_images(torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1)
                     for i in range(0, len(images), batch_size)])
    n = len(images)
    faces = [{a: int(labels[a][i]) for a in ATTRIBUTES} for i in range(n)]
    out, held_out = {}, held_out_wordings()
    for name, (attribute, classes) in NAMED.items():
        names = attribute_classes(attribute)
        has = torch.tensor([f[attribute] >= 0 and names[f[attribute]] in classes for f in faces])
        lack = torch.tensor([lacks(name, f) for f in faces])
        shown = has | lack  # faces where presence or absence can be told (e.g. hair shows)
        groups = {"training captions": trained_wordings(name)}
        held = held_out[name]
        for kind in ("new phrasing", "new word"):
            groups["held out, " + kind] = {side: held[side][kind] for side in ("says", "denies")}
        row = {"faces with": int(has.sum()), "faces without": int(lack.sum())}
        for group, sides in groups.items():
            for side, wordings in sides.items():
                if not wordings:
                    continue
                target = has if side == "says" else lack
                aucs = {w: auc(emb[shown] @ clip.encode_prompt(w), target[shown]) for w in wordings}
                row[f"{side}: {group}"] = {"mean AUC": round(float(np.mean(list(aucs.values()))), 3),
                                           "wordings": {w: round(v, 3) for w, v in aucs.items()}}
        out[name] = row
    return out


def wording_table(result: dict) -> str:
    """wording_zero_shot's means as a markdown table, a row per named class."""
    cols = [("says", "training captions"), ("says", "held out, new phrasing"), ("says", "held out, new word"),
            ("denies", "training captions"), ("denies", "held out, new phrasing"), ("denies", "held out, new word")]
    head = "| class | " + " | ".join(f"{side}: {g.replace('held out, ', 'held-out ')}" for side, g in cols) + " |"
    rows = [head, "|---" * (len(cols) + 1) + "|"]
    for name, row in result.items():
        cells = [f"{row[f'{side}: {g}']['mean AUC']:.3f}" if f"{side}: {g}" in row else "-" for side, g in cols]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def save_state(path, model, opt, step, seed):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seed": seed,
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def train(data, run, steps, batch_size=128, lr=1e-3, seed=0, minutes=None, save_every=200, threads=None, log_every=25,
          pairs=0, init=None):
    """pairs: face-and-twin pairs per batch (the data folder needs twins). init: a state file of
    an earlier run to start from (its weights only), e.g. to go on with twins."""
    if threads:
        torch.set_num_threads(threads)
    os.makedirs(run, exist_ok=True)
    state_path = os.path.join(run, "state.pt")
    images, labels = load_split(data, "train")
    twins = load_split(data, "twins") if pairs else None
    if twins is not None and int(twins[1]["base"].max()) >= len(images):
        raise SystemExit("the twins are of training faces this data folder does not have")
    with open(os.path.join(run, "args.json"), "w") as f:  # for the model card
        json.dump({"steps": steps, "batch": batch_size, "lr": lr, "seed": seed, "pairs": pairs, "init": init}, f)
    clip = build_embedded(seed)
    if init and not os.path.exists(state_path):
        clip.model.load_state_dict(torch.load(init, map_location="cpu", weights_only=True)["model"])
        print(f"starting from the weights of {init}", flush=True)
    model = clip.model.train().requires_grad_(True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    step = 0
    if os.path.exists(state_path):
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        torch.set_rng_state(st["rng"])
        print(f"resumed at step {step}", flush=True)
    import open_clip
    loss_fn = open_clip.ClipLoss()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    t0 = time.time()
    log = open(os.path.join(run, "log.jsonl"), "a")
    while step < steps and not stop["now"]:
        if minutes is not None and time.time() - t0 > minutes * 60:
            break
        x, texts = batch(images, labels, seed, step, batch_size, twins, pairs)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        image_features, text_features, logit_scale = model(x, clip.tokenizer(texts))[:3]
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        if step % log_every == 0:
            rec = {"step": step, "loss": round(float(loss), 4), "logit_scale": round(float(logit_scale), 2),
                   "lr": opt.param_groups[0]["lr"], "elapsed_s": round(time.time() - t0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if step % save_every == 0:
            save_state(state_path, model, opt, step, seed)
    save_state(state_path, model, opt, step, seed)
    print(f"stopped at step {step} of {steps}", flush=True)
    return step


CARD = """---
library_name: open_clip
tags:
- clip
- stylegan-studio
license: mit
---

# Embedded CLIP for avataaars-64

A small CLIP (open_clip's `CLIP`: a ViT on 8x8 patches of 64 px images, a 4-layer text
transformer, 128-d embeddings, open_clip's own tokenizer) trained by StyleGAN Studio's
`training/train_clip.py` with open_clip's `ClipLoss` on {images:,} rendered cartoon faces{drawn} and
captions written from their labels ({stages}; {minutes:.0f} minutes on a 2-core CPU).
It exists so that text edits of the embedded StyleGAN2 (`checkpoints/avataaars64`) work
with no download; it knows cartoon faces and nothing else. Weights in fp16.

```python
import open_clip
model, _, preprocess = open_clip.create_model_and_transforms("local-dir:checkpoints/avataaars64/clip")
tokenizer = open_clip.get_tokenizer("local-dir:checkpoints/avataaars64/clip")
```

## Zero-shot accuracy

On {heldout:,} held-out faces (never trained on), from text prompts only: for each face, the class
whose phrases (averaged over the templates "a cartoon face ...", "an avatar ...") are nearest.
Chance is always answering the most frequent class.

| attribute | classes | accuracy | chance |
|---|---|---|---|
{rows}

## In other words

How the model takes the ways people say six classes, on the same faces: for one wording, the
AUC of its similarity to the images at telling the faces that have the class from those that
lack it ("says"; "denies": the other way round); 0.5 is chance. The mean over the wordings the
captions use, over held-out wordings that no caption uses but whose words captions do use (a new
phrasing), and over held-out wordings with a word no caption uses (`training/captions.py`,
HELD_OUT).

{wordings}
"""


def _stages(run):
    """How a run was trained, following --init back to earlier runs: ("3,000 steps of 128, then
    ...", minutes in all, from the runs' logs)."""
    parts, minutes = [], 0.0
    while run:
        st = torch.load(os.path.join(run, "state.pt"), map_location="cpu", weights_only=True)
        args = {}
        if os.path.exists(os.path.join(run, "args.json")):
            args = json.load(open(os.path.join(run, "args.json")))
        pairs = args.get("pairs", 0)
        parts.append(f"{st['step']:,} steps of {args.get('batch', 128)} at lr {args.get('lr', 1e-3):g}" +
                     (f", {pairs} face-and-twin pairs in each (faces redrawn with one attribute changed, "
                      "captioned alike but for it)" if pairs else ""))
        log = [json.loads(line) for line in open(os.path.join(run, "log.jsonl"))]
        minutes += sum(b["elapsed_s"] - a["elapsed_s"] for a, b in zip(log, log[1:]) if b["elapsed_s"] > a["elapsed_s"]) / 60
        init = args.get("init")
        run = os.path.dirname(init) if init else None
    return ", then ".join(reversed(parts)), minutes


def drawn_as(data) -> str:
    """How a data folder's faces were drawn, for the card: "" for upright faces, else how they
    were posed and whether their parts move (training/avatars.py: --jitter, --parts)."""
    meta = json.load(open(os.path.join(data, "dataset.json")))
    out = ""
    if "pose" in meta:
        out += f" (posed: {pose_words(meta)}"
        out += ", the eyes, eyebrows and mouth moved by draws of their own)" if "parts" in meta else ")"
    return out


def export(run, out, data, heldout=2000):
    clip = build_embedded()
    st = torch.load(os.path.join(run, "state.pt"), map_location="cpu", weights_only=True)
    clip.model.load_state_dict(st["model"])
    save_embedded(clip, out)  # fp16 weights; the card is written after measuring what was saved
    clip = load_clip(out)
    images, labels = load_split(data, "heldout")
    acc = zero_shot(clip, images[:heldout], {a: v[:heldout] for a, v in labels.items()})
    rows = "\n".join(f"| {a} | {r['classes']} | {r['accuracy']:.3f} | {r['chance']:.3f} |" for a, r in acc.items())
    wordings = wording_zero_shot(clip, images[:heldout], {a: v[:heldout] for a, v in labels.items()})
    stages, minutes = _stages(run)
    train_images = len(load_split(data, "train")[0])
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(CARD.format(images=train_images, drawn=drawn_as(data), stages=stages, minutes=minutes, heldout=heldout, rows=rows,
                            wordings=wording_table(wordings)))
    with open(os.path.join(out, "zero_shot.json"), "w") as f:
        json.dump({"heldout_faces": heldout, "steps": st["step"], "attributes": acc, "wordings": wordings}, f, indent=2)
    print(json.dumps(acc, indent=1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/avataaars")
    p.add_argument("--run", default="runs/clip")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--pairs", type=int, default=0, help="face-and-twin pairs per batch (build the twins first)")
    p.add_argument("--init", default=None, help="start from the weights in this state file (an earlier run's)")
    p.add_argument("--export", default=None, help="write the trained model here (open_clip's Hub layout) and stop")
    p.add_argument("--wordings", default=None, metavar="CLIP_FOLDER",
                   help="measure a CLIP (open_clip folder) on the held-out wordings of --data's held-out faces and stop")
    p.add_argument("--faces", type=int, default=2000, help="held-out faces for --wordings")
    p.add_argument("--json", default=None, help="also write --wordings' result here")
    a = p.parse_args(argv)
    if a.wordings:
        images, labels = load_split(a.data, "heldout")
        result = wording_zero_shot(load_clip(a.wordings), images[:a.faces], {k: v[:a.faces] for k, v in labels.items()})
        print(json.dumps(result, indent=1))
        print(wording_table(result))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"clip": a.wordings, "data": a.data, "heldout_faces": a.faces, "wordings": result}, f, indent=1)
    elif a.export:
        export(a.run, a.export, a.data)
    else:
        train(a.data, a.run, a.steps, a.batch, a.lr, a.seed, a.minutes, threads=a.threads, pairs=a.pairs, init=a.init)


if __name__ == "__main__":
    main()
