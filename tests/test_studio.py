"""The studio layer on its own, without Gradio: sources and the local-path policy, the bounded
cache, one Workspace per model and its checks, requests that run at once, result files."""
import os
import threading
import time

import numpy as np
import pytest
import torch
from conftest import FIXTURES, ROOT

from studio import Networks, ResultFiles, Studio, StudioError, public_message, scrub


@pytest.fixture
def studio(tmp_path):
    return Studio(Networks(size=3), ResultFiles(str(tmp_path / "results"), sweep_every=0))


@pytest.fixture(scope="module")
def embedded():
    return Studio(Networks(size=4), ResultFiles(sweep_every=0)).workspace("avataaars-64")


# --- sources ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["/etc/passwd", "/proc/self/environ", "/root/.bashrc", "/no/such/file.pkl",
                                  "../../etc/passwd", "~/.ssh/id_rsa", "./app.py", "C:\\x.pkl", "/tmp"])
def test_local_paths_are_refused_alike_without_an_allowed_folder(studio, text, monkeypatch):
    monkeypatch.delenv("STUDIO_LOCAL_DIRS", raising=False)
    with pytest.raises(StudioError) as e:
        studio.networks.resolve("avataaars-64", text)
    assert str(e.value) == "local paths are not accepted here: pick a model from the list, give a Hub id " \
                           "(owner/repo or owner/repo/path/file.pkl), or upload a checkpoint"


def test_local_paths_only_inside_the_allowed_folders(studio, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    pkl = os.path.join(FIXTURES, "sg3-t-32", "network.pkl")
    src = studio.networks.resolve(None, pkl)
    assert src.kind == "local" and src.label == "network.pkl"
    assert studio.networks.resolve(None, "sg3-t-32/network.pkl").kind == "local"  # relative to an allowed folder
    os.symlink("/etc", tmp_path / "escape")
    for text in ("/etc/hostname", os.path.join(FIXTURES, "..", "..", "app.py"), os.path.join(FIXTURES, "nothing.pkl"),
                 str(tmp_path / "escape" / "hostname")):
        with pytest.raises(StudioError, match="local paths are not accepted"):
            studio.networks.resolve(None, text)


def test_hub_ids_never_touch_the_disk(studio, monkeypatch):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    src = studio.networks.resolve(None, "etc/passwd")
    assert src.kind == "hub"  # a Hub id, looked up on the Hub, not the file
    with pytest.raises(StudioError, match="not a model of the list or a Hub id"):
        studio.networks.resolve(None, "no spaces allowed/x y")


def test_uploads_must_come_from_the_upload_folder(tmp_path):
    nets = Networks(upload_dirs=(str(tmp_path),))
    (tmp_path / "x.pkl").write_bytes(b"x")
    assert nets.resolve(None, None, str(tmp_path / "x.pkl")).label == "x.pkl"
    with pytest.raises(StudioError, match="not an uploaded file"):
        nets.resolve(None, None, "/etc/passwd")


def test_default_model_can_be_set_by_the_operator(monkeypatch):
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "stylegan3-t-ffhq-1024")
    assert Networks().default_name() == "stylegan3-t-ffhq-1024"
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "no-such-model")
    with pytest.raises(StudioError, match="not in the registry"):
        Networks().default_name()
    monkeypatch.delenv("STUDIO_DEFAULT_MODEL")
    assert Networks().default_name() == "avataaars-64"


def test_messages_carry_no_server_paths(studio, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", str(tmp_path))
    bad = tmp_path / "deep" / "secret-folder"
    bad.mkdir(parents=True)
    (bad / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(StudioError) as e:
        studio.workspace(None, str(bad / "model.pkl"))
    assert "secret-folder" not in str(e.value) and str(tmp_path) not in str(e.value)
    assert "model.pkl" in str(e.value) or "int" in str(e.value)
    assert scrub("could not read /srv/app/checkpoints/x.pkl: bad") == "could not read x.pkl: bad"
    assert scrub("see https://huggingface.co/owner/repo") == "see https://huggingface.co/owner/repo"
    assert public_message(KeyError("/srv/secret")) .startswith("Something went wrong on the server (KeyError)")


# --- the cache ----------------------------------------------------------------------------

def test_one_workspace_per_model_and_a_bounded_cache(studio, monkeypatch):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    a = studio.workspace("avataaars-64")
    assert studio.workspace("avataaars-64") is a and a.classifier is not None
    names = ["ada-orig-32", "sg3-t-32", "ada-cond-32", "sg3-r-32"]
    for n in names:
        studio.workspace(None, f"{n}/network.pkl")
    keys = [k for k in studio.networks.cached_keys() if k[0] == "workspace"]
    assert len(keys) == 3 and ("workspace", "local", os.path.join(FIXTURES, "sg3-r-32", "network.pkl")) in keys
    assert ("workspace", "registry", "avataaars-64") not in keys  # the least recently used went first
    assert not [k for k in studio.networks.cached_keys() if k[0] == "generator"]  # each generator is held once, by its workspace


def test_concurrent_loads_of_one_model_load_it_once(studio):
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return object()
    out = []
    threads = [threading.Thread(target=lambda: out.append(studio.networks.cached(("x",), slow))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({id(o) for o in out}) == 1


def test_a_failed_load_is_not_cached(studio):
    def boom():
        raise StudioError("no")
    for _ in range(2):
        with pytest.raises(StudioError):
            studio.networks.cached(("y",), boom)
    assert ("y",) not in studio.networks.cached_keys()


# --- the workspace ------------------------------------------------------------------------

@pytest.mark.parametrize("method,args,message", [
    ("generate_one", (float("nan"),), "seed must be a whole number from 0 to 4294967295; got nan"),
    ("generate_one", (1, float("inf")), "truncation ψ must be a number from -1 to 1.5; got inf"),
    ("generate_one", (1, None), "truncation ψ must be a number from -1 to 1.5; got None"),
    ("generate_one", (1.5,), "seed must be a whole number"),
    ("generate_one", (1, 0.7, "loud"), "noise mode must be one of const, random, none"),
    ("style_mix", ("1", "2", "custom", 3, float("nan")), "last w (custom range) must be a whole number from 0 to 9"),
    ("style_mix", ("1", "2", "huge"), "styles taken from the columns must be one of"),
    ("direction", (0, "SeFa", 0, None, float("-inf")), "strength must be a number from 0 to 10"),
    ("direction", (0, "SeFa", 25), "component must be a whole number from 0 to 19"),
    ("direction", (0, "Attribute", 0, "mouth_type=GRIN"), "unknown attribute 'mouth_type=GRIN'"),
    ("direction", (0, "Attribute", 0, None), "unknown attribute ''"),
    ("stylespace", (0, "b16.conv1", -1), "channel of b16.conv1 must be a whole number from 0 to 127"),
    ("stylespace", (0, "nope", 1), "no style layer 'nope'"),
    ("stylespace", (0, "b16.conv1", 1, float("nan")), "strength must be a number from -50 to 50"),
])
def test_every_field_is_checked_with_a_message_naming_it(embedded, method, args, message):
    with pytest.raises(StudioError) as e:
        getattr(embedded, method)(*args)
    assert message in str(e.value)


def test_generator_arguments_are_checked_before_any_work(embedded, tmp_path):
    for kwargs, message in [(dict(seeds="0-3", rotate=float("nan")), "rotate must be a number from -180 to 180"),
                            (dict(seeds="0-3", translate=(0.5, 0)), "translate and rotate need a StyleGAN3 model"),
                            (dict(seeds="0-3", truncation_cutoff=99), "truncation cutoff must be a whole number from 0 to 10"),
                            (dict(seeds="0-99999"), "too many seeds")]:
        with pytest.raises(StudioError, match=message.replace("(", r"\(")):
            next(embedded.generate(**kwargs))
    with pytest.raises(StudioError, match="frames per keyframe must be a whole number from 2 to 120"):
        next(embedded.walk(str(tmp_path / "w.mp4"), "0-3", frames_per_key=float("inf")))
    with pytest.raises(StudioError, match="loop must be true or false"):
        next(embedded.walk(str(tmp_path / "w.mp4"), "0-3", loop="maybe"))


def test_uploaded_latents_are_checked(embedded, tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, w=np.zeros((1, 10, 128), np.float32))
    assert embedded.direction(latents=str(good), strength=0).ws.shape == (1, 10, 128)
    for name, arrays, message in [
        ("nan.npz", dict(w=np.full((1, 10, 128), np.nan, np.float32)), "NaN or infinite"),
        ("shape.npz", dict(w=np.zeros((1, 18, 512), np.float32)), "this model wants [N, 10, 128]"),
        ("many.npz", dict(w=np.zeros((1000, 10, 128), np.float16)), "N from 1 to 64"),
        ("ints.npz", dict(w=np.zeros((1, 10, 128), np.int64)), "floating-point"),
        ("nokey.npz", dict(x=np.zeros(3)), "no 'w' array"),
    ]:
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(StudioError) as e:
            embedded.direction(latents=str(tmp_path / name))
        assert message in str(e.value), (name, str(e.value))


def test_presets_follow_the_papers_and_label_their_ws(embedded):
    assert embedded.presets() == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": [8, 9]}
    assert embedded.preset_labels()[0] == ("coarse: ws 0-3", "coarse")


def test_conditional_models_take_a_class_in_every_method(studio, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    monkeypatch.setenv("STUDIO_RELEVANCE_BUDGET_S", "3600")  # computed in the request whatever the load here
    w = studio.workspace(None, "ada-cond-32/network.pkl")
    assert w.G.c_dim > 1
    a, _ = w.generate_one(1, 0.7, class_idx=0)
    b, note = w.generate_one(1, 0.7, class_idx=1)
    assert "class 1" in note and a.tobytes() != b.tobytes()
    assert w.style_mix("1", "2", "coarse", class_idx=1)[0].size == (64, 64)
    assert w.direction(1, "GANSpace", 0, strength=1, class_idx=1).strip.size == (5 * 32, 32)
    assert w.stylespace(1, w.style_layer_names()[0], 0, 5, class_idx=1).size == (64, 32)
    assert list(w.walk(str(tmp_path / "c.mp4"), "1,2", 2, class_idx=1))[-1].path
    with pytest.raises(StudioError, match=f"class must be a whole number from 0 to {w.G.c_dim - 1}"):
        w.generate_one(1, 0.7, class_idx=w.G.c_dim)
    # Project: the optimisation starts from the chosen class's w statistics.
    from PIL import Image

    from editing.projection import projection_steps, w_statistics
    photo = str(tmp_path / "photo.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    start = list(projection_steps(w.G, Image.open(photo), "nvidia", steps=0, class_idx=2))[-1].ws
    assert torch.allclose(start[0, 0], w_statistics(w.G, class_idx=2)[0][0, 0])
    assert not torch.allclose(start[0, 0], w_statistics(w.G, class_idx=0)[0][0, 0])
    last = list(w.project(photo, "nvidia", 2, align=False, class_idx=2))[-1]
    assert last.done and last.ws.shape == (1, w.num_ws, w.G.w_dim)
    with pytest.raises(StudioError, match="class must be"):
        list(w.project(photo, "nvidia", 2, align=False, class_idx=w.G.c_dim))
    # Global (fast) text edits compute the relevance over faces of the chosen class.
    from companions.clip import load_clip
    clip = load_clip(os.path.join(ROOT, "checkpoints", "avataaars64", "clip"))
    w.clip_loader = lambda: clip
    last = list(w.text_edit("smiling", method="global (fast)", class_idx=1))[-1]
    assert last.done and "style channels moved" in last.note


def test_requests_at_once_never_see_each_others_changes(studio, monkeypatch):
    """StyleGAN3 rotation and StyleSpace edits run beside plain generation: every plain image
    stays the plain image (before, edits changed the shared model for everyone)."""
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    w3 = studio.workspace(None, "sg3-t-32/network.pkl")
    w2 = studio.workspace("avataaars-64")
    plain3 = np.asarray(w3.generate_one(5, 0.7)[0])
    plain2 = np.asarray(w2.generate_one(5, 0.7)[0])
    layer = w2.style_layer_names()[3]
    errors, stop = [], threading.Event()

    def editors():
        while not stop.is_set():
            list(w3.generate("0-3", rotate=90, translate=(0.3, 0.2)))
            w2.stylespace(5, layer, 3, 40)

    def checker():
        for _ in range(40):
            if not np.array_equal(np.asarray(w3.generate_one(5, 0.7)[0]), plain3):
                errors.append("sg3")
            if not np.array_equal(np.asarray(w2.generate_one(5, 0.7)[0]), plain2):
                errors.append("stylespace")
    t = [threading.Thread(target=editors), threading.Thread(target=editors)]
    [x.start() for x in t]
    checker()
    stop.set()
    [x.join() for x in t]
    assert errors == []
    assert torch.equal(w3.G.synthesis.input.transform, torch.eye(3))
    assert not any(m._forward_hooks for m in w2.G.modules())


def test_analyses_are_computed_once_per_model(embedded):
    first = embedded.direction(3, "GANSpace", 2, strength=2)
    assert "ganspace" in embedded._analyses
    again = embedded.direction(3, "GANSpace", 2, strength=2)
    assert first.strip.tobytes() == again.strip.tobytes()


# --- result files -------------------------------------------------------------------------

def test_result_files_are_deleted_after_an_hour(tmp_path):
    files = ResultFiles(str(tmp_path), max_age=3600, sweep_every=0)
    old = files.path("old.npz")
    open(old, "w").close()
    folder = os.path.dirname(old)
    past = time.time() - 3601
    os.utime(folder, (past, past))
    fresh = files.path("fresh.npz")  # a new request sweeps
    open(fresh, "w").close()
    assert not os.path.exists(folder) and os.path.exists(fresh)
    assert files.sweep(now=time.time() + 3601) == 1 and not os.path.exists(fresh)


# --- text edits -----------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (("",), "prompt: write what the edit should give"),
    (("x" * 201,), "prompt is too long (at most 200 characters)"),
    ((None,), "prompt: write what the edit should give"),
    (("smiling", "", "magic"), "method must be one of optimization, global (fast), global (exact)"),
    (("smiling", "", "global (fast)", float("nan")), "α (strength) must be a number from -20 to 20; got nan"),
    (("smiling", "", "global (fast)", 4, float("inf")), "β (disentanglement threshold) must be a number from 0 to 1"),
    (("smiling", "", "optimization", 4, 0.1, -3), "steps must be a whole number from 0 to 2000"),
    (("smiling", "", "global (fast)", 4, 0.1, None, float("nan")), "seed must be a whole number"),
    (("smiling", "smiling"), "mean the same to CLIP"),
])
def test_text_edit_fields_are_checked(embedded, args, message):
    with pytest.raises(StudioError) as e:
        next(embedded.text_edit(*args))
    assert message in str(e.value)


def test_text_edits_of_the_embedded_model(embedded, tmp_path):
    assert embedded.text_methods() == ["optimization", "global (fast)", "global (exact)"]
    for method in ("global (fast)", "global (exact)"):
        (last,) = list(embedded.text_edit("with sunglasses", "", method, 6, 0.1, seed=3))
        assert last.done and last.image.size == (128, 64) and "style channels moved" in last.note
        assert last.styles and set(last.styles) <= set(embedded.style_layer_names())
    updates = list(embedded.text_edit("smiling", method="optimization", steps=4, seed=3))
    assert [u.step for u in updates] == [1, 2, 3, 4] and updates[-1].done and not updates[-2].done
    assert "keeping" in updates[-1].note and updates[-1].ws.shape == (1, 10, 128)
    path = embedded.save_latents(str(tmp_path / "e.npz"), updates[-1].ws, styles=last.styles)
    assert torch.equal(embedded.latents(path), updates[-1].ws)  # the edit's latent goes on to other tabs
    stopped = list(embedded.text_edit("smiling", method="optimization", steps=2000, seed=3, time_limit=0.5))
    assert stopped[-1].done and stopped[-1].step < 2000 and "stopped after" in stopped[-1].note


def test_a_model_without_a_clip_of_its_own_says_when_the_hub_clip_is_missing(studio, monkeypatch):
    monkeypatch.setenv("STUDIO_LOCAL_DIRS", FIXTURES)
    monkeypatch.setenv("STUDIO_CLIP_MODEL", "no-such-clip-model")
    w = studio.workspace(None, os.path.join(FIXTURES, "ada-skip-64", "network.pkl"))
    assert w.text_methods() == ["optimization", "global (fast)"]
    with pytest.raises(StudioError, match=r"the CLIP model for text edits \(no-such-clip-model, .*\) could not be loaded"):
        next(w.text_edit("smiling"))
    with pytest.raises(StudioError, match="exact global directions need StyleCLIP's precomputation"):
        monkeypatch.setattr(w, "clip_loader", lambda: None)
        next(w.text_edit("smiling", method="global (exact)"))


def test_exact_directions_are_refused_when_the_shipped_relevance_is_for_other_clip_weights(embedded, monkeypatch):
    """Never StyleCLIP's minutes-long precomputation inside a request: a shipped exact relevance made
    with other CLIP weights counts as none."""
    import dataclasses
    clip = embedded.clip()
    other = dataclasses.replace(clip, fingerprint="sha256:other-weights")
    monkeypatch.setattr(embedded, "clip_loader", lambda: other)
    with pytest.raises(StudioError, match="precomputation for this model and this CLIP"):
        next(embedded.text_edit("smiling", method="global (exact)"))


def test_a_missing_optional_package_is_named_not_a_generic_failure(monkeypatch):
    import importlib
    import sys
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # as if it were not installed
    with pytest.raises(ImportError) as e:
        importlib.import_module("facenet_pytorch")
    message = public_message(e.value)
    assert "'facenet_pytorch'" in message and "not installed" in message and "/" not in message.replace("requirements.txt", "")
    assert "Something went wrong" not in message
