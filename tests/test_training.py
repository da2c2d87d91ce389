"""The training package: a few steps of a tiny config give finite losses and move the weights,
resuming from a saved state is exact, and the parts behave as their definitions say."""
import json

import numpy as np
import pytest
import torch

from training.augment import cutout, diff_augment, translation
from training.discriminator import Discriminator, MinibatchStdLayer
from training.train import TrainConfig, Trainer, batch_indices


def tiny_config(run, **kw):
    cfg = dict(data="", run=str(run), batch=4, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128,
               channel_max=16, r1_interval=2, r1_gamma=1.0, snapshot_kimg=0.008, grid_size=2, kimg=0.016)
    cfg.update(kw)
    return TrainConfig(**cfg)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    img = np.zeros((24, 16, 16, 3), np.uint8)
    for i in range(len(img)):  # coloured squares at random places: something to learn
        y, x = rng.integers(0, 10, 2)
        img[i, y:y + 6, x:x + 6] = rng.integers(0, 256, 3)
    return img


def params(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_steps_give_finite_losses_and_update_weights(tmp_path, images):
    t = Trainer(tiny_config(tmp_path), images=images)
    before = params(t.G)
    history = [t.train_step() for _ in range(4)]
    for stats in history:
        assert all(np.isfinite(v) for v in stats.values()), stats
    assert ["R1" in s for s in history] == [True, False, True, False]  # lazy R1 every r1_interval=2 steps
    assert history[0]["R1"] > 0 and t.step == 4
    after = params(t.G)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(t.G_ema.mapping.w_avg, torch.zeros_like(t.G_ema.mapping.w_avg))  # w_avg tracked and copied


def test_discriminator_warmup_leaves_the_generator_alone(tmp_path, images):
    t = Trainer(tiny_config(tmp_path, d_warmup_kimg=0.008), images=images)  # 2 steps of batch 4
    g, ema, d = params(t.G.synthesis), params(t.G_ema.synthesis), params(t.D)
    t.train_step(), t.train_step()
    assert all(torch.equal(g[k], v) for k, v in t.G.synthesis.state_dict().items())
    assert all(torch.equal(ema[k], v) for k, v in t.G_ema.synthesis.state_dict().items())
    assert any(not torch.equal(d[k], v) for k, v in t.D.state_dict().items())
    t.train_step()  # warm-up over: G moves
    assert any(not torch.equal(g[k], v) for k, v in t.G.synthesis.state_dict().items())


@pytest.mark.parametrize("bf16", [False, True])
def test_resume_is_exact(tmp_path, images, bf16):
    straight = Trainer(tiny_config(tmp_path / "a", bf16=bf16, augment="color,translation,cutout"), images=images)
    for _ in range(5):
        straight.train_step()

    first = Trainer(tiny_config(tmp_path / "b", bf16=bf16, augment="color,translation,cutout"), images=images)
    for _ in range(2):
        first.train_step()
    first.save()
    del first
    second = Trainer(tiny_config(tmp_path / "b", bf16=bf16, augment="color,translation,cutout"), images=images)
    assert second.resume() and second.step == 2
    for _ in range(3):
        second.train_step()
    for name in ("G", "D", "G_ema"):
        a, b = getattr(straight, name).state_dict(), getattr(second, name).state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    assert straight.opt_D.state_dict()["state"][0]["exp_avg"].equal(second.opt_D.state_dict()["state"][0]["exp_avg"])


def test_fit_writes_grids_snapshots_and_stops_at_kimg(tmp_path, images):
    t = Trainer(tiny_config(tmp_path), images=images)
    t.fit(progress=False)
    assert t.nimg == 16
    assert (tmp_path / "state.pt").exists() and (tmp_path / "grids" / "reals.png").exists()
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["G_ema-000000"]
    from PIL import Image
    assert Image.open(tmp_path / "grids" / "fakes000000.png").size == (32, 32)
    import stylegan
    G = stylegan.load(str(tmp_path / "snapshots" / "G_ema-000000"))
    assert G(torch.zeros(1, 16), None).shape == (1, 3, 16, 16)
    t2 = Trainer(tiny_config(tmp_path, batch=8), images=images)
    with pytest.raises(SystemExit):
        t2.resume()  # another batch size cannot continue this run


def test_a_resumed_run_trains_at_the_learning_rates_it_is_given(tmp_path, images):
    t = Trainer(tiny_config(tmp_path), images=images)
    t.train_step()
    t.save()
    t2 = Trainer(tiny_config(tmp_path, g_lr=1e-4, d_lr=2e-4), images=images)
    assert t2.resume()
    assert all(g["lr"] == 1e-4 for g in t2.opt_G.param_groups)
    ratio = t2.cfg.r1_interval / (t2.cfg.r1_interval + 1)
    assert all(abs(g["lr"] - 2e-4 * ratio) < 1e-12 for g in t2.opt_D.param_groups)
    assert t2.opt_G.state_dict()["state"]  # the moments came with it


def test_resume_refuses_a_state_of_another_network(tmp_path, images):
    Trainer(tiny_config(tmp_path), images=images).save()
    with pytest.raises(SystemExit):
        Trainer(tiny_config(tmp_path, channel_max=8), images=images).resume()


def test_batch_indices_cover_each_epoch_once():
    n, b = 10, 4
    seen = np.concatenate([batch_indices(n, b, 0, s) for s in range(5)])  # 20 = two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert not np.array_equal(seen[:10], seen[10:])
    assert np.array_equal(batch_indices(n, b, 0, 3), batch_indices(n, b, 0, 3))


def test_discriminator_scores_and_names():
    D = Discriminator(32, channel_base=256, channel_max=32)
    x = torch.randn(4, 3, 32, 32)
    assert D(x).shape == (4, 1)
    names = set(D.state_dict())
    # the official module names (stylegan2-ada-pytorch's DiscriminatorBlock / Epilogue)
    for k in ("b32.fromrgb.weight", "b32.conv0.weight", "b32.conv1.bias", "b32.skip.weight", "b8.conv1.weight",
              "b4.conv.weight", "b4.fc.weight", "b4.out.bias"):
        assert k in names, k


def test_minibatch_std_matches_its_definition():
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 7, 4, 4)
    for i in range(8):  # sample i sits in group (i % 2): samples i, i+2, i+4, i+6 of its group
        group = x[i % 2::2]
        expect = group.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[i, 6], expect.expand(4, 4), atol=1e-5)


def test_diff_augment_translation_and_cutout():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(16, 1, 1, 1) + 1
    g = torch.Generator().manual_seed(0)
    t = translation(x, ratio=0.25, generator=g)
    for img in t[:, 0]:  # each result is x shifted by at most one pixel, zero filled
        ok = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ref = torch.nn.functional.pad(x[0, 0], [1, 1, 1, 1])[1 + dy:5 + dy, 1 + dx:5 + dx]
                ok |= torch.equal(img, ref)
        assert ok
    c = cutout(x, ratio=0.5, generator=g)
    zeros = (c == 0).sum(dim=[1, 2, 3])
    assert ((zeros >= 1) & (zeros <= 4)).all()  # a 2x2 square, possibly cut by the border
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    diff_augment(x, generator=g).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_class_weights_oversample_rare_classes():
    from training.train import class_weights
    rng = np.random.default_rng(0)
    labels = {"glasses": (rng.random(10_000) < 0.05).astype(np.int64),        # 5% class 1
              "hat": np.where(rng.random(10_000) < 0.3, -1, rng.integers(0, 3, 10_000))}  # -1: not visible
    assert np.allclose(class_weights(labels, 0.0), 1 / 10_000)
    p = class_weights(labels, 0.5)
    assert np.isclose(p.sum(), 1) and (p > 0).all()
    share = p[labels["glasses"] == 1].sum()
    assert 0.15 < share < 0.3                          # sqrt-tempered: 0.05 -> about 0.19
    s = batch_indices(10_000, 64, 0, 5, p)
    assert np.array_equal(s, batch_indices(10_000, 64, 0, 5, p)) and len(s) == 64   # resumable: (seed, step) decide


def test_boost_multiplies_one_class_and_refuses_what_it_cannot_read():
    from training.avatars import attribute_classes
    from training.train import boosted
    rng = np.random.default_rng(0)
    smile = attribute_classes("mouth_type").index("SMILE")
    labels = {"mouth_type": rng.integers(0, len(attribute_classes("mouth_type")), 10_000)}
    p = np.full(10_000, 1e-4)
    assert boosted(p, labels, "") is p
    q = boosted(p, labels, "mouth_type=SMILE:3")
    f = (labels["mouth_type"] == smile).mean()
    assert np.isclose(q.sum(), 1)
    assert np.isclose(q[labels["mouth_type"] == smile].sum(), 3 * f / (3 * f + 1 - f))
    assert np.allclose(q[labels["mouth_type"] != smile], q[labels["mouth_type"] != smile][0])  # the rest keep their ratios
    for bad in ("mouth_type=SMIRK:2", "mouth_type=SMILE", "hat=SMILE:2", "mouth_type=SMILE:0", "mouth_type=SMILE:nan"):
        with pytest.raises(SystemExit):
            boosted(p, labels, bad)


def test_export_reads_a_run_that_sampled_by_labels_without_its_data(tmp_path, images):
    """A run trained with --balance and --boost exports from its state alone (no labels needed)."""
    import dataclasses

    from training.export import export
    t = Trainer(tiny_config(tmp_path / "run"), images=images)
    t.train_step()
    t.cfg = dataclasses.replace(t.cfg, balance=0.3, boost="mouth_type=SMILE:2")
    t.save()
    export(tmp_path / "run", tmp_path / "out", None, None, {"resolution": 16, "n_train": 24, "n_heldout": 0})
    assert json.loads((tmp_path / "out" / "training.json").read_text())["config"]["boost"] == "mouth_type=SMILE:2"
    assert "mouth_type=SMILE:2" in (tmp_path / "out" / "README.md").read_text()


def test_widening_keeps_what_the_networks_compute_and_training_goes_on(tmp_path, images):
    """training.widen: a run widened from channel_max 16 to 32 computes the same G(z) and D(x), its
    Adam moments sit at the old weights' places (the new second moments at a typical size, not
    zero), and the widened run trains from the same step."""
    from training.widen import widen_state
    t = Trainer(tiny_config(tmp_path / "a", channel_base=256, channel_max=16), images=images)
    for _ in range(3):
        t.train_step()
    wide_state = widen_state(t.state_dict(), 16, channel_max=32)
    w = Trainer(tiny_config(tmp_path / "b", channel_base=256, channel_max=32), images=images)
    w.load_state_dict(wide_state)
    assert sum(p.numel() for p in w.G.parameters()) > 1.5 * sum(p.numel() for p in t.G.parameters())
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for old, new in ((t.G, w.G), (t.G_ema, w.G_ema)):
            a, b = old(z, None, noise_mode="const"), new(z, None, noise_mode="const")
            assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
        a, b = t.D(x), w.D(x)
        assert torch.allclose(a, b, atol=1e-3), (a - b).abs().max()  # the minibatch-std feature: see widen.QUIET
    for opt in ("opt_G", "opt_D"):
        for s in wide_state[opt]["state"].values():
            assert s["exp_avg_sq"].min() > 0 and s["exp_avg"].shape == s["exp_avg_sq"].shape
    assert w.step == 3
    stats = w.train_step()
    assert all(np.isfinite(v) for v in stats.values())


def test_a_carried_run_resumes_at_its_step_with_exact_networks(tmp_path, images):
    """training.carry: networks as they were, Adam moments in bfloat16 (loaded back as float32),
    log and latest grid alongside; the carried run resumes and trains."""
    import shutil

    from training.carry import carry
    cfg = tiny_config(tmp_path / "run")
    t = Trainer(cfg, images=images)
    t.fit(progress=False)
    path = carry(tmp_path / "run", tmp_path / "resume")
    saved = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.bfloat16 for s in saved["opt_G"]["state"].values() for k, v in s.items() if k != "step")
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == ["fakes000000.png", "log.jsonl", "state.pt"]  # kimg 0.016
    shutil.copytree(tmp_path / "resume", tmp_path / "next")
    r = Trainer(tiny_config(tmp_path / "next", kimg=0.024), images=images)
    assert r.resume() and r.step == t.step
    assert all(torch.equal(a, b) for a, b in zip(r.G_ema.state_dict().values(), t.G_ema.state_dict().values()))
    moments = r.opt_G.state[next(iter(r.G.parameters()))]
    assert moments["exp_avg_sq"].dtype == torch.float32
    assert all(np.isfinite(v) for v in r.train_step().values())
