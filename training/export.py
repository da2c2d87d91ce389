"""Turn a training run into the shipped model folder: the EMA generator as config.json +
safetensors, the attribute classifier beside it, a psi=0.7 sample grid, the numbers, and a
model card written from them.

    python -m training.export --run runs/avataaars64 --classifier runs/classifier \
        --metrics runs/metrics.json --out checkpoints/avataaars64

Re-running it after more training refreshes everything in the folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
from pathlib import Path

import numpy as np
import torch

from .avatars import pose_words
from .train import TrainConfig, Trainer


def sample_grid(G, path: Path, n: int = 64, psi: float = 0.7, seed: int = 0, scale: int = 2) -> None:
    """n samples of seeds seed..seed+n-1 (z as NVIDIA's gen_images.py draws them) in a square grid."""
    from PIL import Image

    from editing.generate import generate_images
    images = generate_images(G, list(range(seed, seed + n)), truncation_psi=psi, noise_mode="const")
    side = int(np.ceil(np.sqrt(n)))
    w, h = images[0].size
    grid = Image.new("RGB", (side * w, side * h), "white")
    for i, im in enumerate(images):
        grid.paste(im, ((i % side) * w, (i // side) * h))
    grid.resize((side * w * scale, side * h * scale), Image.Resampling.NEAREST).save(path)


def _fmt(x, digits=3):
    return f"{x:.{digits}f}"


def _data_lines(data: dict, cfg: dict) -> list[str]:
    """What the training data did beyond the plain renders: poses, moving parts, re-weighting."""
    lines = []
    if "pose" in data:
        lines.append(f"Every face is posed: {pose_words(data)}.")
    if "parts" in data:
        lines.append("Within the face, the " + ", ".join(
            f"{part} move by up to +-{x:g} x +-{y:g} px" for part, (x, y) in data["parts"].items()) + ".")
    if cfg.get("balance"):
        lines.append(f"Training draws the faces re-weighted towards rare attribute classes (balance {cfg['balance']:g}, "
                     "`training/train.py: class_weights`).")
    if cfg.get("boost"):
        lines.append(f"On top of that, the last part of the run draws these classes more often: {cfg['boost']} "
                     "(`training/train.py: boosted`; the run's log.jsonl says from which kimg).")
    return lines


def model_card(out: Path, training: dict, metrics: dict | None, accuracy: dict | None,
               coverage: dict | None = None, notes: str | None = None, coverage_faces: int = 2000) -> str:
    """The model card. coverage: metrics.coverage's table of this generator; notes: markdown of
    the run's history and what the sample grid shows (written by hand), put after the training."""
    cfg = training["config"]
    lines = [
        "---",
        "license: mit",
        "library_name: diffusers",
        "pipeline_tag: unconditional-image-generation",
        "tags: [stylegan2, gan, unconditional-image-generation, cartoon-faces, stylegan-studio]",
        "---",
        "",
        "# avataaars-64: a small StyleGAN2 of cartoon faces",
        "",
        "The default model of StyleGAN Studio: shipped inside the project so that the Space and",
        "`stylegan.load()` work with no network. A StyleGAN2 generator (config-f layout, skip",
        "generator, residual discriminator) trained from scratch on 64x64 cartoon faces.",
        "",
        *([f"**Still training:** these weights have seen {training['kimg'] * 1000:,.0f} images of the 500,000 planned; "
           "eyes and mouths are not formed yet.", ""] if training["kimg"] < 500 else []),
        "![64 samples, psi=0.7](samples_psi0.7.png)",
        "",
        "*Seeds 0-63, truncation psi = 0.7, constant noise.*",
        "",
        "## Data, licence and credit",
        "",
        f"{training['train_images']:,} faces rendered offline by `training/avatars.py` (the held-out split of "
        f"{training['heldout_images']:,} was never used for training): artwork **Avataaars by Pablo Stanley**",
        "(https://avataaars.com, free for personal and commercial use), templates from the MIT-licensed",
        "`py-avataaars` package, rasterised with CairoSVG. Attributes (skin, hair and hair colour, hats,",
        "glasses, facial hair, mouth, eyes, eyebrows, clothes) are drawn at hand-set, natural frequencies.",
        *_data_lines(training.get("data", {}), cfg),
        "The weights are released under the MIT licence.",
        "",
        "## Network and training",
        "",
        f"- Generator: {training['g_params']:,} parameters (z = w = {cfg['z_dim']}, {cfg['mapping_layers']} mapping layers, "
        f"channels min({cfg['channel_base']} / resolution, {cfg['channel_max']})); discriminator {training['d_params']:,}.",
        f"- Images shown to the discriminator: **{training['kimg'] * 1000:,.0f}** ({training['kimg']:.0f} kimg), batch {cfg['batch']}.",
        f"- Loss: non-saturating logistic, lazy R1 (gamma = {cfg['r1_gamma']}, every {cfg['r1_interval']} steps), "
        f"style mixing p = {cfg['style_mixing_prob']}, G EMA half-life {cfg['ema_kimg']} kimg, Adam lr {cfg['g_lr']} betas (0, 0.99)"
        + (", convolutions in bfloat16 (autocast)" if cfg.get("bf16") else "") + ".",
        f"- Training time: {training['hours']:.2f} h of training steps on {training['hardware']}.",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    lines += ["## Quality", ""]
    if metrics:
        rr = metrics["real_vs_real"]
        lines += [
            "Inception weights cannot be had offline, so quality is measured in the domain, with the attribute",
            (f"classifier `{metrics['classifier']}` (kept fixed over the run so that its curve compares): the Frechet distance "
             "between its penultimate features" if metrics.get("classifier") else
             "classifier shipped in `classifier/`: the Frechet distance between its penultimate features"),
            f"(`metrics/frechet.py`) on {metrics['num_images']:,} real and {metrics['num_images']:,} generated images",
            "(psi = 1 unless stated), and per attribute the total-variation distance between the label",
            "distributions it predicts on real and on generated images. Lower is better for both.",
            "",
            "| | Frechet distance | mean TV |",
            "|---|---|---|",
            f"| real vs real (two disjoint sets: the floor) | {_fmt(rr['fd'])} | {_fmt(rr['tv_mean'])} |",
        ]
        if "generator" in metrics:
            g = metrics["generator"]
            g7 = metrics["generator_psi0.7"]
            lines += [f"| this model, psi = 1 | {_fmt(g['fd'])} | {_fmt(g['tv_mean'])} |",
                      f"| this model, psi = 0.7 | {_fmt(g7['fd'])} | {_fmt(g7['tv_mean'])} |", "",
                      "| attribute | TV, psi = 1 |", "|---|---|"]
            lines += [f"| {a} | {_fmt(v)} |" for a, v in g["tv"].items()]
        if metrics.get("curve"):
            n = metrics["curve"][-1].get("num_images")
            each = f", {n:,} images each" if n else ""
            lines += ["", f"Over training (EMA generator, psi = 1{each}):", "",
                      "| kimg | Frechet distance | mean TV |", "|---|---|---|"]
            lines += [f"| {c['kimg']} | {_fmt(c['fd'])} | {_fmt(c['tv_mean'])} |" for c in metrics["curve"]]
        lines.append("")
    if coverage:
        lines += ["### The rare modes", "",
                  f"Per named class, the share of {coverage_faces:,} generated faces (psi = 1) that the classifier reads as",
                  "that class (p > 0.5), against its share of the training labels and the classifier's reading of",
                  "as many real faces (`metrics/coverage.py`). The bar: at least half the data's share.", "",
                  "| class | training data | real faces read | generated | ratio |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {row['training data']:.1%} | "
                  + (f"{row['real faces read']:.1%}" if row.get("real faces read") is not None else "-")
                  + f" | {row['generated']:.1%} | {row['ratio']:.2f} |" for name, row in coverage.items()]
        lines.append("")
    if accuracy:
        lines += ["## The attribute classifier (`classifier/`)", "",
                  "A 4-stage CNN (`companions/classifier.py`, trained by `training/train_classifier.py`), "
                  f"{accuracy['epochs']} epochs on the first {accuracy['train_images']:,} training",
                  f"images ({accuracy['train_seconds'] / 60:.0f} min on the same CPU). Accuracy on the "
                  f"{accuracy['heldout_images']:,} held-out faces per attribute",
                  "(each head also has a class \"none\" for attributes that do not show):", "",
                  "| attribute | held-out accuracy |", "|---|---|"]
        lines += [f"| {a} | {v:.3f} |" for a, v in accuracy["heldout_accuracy"].items()]
        lines.append("")
    lines += ["## Use", "", "```python", "import stylegan", "G = stylegan.load()  # or stylegan.load(\"avataaars-64\")",
              "img = G(z, None, truncation_psi=0.7, noise_mode=\"const\")  # [N, 3, 64, 64] in [-1, 1]", "```", ""]
    return "\n".join(lines)


def export(run: Path, out: Path, classifier: Path | None, metrics: Path | None, data_info: dict,
           coverage: Path | None = None, notes: Path | None = None) -> None:
    state = torch.load(run / "state.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig.saved(state)
    # Only the networks are wanted: no data, so none of the sampling that needs its labels.
    trainer = Trainer(dataclasses.replace(cfg, balance=0.0, boost=""),
                      images=np.zeros((1, data_info["resolution"], data_info["resolution"], 3), np.uint8))
    trainer.load_state_dict(state)
    G = trainer.G_ema.eval().requires_grad_(False)
    out.mkdir(parents=True, exist_ok=True)
    G.save_pretrained(out)
    sample_grid(G, out / "samples_psi0.7.png")
    training = {"config": state["config"], "kimg": trainer.nimg / 1000, "hours": trainer.seconds / 3600,
                "hardware": data_info.get("hardware") or f"{platform.processor() or platform.machine()} CPU, 2 cores (no GPU)",
                "g_params": sum(p.numel() for p in trainer.G.parameters()),
                "d_params": sum(p.numel() for p in trainer.D.parameters()),
                "train_images": data_info["n_train"], "heldout_images": data_info["n_heldout"],
                "data": {k: data_info[k] for k in ("pose", "parts") if k in data_info}}
    (out / "training.json").write_text(json.dumps(training, indent=1))
    accuracy = None
    if classifier is not None:
        shutil.copytree(classifier, out / "classifier", dirs_exist_ok=True)
        acc_path = out / "classifier" / "accuracy.json"
        accuracy = json.loads(acc_path.read_text()) if acc_path.exists() else None
    numbers = None
    if metrics is not None:
        shutil.copy(metrics, out / "metrics.json")
        numbers = json.loads(metrics.read_text())
    table, faces = None, 2000
    if coverage is not None:  # metrics.coverage --out: {generator: table}; this run's is the last
        report = json.loads(coverage.read_text())
        table = list(report.values())[-1]
        faces = next(iter(table.values())).get("faces", faces)
        shutil.copy(coverage, out / "coverage.json")
    (out / "README.md").write_text(model_card(out, training, numbers, accuracy, table,
                                              notes.read_text() if notes else None, faces))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default="data/avataaars", help="the dataset folder (for its dataset.json)")
    p.add_argument("--classifier")
    p.add_argument("--metrics")
    p.add_argument("--hardware", help="what it was trained on, for the model card")
    p.add_argument("--coverage", help="metrics.coverage --out of this generator: the rare-mode table")
    p.add_argument("--notes", help="a markdown file for the card: the run's history and what the grid shows")
    a = p.parse_args(argv)
    info = json.loads(Path(a.data, "dataset.json").read_text())
    info["hardware"] = a.hardware
    export(Path(a.run), Path(a.out), Path(a.classifier) if a.classifier else None,
           Path(a.metrics) if a.metrics else None, info,
           Path(a.coverage) if a.coverage else None, Path(a.notes) if a.notes else None)


if __name__ == "__main__":
    main()
