"""Model cards of the companions shipped beside the embedded model (checkpoints/avataaars64/):
the attribute classifier and the encoder. Each opens with the Hub's YAML metadata (licence,
library, tags, pipeline) and says what the network is, what it was trained on, what it scores
and how it was made, from the records its training wrote beside it (accuracy.json,
training.json). The generator's card is training/export.py's, the CLIP's training/train_clip.py's.

    python -m training.cards checkpoints/avataaars64     # (re)write both cards from their records
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CREDIT = ("Trained on faces rendered offline by `training/avatars.py`: artwork **Avataaars by Pablo Stanley** "
          "(https://avataaars.com, free for personal and commercial use), templates from the MIT-licensed "
          "`py-avataaars` package. The held-out split was never trained on. Weights under the MIT licence.")


def front_matter(**fields) -> str:
    """The YAML block the Hub reads at the top of a README (lists in flow style)."""
    lines = ["---"]
    for key, value in fields.items():
        if isinstance(value, (list, tuple)):
            value = "[" + ", ".join(value) + "]"
        lines.append(f"{key}: {value}")
    return "\n".join(lines + ["---", ""])


def classifier_card(folder) -> str:
    report = json.loads(Path(folder, "accuracy.json").read_text())
    rows = "\n".join(f"| {a} | {acc:.3f} |" for a, acc in report["heldout_accuracy"].items())
    data = f" (`{report['data']}`)" if "data" in report else ""
    init = f", fine-tuned from the classifier in `{report['init']}`" if "init" in report else ""
    return front_matter(license="mit", library_name="diffusers", pipeline_tag="image-classification",
                        tags=["stylegan-studio", "attribute-classifier", "cartoon-faces", "avataaars"]) + f"""
# Attribute classifier for avataaars-64

A small convolutional network (`companions.classifier.AttributeClassifier`) that reads the
attributes of a 64x64 Avataaars face: skin, hair style and colour, hat colour, glasses, facial
hair and its colour, mouth, eyes, eyebrows, clothes and their colour. StyleGAN Studio uses it for
the Directions tab's attribute boundaries (InterFaceGAN-style), for text edits that keep what the
prompt does not name, as the perceptual features of projections offline, and to measure the
embedded generator (coverage of rare classes, `metrics/`).

It belongs to the generator in the folder above (`../`), whose `companions.json` declares it.
`words.json` holds the captions' words for each class.

## Accuracy on {report['heldout_images']:,} held-out faces

| attribute | accuracy |
|---|---|
{rows}

## Training

{report['train_images']:,} training faces{data}, {report['epochs']} epochs, {report['train_seconds'] / 60:.1f} minutes on
2 CPU cores (`python -m training.train_classifier --out <folder>`){init}.

{CREDIT}
"""


def encoder_card(folder) -> str:
    info = json.loads(Path(folder, "training.json").read_text())
    return front_matter(license="mit", library_name="diffusers", pipeline_tag="image-feature-extraction",
                        tags=["stylegan-studio", "gan-inversion", "encoder", "stylegan2", "cartoon-faces"]) + f"""
# Encoder for {info['model']}

An image-to-W+ encoder (`companions.encoder.Encoder`, {info['parameters']:,} parameters, stored in fp16)
for the generator in the folder above (`../`), whose `companions.json` declares it. It gives the
Project tab's *encoder* recipe (one pass) and the start of its *hybrid* and *pti* recipes, as e4e
and pSp do for FFHQ models.

## Training

{info['steps']:,} steps of batch {info['batch']}, Adam lr {info['lr']}, on the generator's own images from
known latents (truncation 0.4 to 1, style mixing; the latent's error, and the image's: pixel MSE and
{info['perceptual']}){', half of each batch rendered training faces (the image loss alone)'
if info.get('real_images') else ''}; {info['last_session_seconds'] / 60:.0f} minutes in its last session on
{info['threads']} CPU threads (`python -m training.train_encoder --out <folder>`). How well it
reconstructs held-out faces, alone and as a start for optimisation: the README's projection table
(`benchmarks/bench_projection.py`).

{CREDIT}
"""


def write_cards(model_folder) -> list[Path]:
    """README.md for the classifier and the encoder beside a generator, where their records are."""
    written = []
    for sub, card in (("classifier", classifier_card), ("encoder", encoder_card)):
        folder = Path(model_folder, sub)
        if folder.is_dir():
            (folder / "README.md").write_text(card(folder))
            written.append(folder / "README.md")
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_folder")
    for path in write_cards(p.parse_args(argv).model_folder):
        print(path)


if __name__ == "__main__":
    main()
