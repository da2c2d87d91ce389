"""Declared companions end to end: a registry entry shaped like FFHQ's (a small decoder from the
fixtures on a local stand-in for the Hub) declares an e4e encoder, direction files, StyleCLIP's
global directions and its CLIP; the page offers encoder and hybrid in Project, the declared
directions in Directions and exact global text edits with no precomputation, and each result is
the one the plain APIs give. Offline, the page says what is missing and what it would add."""
import json
import os

import numpy as np
import pytest
import torch
from conftest import FIXTURES, ROOT, start_app
from hub_server import FakeHub

import stylegan
from companions import Manifest, ManifestError
from editing.encoder import load_encoder

gradio_client = pytest.importorskip("gradio_client")
E4E, RESTYLE, STYLECLIP = (os.path.join(FIXTURES, n) for n in ("enc-e4e-64", "enc-restyle-psp-64", "dir-styleclip"))
W_DIM, NUM_WS = 16, 10


def clip_512(folder):
    """A random CLIP in open_clip's Hub layout with a 512-wide embedding (StyleCLIP's fs3 is 512 wide)."""
    import open_clip
    from safetensors.torch import save_file

    from companions.clip import EMBEDDED_MODEL_CFG, EMBEDDED_PREPROCESS_CFG
    cfg = dict(EMBEDDED_MODEL_CFG, embed_dim=512)
    torch.manual_seed(5)
    model = open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": EMBEDDED_PREPROCESS_CFG, "templates": "cartoon"}, f)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "open_clip_model.safetensors"))
    return folder


def direction_files(folder):
    """Direction files of the released formats, sized for the decoder (w 16, 10 ws)."""
    g = torch.Generator().manual_seed(1)
    pose = torch.randn(1, NUM_WS, W_DIM, generator=g)
    torch.save(pose, os.path.join(folder, "pose.pt"))
    comp = torch.nn.functional.normalize(torch.randn(6, 1, W_DIM, generator=g), dim=-1)
    torch.save({"mean": torch.randn(1, W_DIM, generator=g), "comp": comp, "std": torch.rand(6, generator=g) + 0.5},
               os.path.join(folder, "ffhq_pca.pt"))
    return folder


def read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = FakeHub()
    hub.add_file("test/ffhq-like", "decoder.pt", read(os.path.join(E4E, "decoder.pt")))
    hub.add_file("test/e4e", "e4e_ffhq_encode.pt", read(os.path.join(E4E, "checkpoint.pt")))
    hub.add_file("test/restyle", "restyle_psp_ffhq_encode.pt", read(os.path.join(RESTYLE, "checkpoint.pt")))
    hub.add_file("test/styleclip", "S_mean_std", read(os.path.join(STYLECLIP, "S_mean_std")))
    hub.add_file("test/styleclip", "fs3.npy", read(os.path.join(STYLECLIP, "fs3.npy")))
    made = direction_files(str(tmp_path_factory.mktemp("directions")))
    for name in ("pose.pt", "ffhq_pca.pt"):
        hub.add_file("test/directions", name, read(os.path.join(made, name)))
    hub.add_file("test/directions", "age.npy",
                 read(os.path.join(FIXTURES, "dir-interfacegan", "stylegan_ffhq_age_w16_boundary.npy")))
    hub.clip_dir = clip_512(str(tmp_path_factory.mktemp("clip")))
    for name in os.listdir(hub.clip_dir):
        hub.add_file("test/clip-512", name, read(os.path.join(hub.clip_dir, name)))
    hub.made = made
    hub.url = hub.start()
    yield hub
    hub.stop()


def registry(hub, folder, repo_prefix="test"):
    url = f"{hub.url}/{repo_prefix}/directions/resolve/main"
    ffhq_like = {
        "encoder": {"name": "e4e", "format": "e4e", "repo": f"{repo_prefix}/e4e", "file": "e4e_ffhq_encode.pt",
                    "license": "mit"},
        "clip": {"name": "clip-512", "format": "open_clip", "model": f"hf-hub:{repo_prefix}/clip-512"},
        "directions": [
            {"name": "age (InterFaceGAN)", "format": "interfacegan", "repo": f"{repo_prefix}/directions", "file": "age.npy"},
            {"name": "pose", "format": "e4e-direction", "url": f"{url}/pose.pt"},
            {"name": "GANSpace components", "format": "ganspace", "url": f"{url}/ffhq_pca.pt"}],
        "relevance": [{"name": "styleclip", "format": "styleclip",
                       "files": {"s_mean_std": {"repo": f"{repo_prefix}/styleclip", "file": "S_mean_std"},
                                 "fs3": {"repo": f"{repo_prefix}/styleclip", "file": "fs3.npy"}}}]}
    entry = dict(repo=f"{repo_prefix}/ffhq-like", file="decoder.pt", format="rosinality-pt", network="stylegan2",
                 resolution=64, license="mit", description="a small decoder shaped like FFHQ's entry")
    data = {"models": [
        dict(name="avataaars-64", repo="", format="hub-native", network="stylegan2", resolution=64, license="mit",
             description="the embedded model", path=os.path.join(ROOT, "checkpoints", "avataaars64"), default=True),
        dict(entry, name="ffhq-like", companions=ffhq_like),
        dict(entry, name="ffhq-restyle", companions={"encoder": {"name": "restyle", "format": "restyle",
                                                                  "repo": f"{repo_prefix}/restyle",
                                                                  "file": "restyle_psp_ffhq_encode.pt"}}),
    ]}
    path = os.path.join(folder, "registry.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


@pytest.fixture(scope="module")
def app(hub, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("registry"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path_factory.mktemp("hf")), HF_HUB_DISABLE_TELEMETRY="1",
               STUDIO_REGISTRY=registry(hub, folder))
    proc, url, log = start_app(tmp_path_factory, env)
    client = gradio_client.Client(url, verbose=False)
    client.url_of_page = url
    yield client
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from PIL import Image
    rng = np.random.default_rng(0)
    path = str(tmp_path_factory.mktemp("photo") / "face.png")
    Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)).save(path)
    return path


def target_of(photo, G):
    from PIL import Image

    from editing.projection import to_target
    return to_target(Image.open(photo).convert("RGB"), G)


def test_the_page_offers_what_is_declared(app):
    out = app.predict("ffhq-like", "", None, api_name="/model_info")
    recipe, attribute, text_methods, note = out[8], out[7], out[11], out[-1]
    assert {"encoder", "hybrid"} <= {c[0] for c in recipe["choices"]} and recipe["value"] == "hybrid"
    assert {"age (InterFaceGAN)", "pose", "GANSpace components"} <= {c[0] for c in attribute["choices"]}
    assert "global (exact)" in {c[0] for c in text_methods["choices"]}
    assert "Companions" in note and "e4e" in note and "downloads on first use" in note


def test_projection_with_the_declared_e4e_is_its_encoding(app, photo):
    G = stylegan.load_file(os.path.join(E4E, "decoder.pt"))
    expected = load_encoder(os.path.join(E4E, "checkpoint.pt")).encode(target_of(photo, G))
    out = app.predict("ffhq-like", "", None, gradio_client.handle_file(photo), False, "encoder", 0, 0, False, 0, 0,
                      api_name="/project")
    w = np.load(out[3])["w"]
    assert w.shape == (1, NUM_WS, W_DIM)
    assert np.abs(w - expected.numpy()).max() < 1e-4, out[2]
    out = app.predict("ffhq-like", "", None, gradio_client.handle_file(photo), False, "hybrid", 2, 0, False, 0, 0,
                      api_name="/project")
    assert "hybrid, 2 steps" in out[2]


def test_restyle_iterations_are_an_option(app, photo):
    G = stylegan.load_file(os.path.join(E4E, "decoder.pt"))
    enc = load_encoder(os.path.join(RESTYLE, "checkpoint.pt"))
    expected = enc.encode(target_of(photo, G), G=G, iterations=2)
    out = app.predict("ffhq-restyle", "", None, gradio_client.handle_file(photo), False, "encoder", 0, 0, False, 0, 2,
                      api_name="/project")
    assert "restyle-psp encoder, 2 iterations" in out[2]
    assert np.abs(np.load(out[3])["w"] - expected.numpy()).max() < 1e-4


def test_declared_directions(app, hub):
    from editing.directions import direction_std
    from editing.latents import seeds_to_ws
    G = stylegan.load_file(os.path.join(E4E, "decoder.pt"))
    for name, index in (("age (InterFaceGAN)", 0), ("pose", 0), ("GANSpace components", 2)):
        strip, npz, note = app.predict("ffhq-like", "", None, 3, "Declared", index, name, 2.0, 0, NUM_WS - 1, 0.7, 0, None,
                                       api_name="/direction")
        assert name in note
        w = np.load(npz)["w"]
        start = seeds_to_ws(G, [3], 0.7)
        if name == "GANSpace components":
            pca = torch.load(os.path.join(hub.made, "ffhq_pca.pt"), weights_only=True)
            expected = start + 2.0 * float(pca["std"][2]) * pca["comp"][2]
        elif name == "pose":
            d = torch.load(os.path.join(hub.made, "pose.pt"), weights_only=True)[0]
            mean = d.mean(0)
            unit = float(direction_std(G, (mean / mean.norm())[None])[0]) / float(mean.norm())
            expected = start + 2.0 * unit * d
        else:
            d = torch.from_numpy(np.load(os.path.join(FIXTURES, "dir-interfacegan", "stylegan_ffhq_age_w16_boundary.npy"))).float()
            expected = start + 2.0 * float(direction_std(G, d)[0]) * d[0]
        assert np.abs(w - expected.numpy()).max() < 1e-3, name


def test_exact_global_text_edits_with_no_precomputation(app, hub):
    from companions.clip import load_clip
    from editing.text_edit import load_styleclip_global, style_direction
    image, note, npz = app.predict("ffhq-like", "", None, "smiling", "", "global (exact)", 4.0, 0.1, 0, 0, 0.7, 0, None,
                                   api_name="/text_edit")
    assert "StyleCLIP's released directions" in note
    relevance = load_styleclip_global(os.path.join(STYLECLIP, "S_mean_std"), os.path.join(STYLECLIP, "fs3.npy"))
    clip = load_clip(hub.clip_dir)
    offsets, moved = style_direction(relevance, clip.text_direction("smiling", ""), 0.1)
    assert f"{moved} style channels moved" in note
    saved = np.load(npz)
    for layer, value in offsets.items():
        assert np.abs(saved[f"styles.{layer}"] - 4.0 * value.numpy()).max() < 1e-4, layer


def test_offline_the_page_says_what_is_missing(hub, tmp_path, monkeypatch):
    """A registry entry whose companions are on a Hub this machine cannot reach."""
    import huggingface_hub

    from studio import Networks, Studio, StudioError
    from stylegan.registry import load_registry
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reg = load_registry(registry(hub, str(tmp_path), repo_prefix="nowhere"))
    studio = Studio(Networks(registry=reg, device="cpu"))
    w = studio.workspace("avataaars-64")
    assert "Companions" in w.describe_companions() and "shipped" in w.describe_companions()
    manifest = studio.networks.manifest_for(studio.networks.resolve("ffhq-like"))
    from studio.companions import ModelCompanions
    companions = ModelCompanions(manifest)
    text = companions.describe()
    assert text.count("cannot be had here") == 6, text           # encoder, clip, three directions, relevance
    with pytest.raises(StudioError, match="cannot be had here.*would give Project's encoder"):
        companions.network("encoder")
    with pytest.raises(StudioError, match="pose.*cannot be had here"):
        companions.direction("pose")


def test_declarations_are_checked():
    with pytest.raises(ManifestError, match="format"):
        Manifest.parse({"encoder": {"format": "pickle", "path": "e.pt"}})
    with pytest.raises(ManifestError, match="stays inside"):
        Manifest.parse({"encoder": {"format": "e4e", "path": "../../etc/passwd"}})
    with pytest.raises(ManifestError, match="https"):
        Manifest.parse({"directions": [{"format": "interfacegan", "url": "file:///etc/passwd"}]})
    with pytest.raises(ManifestError, match="unknown kind"):
        Manifest.parse({"script": {"format": "e4e", "path": "x"}})
    m = Manifest.parse({"encoder": {"format": "studio-encoder", "path": "encoder"}}, root=os.path.join(ROOT, "checkpoints"))
    assert m.local_path(m.get("encoder").files["weights"]) is None   # not there: nothing outside the folder is looked at


def test_in_a_browser(app, tmp_path):
    """Pick the FFHQ-shaped model, see its companions, move a face along a declared direction."""
    from test_browser import ARGS, CHROMIUM, playwright
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(app.url_of_page)
            page.get_by_text("StyleGAN2Generator: 64x64").wait_for(timeout=60_000)
            model = page.get_by_role("combobox", name="Model")
            model.click()
            model.fill("ffhq-like")
            page.get_by_role("option", name="ffhq-like").first.click()
            page.get_by_text("downloads on first use").first.wait_for(timeout=60_000)
            page.get_by_role("tab", name="Directions").click()
            page.get_by_role("radio", name="Declared").check()
            named = page.get_by_role("combobox", name="Attribute (a classifier's) or declared direction")
            named.click()
            named.fill("age")
            page.get_by_role("option", name="age (InterFaceGAN)").click()
            page.get_by_role("button", name="Edit", exact=True).click()
            page.get_by_text("age (InterFaceGAN) (declared file)").wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(tmp_path / "declared.png"), full_page=True)
            browser.close()


def test_global_directions_for_another_clip_are_refused_with_a_message(tmp_path):
    """StyleCLIP's 512-wide directions with the embedded 128-wide CLIP: a message, not a crash."""
    from companions import Manifest
    from studio import StudioError, Workspace
    from studio.companions import ModelCompanions
    folder = os.path.join(FIXTURES, "dir-styleclip")
    manifest = Manifest.parse({"relevance": [{"name": "styleclip", "format": "styleclip", "files": {
        "s_mean_std": {"path": "S_mean_std"}, "fs3": {"path": "fs3.npy"}}}]}, root=folder)
    from companions.clip import load_clip
    clip = load_clip(os.path.join(ROOT, "checkpoints", "avataaars64", "clip"))
    w = Workspace(stylegan.load_file(os.path.join(E4E, "decoder.pt")), "x", companions=ModelCompanions(manifest),
                  clip_loader=lambda: clip)
    assert "global (exact)" in w.text_methods()
    with pytest.raises(StudioError, match="CLIP of 512 dimensions"):
        list(w.text_edit("smiling", method="global (exact)"))
