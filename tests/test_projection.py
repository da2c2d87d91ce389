"""Projection (editing/projection.py), its distances (editing/perceptual.py) and the encoder."""
import http.server
import logging
import math
import os
import threading

import numpy as np
import pytest
import torch
from conftest import ROOT

import stylegan
from companions import perceptual
from companions.encoder import Encoder, load_encoder
from editing.generate import synthesize
from editing.latents import seeds_to_ws
from editing.projection import (
    RECIPES,
    crossover,
    expression_transfer,
    get_recipe,
    learning_rate,
    morph,
    noise_regularizer,
    project,
    projection_steps,
    psnr,
    w_statistics,
)

ENCODER = os.path.join(ROOT, "checkpoints", "avataaars64", "encoder")


@pytest.fixture(scope="module")
def G():
    return stylegan.load("avataaars-64", device="cpu")


@pytest.fixture(scope="module")
def classifier():
    from companions.classifier import load
    return load(os.path.join(ROOT, "checkpoints", "avataaars64", "classifier"))


@pytest.fixture(scope="module")
def target(G):
    """Images the generator made from known latents (seeds 11 and 12, psi 0.7)."""
    ws = seeds_to_ws(G, [11, 12], 0.7)
    return ws, synthesize(G, ws)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("STUDIO_OFFLINE", "1")


# --- the recipes are the papers' -----------------------------------------------------------

def test_recipes_carry_the_published_numbers():
    nv = RECIPES["nvidia"]
    assert (nv.space, nv.steps, nv.lr, nv.betas, nv.lr_rampup, nv.lr_rampdown) == ("w", 1000, 0.1, (0.9, 0.999), 0.05, 0.25)
    assert (nv.w_noise_scale, nv.w_noise_ramp, nv.optimize_noise, nv.noise_reg_weight, nv.distance) == \
        (0.05, 0.75, True, 1e5, "lpips")
    i2s = RECIPES["image2stylegan"]
    assert (i2s.space, i2s.steps, i2s.lr, i2s.init, i2s.distance, i2s.pixel_weight) == ("w+", 5000, 0.01, "w_avg", "vgg-layers", 1.0)
    assert RECIPES["encoder"].steps == 0 and RECIPES["hybrid"].init == "encoder"
    assert get_recipe("nvidia", steps=7, lr=0.5).steps == 7 and get_recipe("nvidia", lr=0.5).lr == 0.5
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("magic")


@pytest.mark.parametrize("t", [0.0, 0.01, 0.025, 0.05, 0.3, 0.75, 0.8, 0.9, 0.999])
def test_nvidia_learning_rate_schedule(t):
    # projector.py: ramp = min(1, (1 - t) / 0.25); ramp = 0.5 - 0.5 cos(pi ramp); ramp *= min(1, t / 0.05)
    ramp = min(1.0, (1 - t) / 0.25)
    ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / 0.05)
    assert learning_rate(RECIPES["nvidia"], t) == pytest.approx(0.1 * ramp)


def test_noise_regularizer_is_the_plain_definition():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn([2, 1, 16, 16], generator=g), torch.randn([2, 1, 4, 4], generator=g)

    def plain(n):  # one image, every scale down to 8x8 (a 4x4 buffer: its own scale only)
        total = 0.0
        while True:
            total += float((n * np.roll(n, 1, axis=1)).mean()) ** 2 + float((n * np.roll(n, 1, axis=0)).mean()) ** 2
            if n.shape[0] <= 8:
                return total
            n = n.reshape(n.shape[0] // 2, 2, n.shape[1] // 2, 2).mean(axis=(1, 3))
    got = noise_regularizer([a, b])
    for i in range(2):
        assert float(got[i]) == pytest.approx(plain(a[i, 0].numpy().astype(np.float64)) + plain(b[i, 0].numpy().astype(np.float64)),
                                              rel=1e-4)


def test_w_statistics_as_the_projector_draws_them(G):
    w_avg, w_std = w_statistics(G)
    z = torch.from_numpy(np.random.RandomState(123).randn(10_000, G.z_dim)).float()
    w = G.mapping(z, None)[:, :1]
    assert torch.allclose(w_avg, w.mean(0, keepdim=True), atol=1e-5)
    assert w_std == pytest.approx(float(((w - w.mean(0)).square().sum() / 10_000) ** 0.5), rel=1e-4)


# --- projection finds the latent back ----------------------------------------------------

def test_a_generated_image_is_projected_back(G, target, classifier):
    """An image made from a known w comes back: 100 W+ steps from w_avg reach above 25 dB on
    seed 12 (seen: 37.5 dB on one machine, 30.1 on another: the path depends on the CPU's
    kernels), at least 10 dB above where they start. On the posed faces of the embedded model v3
    this start can stall (seed 11: 17.5 dB after 100 steps, 17.8 after 200), which the encoder's
    start mends (hybrid reaches 34 dB on it: the next test)."""
    _, images = target
    result = project(G, images, "image2stylegan", steps=100, classifier=classifier)
    assert result.ws.shape == (2, G.num_ws, G.w_dim) and result.done
    assert float(psnr(result.images, images)[1]) > 25
    w_avg, _ = w_statistics(G)
    start = synthesize(G, w_avg.repeat(1, G.num_ws, 1))  # where the optimisation starts
    assert float(psnr(result.images[1:], images[1:]) - psnr(start, images[1:])) > 10
    assert result.history[-1]["psnr"] > result.history[0]["psnr"] + 5  # the mean over both rises too
    assert "MS-SSIM (window 3)" in result.distance and "classifier" in result.distance  # the offline fallback, named
    assert result.image.size == (64, 64)


@pytest.mark.skipif(not os.path.isdir(ENCODER), reason="the shipped encoder is missing")
def test_the_shipped_encoder_and_hybrid(G, target, classifier):
    ws, images = target
    E = load_encoder(ENCODER)
    assert E.fits(G) and torch.allclose(E.w_avg, G.mapping.w_avg, atol=1e-2)
    enc = project(G, images, "encoder", encoder=E)
    assert enc.steps == 0 and enc.history[0]["step"] == 0
    start = project(G, images, "image2stylegan", steps=0)  # w_avg's image
    assert float(psnr(enc.images, images).mean()) > float(psnr(start.images, images).mean()) + 5
    hybrid = project(G, images, "hybrid", encoder=E, classifier=classifier)  # its 100 steps (seen: 34 and 41 dB from 19 and 23)
    assert float(psnr(hybrid.images, images).mean()) > float(psnr(enc.images, images).mean()) + 3
    assert float(psnr(hybrid.images, images).min()) > 30
    # Called with nothing but G and the image, the shipped encoder and classifier are found.
    default = project(G, images)
    assert torch.equal(default.ws, hybrid.ws) and "classifier" in default.distance
    bare = type(G).from_config(G.config)  # the same network, not read from a folder: no companions
    bare.load_state_dict(G.state_dict())
    bare.register_to_config(_name_or_path="")
    with pytest.raises(ValueError, match="needs an encoder, and none was trained for this model"):
        project(bare.eval(), images, "hybrid")


def test_nvidia_recipe_optimises_noise_and_leaves_the_model_alone(G, target, classifier):
    _, images = target
    before = {k: v.clone() for k, v in G.state_dict().items()}
    result = project(G, images[:1], "nvidia", steps=20, classifier=classifier)
    assert result.ws.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(result.ws[:, 0], result.ws[:, -1])  # W: one w for every layer
    assert len(result.noise) == sum(1 for m in G.synthesis.modules() if hasattr(m, "noise_const"))
    for n in result.noise.values():  # renormalised after every step
        assert abs(float(n.mean())) < 1e-4 and float(n.square().mean()) == pytest.approx(1, abs=1e-3)
    after = G.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the shared model's noise buffers untouched


def test_previews_come_every_few_steps_and_stopping_stops(G, target):
    _, images = target
    calls = []

    def counting(a, b):
        calls.append(1)
        return (a - b).square().mean(dim=[1, 2, 3])
    d = perceptual.Distance("counting", counting, False)
    run = projection_steps(G, images[:1], "image2stylegan", steps=50, distance=d, preview_every=5)
    states = [next(run) for _ in range(3)]
    assert [s.step for s in states] == [5, 10, 15] and not states[-1].done
    run.close()
    assert len(calls) == 15  # nothing ran after the close
    states = list(projection_steps(G, images[:1], "image2stylegan", steps=12, distance=d, preview_every=5))
    assert [s.step for s in states] == [5, 10, 12] and states[-1].done and len(states[-1].history) == 13


def test_bf16_projection_runs(G, target):
    _, images = target
    result = project(G, images[:1], "image2stylegan", steps=5, dtype=torch.bfloat16)
    assert torch.isfinite(result.ws).all() and result.history[-1]["psnr"] > 5


def test_a_pil_image_of_any_shape_is_cropped_and_resized(G):
    import PIL.Image

    from editing.projection import to_target
    x = to_target(PIL.Image.new("RGB", (300, 200), (255, 0, 0)), G)
    assert x.shape == (1, 3, 64, 64) and torch.allclose(x[0, 0], torch.ones(64, 64))


# --- applications --------------------------------------------------------------------------

def test_morph_expression_transfer_and_crossover():
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(1, 10, 8, generator=g) for _ in range(3))
    m = morph(a, b, 5)
    assert m.shape == (5, 10, 8) and torch.equal(m[0], a[0]) and torch.equal(m[-1], b[0])  # both ends exact
    assert torch.allclose(m[2], (a[0] + b[0]) / 2)
    e = expression_transfer(a, b, c, 0.5)
    assert torch.allclose(e, a + 0.5 * (c - b))
    e = expression_transfer(a, b, c, 1.0, layers=[2, 3])
    assert torch.equal(e[:, 2:4], (a + (c - b))[:, 2:4])  # w1 + (w3 - w2), as the paper writes it
    assert torch.equal(e[:, :2], a[:, :2]) and torch.equal(e[:, 4:], a[:, 4:])
    x = crossover(a, b, 4)
    assert torch.equal(x[:, :4], a[:, :4]) and torch.equal(x[:, 4:], b[:, 4:])
    with pytest.raises(ValueError):
        crossover(a, b, 11)


# --- distances --------------------------------------------------------------------------------

def test_msssim_window_fits_the_image():
    assert perceptual.msssim_window(64) == 3 and perceptual.msssim_window(256) == 11 and perceptual.msssim_window(128) == 7
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.allclose(perceptual.msssim_distance(a, a), torch.zeros(2), atol=1e-5)
    assert (perceptual.msssim_distance(a, a.flip(3)) > 0.05).all()


def test_offline_distance_is_named_and_a_distance(classifier):
    d = perceptual.offline_distance(64, classifier)
    assert not d.pretrained and d.name == "pixel MSE + MS-SSIM (window 3) + attribute-classifier features"
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.allclose(d(a, a), torch.zeros(2), atol=1e-5) and (d(a, b) > 0.1).all()


def test_offline_the_fallback_is_used_and_said_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(perceptual, "_weights", {})
    monkeypatch.setattr(perceptual, "_warned", [False])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="companions.perceptual"):
        d1 = perceptual.perceptual("lpips", 64)
        d2 = perceptual.perceptual("vgg-layers", 64)
    assert not d1.pretrained and not d2.pretrained and d1.name.startswith("pixel MSE")
    assert sum("VGG16 ImageNet weights are not available" in r.message for r in caplog.records) == 1


def _fake_vgg16_file(path):
    """A VGG16 state dict of torchvision's layout (random weights: made here, not downloaded)."""
    import torchvision
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)


class _Server:
    def __init__(self, root, stall=False):
        handler = type("H", (http.server.SimpleHTTPRequestHandler,), {
            "log_message": lambda *a: None,
            "do_GET": (lambda self: threading.Event().wait(10)) if stall else
                      (lambda self: http.server.SimpleHTTPRequestHandler.do_GET(self)),
        })
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/vgg16-397923af.pth"

    def close(self):
        self.httpd.shutdown()


@pytest.mark.parametrize("stall", [False, True])
def test_vgg16_weights_download_and_load_into_lpips(monkeypatch, tmp_path, stall):
    """The download path against a local server standing in for download.pytorch.org; a stalled
    server gives the fallback after the time limit, not a hang."""
    served = tmp_path / "served"
    served.mkdir()
    _fake_vgg16_file(served / "vgg16-397923af.pth")
    server = _Server(served, stall)
    try:
        monkeypatch.delenv("STUDIO_OFFLINE")
        monkeypatch.setattr(perceptual, "VGG16_URL", server.url)
        monkeypatch.setattr(perceptual, "DOWNLOAD_TIMEOUT_S", 1.0)
        monkeypatch.setattr(perceptual, "_weights", {})
        monkeypatch.setattr(perceptual, "_failed_at", [0.0])
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        state = perceptual.vgg16_state()
        if stall:
            assert state is None and not os.path.exists(perceptual._weights_path())
            return
        assert os.path.isfile(perceptual._weights_path()) and set(state) >= {"0.weight", "28.bias"}
        d = perceptual.perceptual("lpips", 64)
        assert d.pretrained and d.name == "LPIPS (VGG16)"
        a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
        assert float(d(a, a)) == pytest.approx(0, abs=1e-6) and float(d(a, b)) > 0
        v = perceptual.perceptual("vgg-layers", 64)
        assert v.pretrained and float(v(a, b)) > 0
        ref = torch.load(perceptual._weights_path(), weights_only=True)  # the backbone is the file's
        assert torch.equal(d.fn.model.net.slice1[0].weight, ref["features.0.weight"])
        assert torch.equal(getattr(d.fn.model.net.slice5, "28").bias, ref["features.28.bias"])
    finally:
        server.close()


def test_encoder_starts_at_w_avg_and_round_trips_its_files(tmp_path, G):
    E = Encoder(num_ws=G.num_ws, w_dim=G.w_dim, resolution=64, width=8, max_width=32, hidden=64)
    E.w_avg.copy_(G.mapping.w_avg)
    x = torch.rand(2, 3, 128, 128) * 2 - 1  # resized to 64 inside
    assert torch.allclose(E.encode(x), G.mapping.w_avg.expand(2, G.num_ws, -1))
    torch.nn.init.normal_(E.head[-1].weight)
    E.save_pretrained(tmp_path, safe_serialization=True)
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pkl"))
    F = load_encoder(tmp_path)
    assert torch.allclose(F.encode(x), E.encode(x), atol=1e-5)


def test_encoder_training_runs_and_resumes(tmp_path, G):
    from training.train_encoder import train
    E1, step = train(G, tmp_path / "run", steps=4, batch=4, width=8, log_every=2)
    assert step == 4 and (tmp_path / "run" / "state.pt").exists()
    E2, step = train(G, tmp_path / "run", steps=6, batch=4, width=8, log_every=2)  # continues from step 4
    assert step == 6
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert [eval(line.replace("null", "None"))["step"] for line in lines] == [2, 4, 6]


# --- the studio's Project methods ------------------------------------------------------------

def _photo(tmp_path, G):
    import PIL.Image
    path = tmp_path / "photo.png"
    PIL.Image.fromarray(np.asarray(synthesize(G, seeds_to_ws(G, [3], 0.7)).add(1).mul(127.5).clamp(0, 255)[0]
                                   .permute(1, 2, 0).to(torch.uint8))).resize((100, 100)).save(path)
    return str(path)


def test_a_model_without_an_encoder_says_so(G, tmp_path):
    from studio import StudioError, Workspace
    w = Workspace(G, "no-encoder")
    assert w.recipes() == ["nvidia", "image2stylegan", "pti"] and w.default_recipe() == "nvidia"  # pti: a W pivot
    with pytest.raises(StudioError, match="none has been trained for this model"):
        list(w.project(_photo(tmp_path, G), "hybrid"))
    with pytest.raises(StudioError, match="recipe must be one of"):
        list(w.project(_photo(tmp_path, G), "magic"))


def test_a_projection_stops_at_its_time_limit_with_what_it_has(G, tmp_path):
    from studio import Workspace
    w = Workspace(G, "avataaars-64")
    updates = list(w.project(_photo(tmp_path, G), "image2stylegan", steps=5000, time_limit=3.0))
    last = updates[-1]
    assert last.done and "stopped after 3 s" in last.note and last.step < 5000
    assert last.ws.shape == (1, G.num_ws, G.w_dim) and last.preview.size == (64, 64)
    previews = sum(u.preview is not None for u in updates[:-1])
    assert updates[0].preview is not None and previews <= 4  # progress every step, a preview at most once a second
    path = w.save_latents(str(tmp_path / "p.npz"), last.ws, noise=last.noise)
    with np.load(path) as f:
        assert list(f) == ["w"]  # W+ recipes optimise no noise


def test_nvidia_projection_saves_its_noise(G, tmp_path):
    from studio import Workspace
    w = Workspace(G, "avataaars-64")
    last = list(w.project(_photo(tmp_path, G), "nvidia", steps=3))[-1]
    path = w.save_latents(str(tmp_path / "p.npz"), last.ws, noise=last.noise)
    with np.load(path) as f:
        assert f["w"].shape == (1, G.num_ws, G.w_dim) and sum(k.startswith("noise.") for k in f) == len(last.noise) > 0


def test_lpips_with_the_target_kept_equals_lpips_itself():
    """The LPIPS distance keeps the target's VGG features between steps; it must give lpips'
    own value, and notice a new target or one changed in place."""
    from companions.perceptual import lpips_distance, vgg_layers_distance
    torch.manual_seed(0)
    d = lpips_distance(None)
    a, b, c = (torch.rand(2, 3, 64, 64) * 2 - 1 for _ in range(3))
    for x, y in ((a, b), (a, b), (a, c), (c, b)):
        torch.testing.assert_close(d(x, y), d.fn.model(x, y).flatten())
    b.mul_(0.5)  # changed in place
    torch.testing.assert_close(d(a, b), d.fn.model(a, b).flatten())
    torch.manual_seed(1)
    v = vgg_layers_distance(None)
    torch.manual_seed(1)
    fresh = vgg_layers_distance(None)  # the same random weights, nothing kept yet
    v(a, b)
    torch.testing.assert_close(v(a, c), fresh(a, c))
