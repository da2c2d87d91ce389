"""The embedded default model: loads with no network, gives varied faces whose attribute
frequencies match the data's, and ships its classifier and model card."""
import json
import os

import numpy as np
import pytest
import torch
from conftest import ROOT

import stylegan
from stylegan.registry import default_entry

MODEL = os.path.join(ROOT, "checkpoints", "avataaars64")


@pytest.fixture(scope="module")
def G():
    return stylegan.load(device="cpu")


@pytest.fixture(scope="module")
def classifier():
    from companions.classifier import load
    return load(os.path.join(MODEL, "classifier"))


def test_default_is_the_shipped_model_and_needs_no_network(G, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = default_entry()
    assert entry.name == "avataaars-64" and entry.path == MODEL and entry.format == "hub-native"
    assert type(G).__name__ == "StyleGAN2Generator" and G.img_resolution == 64
    stylegan.clear_cache()
    assert type(stylegan.load("avataaars-64", device="cpu")) is type(G)


def test_images_are_varied_and_not_degenerate(G):
    from editing.generate import generate_images
    images = np.stack([np.asarray(im, np.float64) for im in generate_images(G, list(range(16)), truncation_psi=0.7, noise_mode="const")])
    assert images.shape == (16, 64, 64, 3)
    assert (images.reshape(16, -1).std(axis=1) > 25).all()  # each image has structure, not a flat colour
    diffs = [np.abs(images[i] - images[j]).mean() for i in range(16) for j in range(i + 1, 16)]
    assert min(diffs) > 5  # no two seeds give the same face (no mode collapse)
    corners = images[:, :3, :3].reshape(-1, 3).mean(axis=0)
    assert np.abs(corners - [0xDC, 0xE6, 0xF0]).max() < 20  # the dataset's flat background


def test_attribute_frequencies_of_samples_follow_the_data(G, classifier):
    from metrics.frechet import generate
    from training.avatars import attribute_probabilities
    fake = generate(G, 300, seed=5)
    _, pred = classifier.predict(fake)
    # On 10,000 samples (metrics.json) these TVs are 0.05, 0.15, 0.19 and 0.23
    for attr in ("skin_color", "hair_color", "mouth_type", "eye_type"):
        p = attribute_probabilities(attr)
        q = np.bincount(pred[attr], minlength=len(p) + 1)[: len(p)] / len(fake)
        assert 0.5 * np.abs(p - q).sum() < 0.3, (attr, p.round(2), q.round(2), 0.5 * np.abs(p - q).sum())
    noise = np.random.default_rng(0).integers(0, 256, (300, 64, 64, 3), dtype=np.uint8)
    _, pred_noise = classifier.predict(noise)
    p = attribute_probabilities("skin_color")
    q = np.bincount(pred_noise["skin_color"], minlength=len(p) + 1)[: len(p)] / 300
    assert 0.5 * np.abs(p - q).sum() > 0.3  # the check can fail


def test_shipped_classifier_reads_fresh_faces(classifier):
    pytest.importorskip("cairosvg")
    from companions.classifier import with_none
    from training.avatars import make_face
    faces = [make_face(12345, i) for i in range(60)]  # a seed the dataset never used
    images = np.stack([f[0] for f in faces])
    labels = with_none({a: np.array([f[1][a] for f in faces]) for a in classifier.attributes}, classifier.attributes)
    _, pred = classifier.predict(images)
    for attr in ("skin_color", "top_type", "hair_color", "accessories_type"):  # >= 0.94 held out (accuracy.json)
        assert (pred[attr] == labels[attr]).mean() >= 0.85, attr


def test_model_card_numbers_and_size():
    card = open(os.path.join(MODEL, "README.md")).read()
    assert "Pablo Stanley" in card and "Frechet distance" in card and "samples_psi0.7.png" in card
    assert os.path.exists(os.path.join(MODEL, "samples_psi0.7.png"))
    metrics = json.load(open(os.path.join(MODEL, "metrics.json")))
    assert metrics["num_images"] == 10_000
    assert metrics["real_vs_real"]["fd"] < metrics["generator"]["fd"]
    training = json.load(open(os.path.join(MODEL, "training.json")))
    assert training["kimg"] > 0
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(ROOT, "checkpoints")) for f in fs)
    assert size < 60e6
    with open(os.path.join(MODEL, "config.json")) as f:
        assert json.load(f)["_class_name"] == "StyleGAN2Generator"


@pytest.mark.parametrize("folder", ["", "classifier", "encoder", "clip"])
def test_every_shipped_network_has_a_card_the_hub_reads(folder):
    """The Hub's YAML metadata (licence, library, tags) on each card we ship, read by
    huggingface_hub itself; the companions' cards are what training/cards.py writes from their
    training records (so they cannot go stale)."""
    from huggingface_hub import ModelCard
    path = os.path.join(MODEL, folder, "README.md")
    card = ModelCard.load(path)
    assert card.data.license == "mit" and card.data.library_name in ("diffusers", "open_clip")
    assert "stylegan-studio" in card.data.tags and card.data.pipeline_tag or folder == "clip"
    assert "Pablo Stanley" in card.text or folder == "clip"
    if folder in ("classifier", "encoder"):
        from training.cards import classifier_card, encoder_card
        made = (classifier_card if folder == "classifier" else encoder_card)(os.path.join(MODEL, folder))
        assert open(path).read() == made


def test_attribute_direction_moves_the_classifier(G, classifier):
    from editing.directions import apply_direction, attribute_direction
    from editing.latents import seeds_to_ws
    fit = attribute_direction(G, classifier, "skin_color", "BLACK", samples=1000, seed=0)
    assert fit["accuracy"] > 0.8 and fit["positives"] >= 5
    ws = seeds_to_ws(G, range(100, 148))
    spread = float((ws[:, 0] @ fit["direction"]).std())
    assert 0.5 < fit["std"] / spread < 2  # its unit (the spread of w along it) matches other seeds'
    k = classifier.attributes["skin_color"].index("BLACK")

    def share(w):
        with torch.no_grad():
            return float((classifier(G.synthesis(w, noise_mode="const").clamp(-1, 1))["skin_color"].argmax(1) == k).float().mean())
    before, after, away = share(ws), share(apply_direction(ws, fit["direction"], 3 * spread)), \
        share(apply_direction(ws, fit["direction"], -3 * spread))
    assert after >= before + 0.3 and after > 2 * before and away <= before, (before, after, away)


def _fresh_posed_faces(n=80):
    """n faces drawn as the shipped generator's data were (posed, parts moved: --jitter 6 --parts)
    from a seed the dataset never used, with their labels."""
    from training.avatars import ATTRIBUTES, make_face
    faces = [make_face(12345, i, jitter=6, parts=True) for i in range(n)]
    return np.stack([f[0] for f in faces]), {a: np.array([f[1][a] for f in faces]) for a in ATTRIBUTES}


def test_the_shipped_clip_reads_fresh_faces_zero_shot():
    """The embedded CLIP names what it sees from text prompts alone (checkpoints/avataaars64/clip),
    on faces drawn as the shipped generator's data were. On these 80: skin 0.99, hair colour 0.95,
    top 0.84, mouth 0.34 (the commonest mouth: 0.26); 2,000 held-out faces in its card."""
    pytest.importorskip("cairosvg")
    from companions.clip import load_clip
    from training.train_clip import zero_shot
    clip = load_clip(os.path.join(MODEL, "clip"))
    assert clip.image_size == 64 and clip.templates[0] == "{}"
    images, labels = _fresh_posed_faces()
    acc = zero_shot(clip, images, labels, ["skin_color", "hair_color", "top_type", "mouth_type"])
    floors = {"skin_color": 0.9, "hair_color": 0.75, "top_type": 0.6, "mouth_type": 0.3}
    margins = {"skin_color": 0.15, "hair_color": 0.15, "top_type": 0.15, "mouth_type": 0.05}
    for a, r in acc.items():
        assert r["accuracy"] >= floors[a] and r["accuracy"] > r["chance"] + margins[a], (a, r)
    zs = json.load(open(os.path.join(MODEL, "clip", "zero_shot.json")))
    assert zs["heldout_faces"] == 2000 and zs["attributes"]["skin_color"]["accuracy"] > 0.9


@pytest.mark.xfail(strict=True, reason="a known gap (README, 'In other words'): the shipped CLIP reads the eye "
                   "type of posed faces whose eyes move below always answering the commonest type (0.19 against "
                   "0.49 here); so did the previous CLIP (0.23)")
def test_the_shipped_clip_reads_eye_types_zero_shot():
    pytest.importorskip("cairosvg")
    from companions.clip import load_clip
    from training.train_clip import zero_shot
    images, labels = _fresh_posed_faces()
    r = zero_shot(load_clip(os.path.join(MODEL, "clip")), images, labels, ["eye_type"])["eye_type"]
    assert r["accuracy"] > r["chance"], r


def test_card_says_how_the_data_were_drawn_and_how_the_rare_modes_came_out(tmp_path):
    """The card of a run on posed, re-weighted data with moving parts says so, tables the
    coverage it was given and carries the hand-written notes (the grid, the run's history)."""
    from training.export import model_card
    from training.train import TrainConfig
    cfg = {**TrainConfig().__dict__, "balance": 0.3, "boost": "mouth_type=SMILE:2"}
    training = {"config": cfg, "kimg": 500.0, "hours": 9.5, "hardware": "a test CPU", "g_params": 1, "d_params": 1,
                "train_images": 50_000, "heldout_images": 5_000,
                "data": {"pose": {"jitter_px": 6.0, "scale": 1.12}, "parts": {"eyes": [1.0, 2.0], "mouth": [1.5, 3.0]}}}
    coverage = {"sunglasses": {"training data": 0.093, "real faces read": 0.09, "generated": 0.05, "ratio": 0.538,
                               "at least half": True, "faces": 2000}}
    card = model_card(tmp_path, training, None, None, coverage, "### What the grid shows\n\nEyes.", 2000)
    assert "moved by up to 6 px and scaled by up to 1.12" in card
    assert "eyes move by up to +-1 x +-2 px, mouth move by up to +-1.5 x +-3 px" in card
    assert "balance 0.3" in card and "Still training" not in card
    assert "draws these classes more often: mouth_type=SMILE:2" in card
    assert "| sunglasses | 9.3% | 9.0% | 5.0% | 0.54 |" in card and "2,000 generated faces" in card
    assert "### What the grid shows\n\nEyes." in card
    plain = model_card(tmp_path, {**training, "data": {}, "config": TrainConfig().__dict__}, None, None)
    assert "posed" not in plain and "re-weighted" not in plain and "rare modes" not in plain
