"""Every tab's work with all networks on a non-CPU device (PyTorch's `meta`), under CUDA's
same-device rule (tests/strict_device.py): what a GPU Space does, without a GPU. The values are
meaningless here (meta tensors have none); what is checked is that nothing mixes devices, that
every companion network follows the workspace, and that the generator makes no host syncs."""
import os

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import FIXTURES
from strict_device import DEVICE, DeviceMismatch, SameDevice, devices_of

import stylegan
from studio import Networks, ResultFiles, Studio, Workspace


@pytest.fixture(scope="module")
def studio():
    return Studio(Networks(size=4, device=DEVICE), ResultFiles(sweep_every=0))


@pytest.fixture(scope="module")
def embedded(studio):
    return studio.workspace("avataaars-64")


@pytest.fixture
def strict():
    with SameDevice() as mode:
        yield mode


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "photo.png")
    PIL.Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(params=["imagenet", "offline"])
def vgg(request, monkeypatch):
    """The perceptual distances as a Space with internet has them (VGG16 weights: random ones of
    the right shapes, standing in for ImageNet's) and as an offline one does (the fallback)."""
    from companions import perceptual
    state = None
    if request.param == "imagenet":
        import torchvision
        torch.manual_seed(0)
        state = torchvision.models.vgg16(weights=None).features.state_dict()
    monkeypatch.setattr(perceptual, "vgg16_state", lambda download=True: state)
    return request.param


def test_the_harness_catches_what_cuda_refuses():
    a = torch.ones(4, 4, device=DEVICE)
    with SameDevice() as mode:
        a @ a
        a * torch.tensor(2.0)                                  # a 0-dim CPU tensor: a scalar, as on CUDA
        a[torch.tensor([0, 1])]                                # CPU indices: CUDA moves them
        for bad in (lambda: a @ torch.ones(4, 4), lambda: torch.nn.functional.conv2d(
                a.view(1, 1, 4, 4), torch.ones(1, 1, 3, 3)), lambda: a + torch.ones(4),
                lambda: torch.randn(3, device=DEVICE, generator=torch.Generator())):
            with pytest.raises(DeviceMismatch):
                bad()
        assert float(a.sum()) == 0.5 and len(mode.syncs) == 1   # a host sync, answered and counted
        assert a.cpu().shape == (4, 4)                          # a copy out gets stand-in values


def test_every_network_of_a_workspace_is_on_its_device(embedded):
    assert devices_of(embedded.G) == {"meta"}
    assert devices_of(embedded.classifier) == {"meta"} and devices_of(embedded.encoder) == {"meta"}
    assert devices_of(embedded.clip().model) == {"meta"}


def test_a_workspace_moves_all_its_networks_together():
    from companions.classifier import load
    from companions.clip import load_clip
    from companions.encoder import load_encoder
    folder = os.path.join(os.path.dirname(FIXTURES), "..", "checkpoints", "avataaars64")
    clip = load_clip(os.path.join(folder, "clip"))
    w = Workspace(stylegan.load("avataaars-64", device="cpu"), "x", classifier=load(os.path.join(folder, "classifier")),
                  encoder=load_encoder(os.path.join(folder, "encoder")), clip_loader=lambda: clip)
    w.to(DEVICE)
    assert w.device.type == "meta"
    for net in (w.G, w.classifier, w.encoder, w.clip().model):
        assert devices_of(net) == {"meta"}


def test_the_generator_makes_no_host_syncs(embedded, strict):
    """None per call: a filter's separability is read back once per filter, then remembered."""
    ws = torch.zeros(2, embedded.num_ws, embedded.G.w_dim, device=DEVICE)
    _, first = strict.syncs_in(embedded.G.synthesis, ws, noise_mode="const")
    filters = [b for name, b in embedded.G.named_buffers() if "filter" in name]
    assert all("decide" in where for _, where in first) and len(first) <= 2 * len(filters)
    _, syncs = strict.syncs_in(embedded.G.synthesis, ws, noise_mode="const")
    assert syncs == []
    z = torch.zeros(2, embedded.G.z_dim, device=DEVICE)
    _, syncs = strict.syncs_in(embedded.G, z, None, truncation_psi=0.7)
    assert syncs == []


def test_generate_mix_walk(embedded, strict, tmp_path):
    image, _ = embedded.generate_one(3, 0.7)
    assert image.size == (64, 64)
    assert list(embedded.generate("0-3", 0.7))[-1].done
    grid, cells, _ = embedded.style_mix("1-2", "3-4", "middle")
    assert cells.device.type == "meta"
    frames = list(embedded.walk(str(tmp_path / "w.mp4"), "0-1", frames_per_key=2))
    assert frames[-1].path


@pytest.mark.parametrize("method", ["SeFa", "GANSpace", "Attribute"])
def test_directions(embedded, strict, method):
    edit = embedded.direction(seed=1, method=method, index=1, attribute="mouth_type=SMILE", strength=2)
    assert edit.ws.device.type == "meta"


def test_stylespace(embedded, strict):
    layer = embedded.style_layer_names()[2]
    assert embedded.stylespace(seed=1, layer=layer, channel=3, strength=5).size == (128, 64)


@pytest.mark.parametrize("recipe", ["nvidia", "image2stylegan", "encoder", "hybrid"])
def test_projection_recipes(embedded, vgg, strict, photo, tmp_path, recipe):
    updates = list(embedded.project(photo, recipe, steps=2, video_path=str(tmp_path / "p.mp4")))
    last = updates[-1]
    assert last.done and last.ws.device.type == "meta"
    assert ("LPIPS" in last.distance or "VGG16" in last.distance) == (vgg == "imagenet" and recipe != "encoder")
    embedded.save_latents(str(tmp_path / "p.npz"), last.ws, noise=last.noise)


def test_what_to_do_with_projections(embedded, strict, tmp_path):
    paths = []
    for i in range(3):
        ws = embedded.start_latent(seed=i)
        paths.append(embedded.save_latents(str(tmp_path / f"{i}.npz"), ws))
    frames = list(embedded.morph(str(tmp_path / "m.mp4"), paths[0], paths[1], frames=3))
    assert frames[-1].path
    embedded.expression_transfer(*paths, strength=1)
    embedded.crossover(paths[0], paths[1], k=4)
    # a projection's latent as the start of the other tabs
    embedded.style_mix("1", "2", "middle", latents=paths[0])
    assert embedded.direction(method="SeFa", latents=paths[0]).ws.device.type == "meta"


def test_text_optimisation(embedded, strict):
    last = list(embedded.text_edit("with sunglasses", method="optimization", steps=2, seed=1))[-1]
    assert last.done and last.ws.device.type == "meta"


@pytest.mark.parametrize("method", ["global (fast)", "global (exact)"])
def test_global_edits_with_the_shipped_relevance(embedded, strict, method):
    (edit,) = embedded.text_edit("smiling", method=method, alpha=4, beta=0.1, seed=1)
    assert edit.done


def test_global_edit_with_a_computed_relevance(embedded, strict):
    from editing.text_edit import global_edit, relevance_fast
    G, clip = embedded.G, embedded.clip()
    rel = relevance_fast(G, clip, images=2, batch=1, probes=4)
    assert rel.std.device.type == "cpu"
    ws = embedded.start_latent(seed=1)
    edit = global_edit(G, ws, "smiling", relevance=rel, clip=clip)
    assert edit.images.device.type == "meta"
    from editing.text_edit import relevance_exact
    exact = relevance_exact(G, clip, images=1, batch=64)
    global_edit(G, ws, "smiling", relevance=exact, clip=clip)


def test_python_api_brings_the_companions_to_the_generator(strict, photo):
    """project(G) and optimize(G) find the networks shipped beside G and use them on G's device."""
    from editing.projection import project
    from editing.text_edit import global_edit, optimize
    G = stylegan.load("avataaars-64", device=DEVICE)
    ws = torch.zeros(1, G.num_ws, G.w_dim, device=DEVICE)
    assert optimize(G, ws, "smiling", steps=2).ws.device.type == "meta"
    assert global_edit(G, ws, "smiling", relevance="exact").images.device.type == "meta"
    assert project(G, PIL.Image.open(photo), "hybrid", steps=2).ws.device.type == "meta"


@pytest.fixture(scope="module")
def sg3():
    G = stylegan.load(os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), device=DEVICE)
    return Workspace(G, "sg3-t-32")


@pytest.fixture(scope="module")
def conditional():
    G = stylegan.load(os.path.join(FIXTURES, "ada-cond-32", "network.pkl"), device=DEVICE)
    return Workspace(G, "ada-cond-32")


def test_stylegan3_transforms_and_tabs(sg3, strict, photo):
    gallery = list(sg3.generate("0-1", 0.7, translate=(0.2, -0.1), rotate=10))[-1]
    assert gallery.done
    assert sg3.direction(seed=0, method="GANSpace", index=0).ws.device.type == "meta"
    assert list(sg3.project(photo, "nvidia", steps=2))[-1].done  # no noise buffers in StyleGAN3


def test_conditional_models(conditional, strict):
    conditional.generate_one(0, 0.7, class_idx=1)
    list(conditional.generate("0-1", class_idx=2))
    conditional.style_mix("1", "2", "coarse", class_idx=1)
    conditional.direction(seed=0, method="GANSpace", class_idx=1)
    conditional.direction(seed=0, method="SeFa", class_idx=1)


def test_global_fast_without_a_shipped_relevance_computes_within_budget_or_says_how(sg3, embedded, strict, monkeypatch,
                                                                                   tmp_path):
    """A model with no relevance: computed in the request (progress, then kept on disk) when the
    estimate fits the budget, else a message with the estimate and the command."""
    monkeypatch.setenv("STUDIO_RELEVANCE_CACHE", str(tmp_path))
    w = Workspace(sg3.G, "sg3-t-32", clip_loader=embedded.clip)
    monkeypatch.setenv("STUDIO_RELEVANCE_BUDGET_S", "0")
    from studio import StudioError
    with pytest.raises(StudioError, match=r"precompute_relevance --model sg3-t-32 --method fast") as e:
        list(w.text_edit("smiling", method="global (fast)"))
    assert "PFLOP" in str(e.value) and "GiB" in str(e.value)
    monkeypatch.setenv("STUDIO_RELEVANCE_BUDGET_S", "1e9")
    updates = list(w.text_edit("smiling", method="global (fast)"))
    assert updates[-1].done and any("computing this model's channel relevance" in u.note for u in updates[:-1])
    assert len(os.listdir(tmp_path)) == 1


def test_training_steps_on_the_device(strict, tmp_path):
    """What a GPU training session runs (training/train.py --device cuda): G and D steps, lazy R1
    (a double backward), DiffAugment, style mixing and the EMA, with the batch and z drawn on the
    CPU and moved; a snapshot and the state are written from the device's networks."""
    from training.train import TrainConfig, Trainer
    images = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    cfg = TrainConfig(data="", run=str(tmp_path / "run"), batch=4, z_dim=16, w_dim=16, mapping_layers=2,
                      channel_base=128, channel_max=16, r1_interval=2, r1_gamma=1.0, grid_size=2,
                      augment="color,translation,cutout", device=str(DEVICE))
    t = Trainer(cfg, images=images)
    assert devices_of(t.G) == devices_of(t.D) == devices_of(t.G_ema) == {DEVICE.type}
    for _ in range(2):  # the first step takes R1
        t.train_step()
    t.snapshot()
    assert (tmp_path / "run" / "snapshots" / "G_ema-000000" / "config.json").exists()
    assert t.resume() and t.step == 2 and devices_of(t.G) == {DEVICE.type}
