"""Text edits (StyleCLIP): the CLIP wrapper and its open_clip layout, latent optimisation, global
directions with exact and fast relevance, captions. The properties hold for any CLIP, so most
tests use the embedded architecture with fresh random weights; the shipped CLIP's own numbers
are in test_default_model.py and the results file."""
import json
import os

import numpy as np
import pytest
import torch
from conftest import ROOT

import stylegan
from companions.clip import build_embedded, load_clip, save_embedded
from editing.generate import synthesize
from editing.latents import seeds_to_ws
from editing.text_edit import (
    Relevance,
    attribute_keeper,
    global_edit,
    optimize,
    optimize_steps,
    relevance_exact,
    relevance_fast,
)

CLIP_DIR = os.path.join(ROOT, "checkpoints", "avataaars64", "clip")


@pytest.fixture(scope="module")
def G():
    return stylegan.load("avataaars-64", device="cpu")


@pytest.fixture(scope="module")
def clip():
    return build_embedded(seed=1)


@pytest.fixture(scope="module")
def ws(G):
    return seeds_to_ws(G, [3, 4], 0.7)


@pytest.fixture(scope="module")
def fast(G, clip):
    return relevance_fast(G, clip, images=4, batch=4)


def test_embedded_clip_round_trips_through_open_clips_own_loader(clip, tmp_path):
    import open_clip
    save_embedded(clip, str(tmp_path), fp16=False)
    assert sorted(os.listdir(tmp_path)) == ["open_clip_config.json", "open_clip_model.safetensors"]
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{tmp_path}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tmp_path}")
    text = ["a cartoon face with sunglasses", "an avatar smiling"]
    assert tokenizer(text).shape == (2, 32)
    with torch.no_grad():
        theirs = model.eval().encode_text(tokenizer(text))
    ours = load_clip(str(tmp_path))
    torch.testing.assert_close(ours.encode_texts(text), torch.nn.functional.normalize(theirs, dim=-1))
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_images(x), torch.nn.functional.normalize(model.encode_image(x), dim=-1))


def test_images_are_resized_to_the_clip_input(clip):
    big = torch.rand(1, 3, 256, 256) * 2 - 1
    assert clip.preprocess(big).shape == (1, 3, 64, 64)
    # a 4x area resize is the mean of each 4x4 block (StyleCLIP's upsample-and-pool does the same)
    expected = big.reshape(1, 3, 64, 4, 64, 4).mean(dim=(3, 5))
    torch.testing.assert_close(clip.preprocess(big), (expected + 1) / 2 / 0.5 - 1)
    assert clip.preprocess(torch.rand(1, 1, 16, 16)).shape == (1, 3, 64, 64)


def test_prompts_fill_the_templates(clip):
    sentences = clip.sentences("with sunglasses")
    assert "a cartoon face with sunglasses" in sentences and "an illustration of an avatar with sunglasses" in sentences
    assert "a zombie" in clip.sentences("a zombie") and all("face a zombie" not in s for s in clip.sentences("a zombie"))
    with pytest.raises(ValueError, match="mean the same"):
        clip.text_direction("smiling", "smiling")


def test_optimization_lowers_the_clip_loss_and_stays_near_the_start(G, ws):
    clip = load_clip(CLIP_DIR)  # the shipped CLIP: a random one barely cares what it sees
    edit = optimize(G, ws, "with sunglasses", clip=clip, steps=30)
    first, last = edit.history[0], edit.history[-1]
    assert last["clip_loss"] < first["clip_loss"] - 0.01
    assert edit.images.shape == (2, 3, 64, 64) and edit.ws.shape == ws.shape
    assert 0 < float((edit.ws - ws).square().sum(dim=[1, 2]).mean()) < 50
    # A heavier pull to the start moves the latent less.
    tight = optimize(G, ws, "with sunglasses", clip=clip, steps=30, l2_weight=0.5)
    assert float((tight.ws - ws).norm()) < float((edit.ws - ws).norm())


def test_optimization_previews_and_stopping_stops(G, clip, ws):
    run = optimize_steps(G, ws, "smiling", clip=clip, steps=50, preview_every=5)
    seen = [next(run).step for _ in range(3)]
    run.close()
    assert seen == [5, 10, 15]


def test_the_identity_term_keeps_what_the_prompt_does_not_name(G, ws):
    from companions.classifier import load
    classifier = load(os.path.join(ROOT, "checkpoints", "avataaars64", "classifier"))
    images = synthesize(G, ws)
    keep = attribute_keeper(classifier, images, ["skin_color", "top_type"])
    assert torch.allclose(keep(images), torch.zeros(2), atol=1e-5)
    other = synthesize(G, seeds_to_ws(G, [10, 11], 0.7))
    assert (keep(other) > 0.01).all()


def test_alpha_zero_changes_nothing(G, clip, ws, fast):
    plain = G.synthesis(ws, noise_mode="const")
    edit = global_edit(G, ws, "with sunglasses", alpha=0.0, beta=0.0, relevance=fast, clip=clip)
    assert torch.equal(edit.images, plain)
    moved = global_edit(G, ws, "with sunglasses", alpha=5.0, beta=0.0, relevance=fast, clip=clip)
    assert moved.channels == fast.directions.shape[0] and not torch.equal(moved.images, plain)


def test_beta_above_every_relevance_changes_nothing(G, clip, ws, fast):
    text = clip.text_direction("with sunglasses")
    top = float(fast.scores(text).abs().max())
    assert 0 < top <= 1
    edit = global_edit(G, ws, "with sunglasses", alpha=8.0, beta=top + 1e-4, relevance=fast, clip=clip)
    assert edit.channels == 0 and torch.equal(edit.images, G.synthesis(ws, noise_mode="const"))
    some = global_edit(G, ws, "with sunglasses", alpha=8.0, beta=top * 0.5, relevance=fast, clip=clip)
    assert 0 < some.channels < fast.directions.shape[0]


def test_relevance_reloads_identically(fast, clip, tmp_path):
    path = str(tmp_path / "relevance_fast.safetensors")
    fast.save(path)
    back = Relevance.load(path)
    assert back.layers == fast.layers and back.method == "fast" and back.images == 4 and back.clip_id == fast.clip_id
    assert torch.equal(back.directions, fast.directions) and torch.equal(back.std, fast.std)
    text = clip.text_direction("smiling")
    assert torch.equal(back.scores(text), fast.scores(text))


def test_fast_relevance_is_the_exact_one_to_first_order(G, clip):
    """One image, a small step: StyleCLIP's finite-difference relevance and the Jacobian agree."""
    exact = relevance_exact(G, clip, images=1, alpha=0.01, batch=256)
    fast = relevance_fast(G, clip, images=1, batch=1)
    assert exact.layers == fast.layers
    text = clip.text_direction("with sunglasses")
    a, b = exact.scores(text), fast.scores(text)
    assert float(np.corrcoef(a.numpy(), b.numpy())[0, 1]) > 0.99


def test_exact_relevance_resumes_from_its_file(G, clip, tmp_path):
    resume = str(tmp_path / "partial.pt")
    calls = []
    first = relevance_exact(G, clip, images=1, batch=512, resume=resume, progress=lambda d, t: calls.append(d))
    assert calls[-1] == first.directions.shape[0] and os.path.exists(resume)
    again = relevance_exact(G, clip, images=1, batch=512, resume=resume)  # every layer from the file
    assert torch.equal(first.directions, again.directions)
    # a partial file made with other CLIP weights is not taken up
    torch.save(dict(torch.load(resume, weights_only=True), _clip="sha256:other"), resume)
    later = []
    relevance_exact(G, clip, images=1, batch=512, resume=resume, progress=lambda d, t: later.append(d))
    assert len(later) == len(calls) and torch.load(resume, weights_only=True)["_clip"] == clip.fingerprint


def test_a_shipped_relevance_is_used_only_with_the_clip_weights_it_was_made_with(G, tmp_path, monkeypatch):
    import editing.text_edit as te
    shipped = load_clip(CLIP_DIR)
    assert shipped.fingerprint.startswith("sha256:")
    rel = te.cached_relevance(G, shipped, "fast")
    assert rel.clip_id == shipped.fingerprint
    assert torch.equal(rel.directions, Relevance.load(te.relevance_file(G, "fast")).directions)
    other_dir = tmp_path / "clip"  # the same folder name, other weights
    save_embedded(build_embedded(seed=2), str(other_dir))
    other = load_clip(str(other_dir))
    assert other.name == shipped.name and other.fingerprint != shipped.fingerprint
    monkeypatch.setattr(te, "relevance_fast", lambda G, clip: ("computed for", clip.fingerprint))
    monkeypatch.setattr(te, "save_to_disk", lambda G, clip, rel: None)
    monkeypatch.setattr(te, "disk_relevance", lambda G, clip: None)
    assert te.cached_relevance(G, other, "fast") == ("computed for", other.fingerprint)


def test_the_fast_relevance_in_batches_is_the_same_jacobian(G, clip, fast):
    """Images one at a time (the graph of one image held, then freed), or backward passes
    batched: the Jacobian is a sum over images and probes, so the result must not change."""
    one = relevance_fast(G, clip, images=4, batch=1)
    torch.testing.assert_close(one.directions, fast.directions, rtol=1e-3, atol=1e-5)  # float sums in another order
    batched = relevance_fast(G, clip, images=4, batch=2, probe_batch=16)
    torch.testing.assert_close(batched.directions, fast.directions, rtol=1e-3, atol=1e-5)  # float sums in another order
    seen = []
    relevance_fast(G, clip, images=2, batch=1, probes=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 6) for k in range(1, 7)]  # 2 images x 3 probes, one backward pass each


def test_the_counted_cost_is_what_the_real_networks_do(G, clip):
    """FLOPs counted on meta copies equal PyTorch's FLOP counter on the real networks, forward and
    backward (with the ops' plain definitions, which take the same path on every device; the
    fast paths choose by device, and the meta count is the GPU's, within a few percent of the CPU's)."""
    from torch.utils.flop_counter import FlopCounterMode

    import ops
    from editing.text_edit import relevance_cost

    def real():
        from torch.nn.attention import SDPBackend, sdpa_kernel
        ws = seeds_to_ws(G, [0], 1.0).requires_grad_(True)  # gradients wanted, as in the relevance
        # CLIP's attention as matrix products (the CPU's fused kernel is not counted by FlopCounterMode)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as forward:
            e = clip.encode_images(G.synthesis(ws, noise_mode="const")).sum(0)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as backward:
            torch.autograd.grad(e[0], ws)
        return forward.get_total_flops(), backward.get_total_flops()

    with ops.config.reference():
        cost = relevance_cost(G, clip, images=5, probes=7, batch=2)
        assert (cost.forward_flops, cost.backward_flops) == real()
    fast = relevance_cost(G, clip, images=5, probes=7, batch=2)
    assert fast.forward_flops == pytest.approx(real()[0], rel=0.05)
    assert fast.flops == 5 * (fast.forward_flops + 7 * fast.backward_flops)
    assert fast.peak_bytes > fast.weight_bytes + 2 * fast.held_bytes > 0
    assert fast.seconds(0.1, 0.2) == pytest.approx(5 * (0.1 + 7 * 0.2))


def test_a_computed_relevance_is_kept_on_disk_per_model_and_clip(G, clip, monkeypatch, tmp_path):
    import copy

    import editing.text_edit as te
    monkeypatch.setenv("STUDIO_RELEVANCE_CACHE", str(tmp_path))
    small = te.relevance_fast(G, clip, images=2, batch=2)
    te.save_to_disk(G, clip, small)
    G2 = copy.deepcopy(G)  # another load of the same weights: nothing in memory for it
    monkeypatch.setattr(te, "relevance_fast", lambda *a, **k: pytest.fail("computed again"))
    found = te.disk_relevance(G2, clip)
    assert found is not None and torch.equal(found.directions, small.directions)
    other = build_embedded(seed=3)
    other.fingerprint = "sha256:other"
    assert te.disk_relevance(G2, other) is None  # another CLIP: none
    with torch.no_grad():
        G2.synthesis.b4.conv1.weight.add_(1e-3)
    te._fingerprints.pop(G2, None)
    assert te.disk_relevance(G2, clip) is None  # other weights: none


def test_a_prompt_names_its_attributes():
    from training.captions import named_attributes
    assert named_attributes("with sunglasses") == {"accessories_type"}
    assert named_attributes("with pink hair") == {"hair_color", "top_type"}
    assert named_attributes("wearing a red hat") == {"hat_color", "top_type"}
    assert named_attributes("with closed eyes") == {"eye_type"}
    assert named_attributes("as a zombie") == set()


def test_captions_are_reproducible_and_say_what_is_there():
    from training.avatars import ATTRIBUTES, attribute_classes
    from training.captions import caption
    labels = {a: -1 for a in ATTRIBUTES}
    labels.update(skin_color=0, top_type=attribute_classes("top_type").index("LONG_HAIR_CURLY"),
                  hair_color=attribute_classes("hair_color").index("PASTEL_PINK"),
                  accessories_type=attribute_classes("accessories_type").index("SUNGLASSES"), facial_hair_type=0,
                  mouth_type=attribute_classes("mouth_type").index("SMILE"), eye_type=0, eyebrow_type=0, clothe_type=0,
                  clothe_color=0)
    texts = [caption(labels, np.random.default_rng([0, i])) for i in range(200)]
    assert texts == [caption(labels, np.random.default_rng([0, i])) for i in range(200)]
    assert sum(any(w in t for w in ("sunglasses", "shades", "dark glasses")) for t in texts) > 120
    assert sum("pink" in t for t in texts) > 60
    said_hair = [t for t in texts if "hair" in t.replace("facial hair", "")]
    assert sum("curly" in t for t in said_hair) > 0.7 * len(said_hair)  # colour-only wordings do not crowd out the style
    from training.captions import ALL_PHRASES
    beards = [p.replace(" {c}", "") for c, v in ALL_PHRASES["facial_hair_type"].items() if c != "DEFAULT" for p in v]
    assert not any(b in t for b in beards for t in texts)  # this face is clean-shaven
    assert len(set(texts)) > 100


def _random_captions(n=4000):
    from training.avatars import sample_attributes
    from training.captions import caption
    out = []
    for i in range(n):
        labels = sample_attributes(np.random.default_rng([7, i]))
        out.append((labels, caption(labels, np.random.default_rng([8, i]))))
    return out


def test_held_out_wordings_are_never_in_a_caption_and_sorted_by_their_words():
    import re

    from training.captions import HELD_OUT, caption_vocabulary, held_out_wordings, training_phrases
    captions = [c for _, c in _random_captions()]
    phrases = training_phrases()
    seen = {w for c in captions for w in c.replace(",", " ").split()}
    assert seen <= caption_vocabulary()  # the vocabulary covers what captions say
    for sides in HELD_OUT.values():
        for wording in sides["says"] + sides["denies"]:
            pattern = re.compile(r"(^|[ ,])" + re.escape(wording) + r"($|[ ,])")
            assert not any(pattern.search(p) for p in phrases), wording
            assert not any(pattern.search(c) for c in captions), wording
    split = held_out_wordings()
    for name, sides in split.items():
        assert split[name]["says"]["new phrasing"] and split[name]["says"]["new word"], name
        for side in sides.values():
            assert all(set(w.split()) <= caption_vocabulary() for w in side["new phrasing"])
            assert all(set(w.split()) - seen for w in side["new word"])  # a word 4,000 captions never used
    assert "sunnies" not in seen and "hatless" not in seen and "shades" in seen


def test_captions_deny_only_what_a_face_lacks():
    from metrics.coverage import NAMED
    from training.avatars import attribute_classes
    from training.captions import ALL_PHRASES, NEGATIONS
    denied = 0
    for labels, text in _random_captions():
        for name, wordings in NEGATIONS.items():
            # A denial said of this face (not the same words as a class phrase it has, e.g. "clean-shaven").
            attribute, classes = NAMED[name]
            own = ALL_PHRASES.get(attribute, {}).get(attribute_classes(attribute)[labels[attribute]], []) \
                if labels[attribute] >= 0 else []
            for w in wordings:
                if w in text and w not in own and not any(w in p for p in own):
                    denied += 1
                    have = attribute_classes(attribute)[labels[attribute]] if labels[attribute] >= 0 else None
                    assert have is not None and have not in classes, (text, name, have)
                    if name == "smiling":
                        assert have not in ("TWINKLE", "TONGUE"), text
    assert denied > 200


def test_every_wording_names_its_attribute():
    from metrics.coverage import NAMED
    from training.captions import HELD_OUT, NEGATIONS, named_attributes
    for name, (attribute, _) in NAMED.items():
        for wording in HELD_OUT[name]["says"] + HELD_OUT[name]["denies"] + NEGATIONS[name]:
            assert attribute in named_attributes(wording), (name, wording)


def test_clip_loss_views_are_crops_of_the_image(G, clip, ws):
    from editing.text_edit import clip_loss
    images, text = G.synthesis(ws, noise_mode="const"), clip.encode_prompt("smiling")
    plain = clip_loss(clip, images, text)
    assert torch.equal(plain, 1 - clip.encode_images(images) @ text)
    viewed = clip_loss(clip, images, text, views=3, generator=torch.Generator().manual_seed(0))
    assert viewed.shape == (2,) and torch.isfinite(viewed).all() and not torch.equal(viewed, plain)


def test_auc_is_the_share_of_positive_negative_pairs_in_order():
    from training.train_clip import auc
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (60,), generator=g).float()  # many ties
    positive = torch.rand(60, generator=g) < 0.3
    pos, neg = scores[positive], scores[~positive]
    plain = float(((pos[:, None] > neg[None]).float() + 0.5 * (pos[:, None] == neg[None]).float()).mean())
    assert abs(auc(scores, positive) - plain) < 1e-6  # plain is float32
    assert auc(scores, torch.zeros(60, dtype=torch.bool)) != auc(scores, torch.zeros(60, dtype=torch.bool))  # nan


def test_wordings_are_measured_per_class_and_kind():
    """The shipped CLIP on fresh faces: what its captions said of hats and pink hair it reads
    well (2,000 held-out faces: AUC 0.88 and 0.82); every group of wordings is reported."""
    pytest.importorskip("cairosvg")
    from companions.clip import load_clip
    from training.avatars import ATTRIBUTES, make_face
    from training.train_clip import wording_table, wording_zero_shot
    clip = load_clip(os.path.join(ROOT, "checkpoints", "avataaars64", "clip"))
    faces = [make_face(4321, i) for i in range(160)]
    images = np.stack([f[0] for f in faces])
    labels = {a: np.array([f[1][a] for f in faces]) for a in ATTRIBUTES}
    result = wording_zero_shot(clip, images, labels)
    assert set(result) == {"sunglasses", "pink hair", "closed eyes", "hat", "beard or moustache", "smiling"}
    for row in result.values():
        assert {"says: training captions", "says: held out, new phrasing", "says: held out, new word"} <= set(row)
    assert result["hat"]["says: training captions"]["mean AUC"] > 0.7
    assert result["pink hair"]["says: training captions"]["mean AUC"] > 0.65
    assert wording_table(result).count("\n") == 7


def test_the_clip_card_says_how_its_faces_were_drawn(tmp_path):
    from training.train_clip import drawn_as
    meta = {"seed": 0, "n_train": 10}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    assert drawn_as(tmp_path) == ""
    (tmp_path / "dataset.json").write_text(json.dumps({**meta, "pose": {"jitter_px": 6.0, "scale": 1.12}}))
    assert drawn_as(tmp_path) == " (posed: moved by up to 6 px and scaled by up to 1.12)"
    (tmp_path / "dataset.json").write_text(json.dumps({**meta, "pose": {"jitter_px": 6.0, "scale": 1.12},
                                                       "parts": {"eyes": [1.0, 2.0]}}))
    assert "6 px" in drawn_as(tmp_path) and "the eyes, eyebrows and mouth moved" in drawn_as(tmp_path)
