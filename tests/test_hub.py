"""Downloads through huggingface_hub against a local stand-in for the Hub (HF_ENDPOINT),
so the real download path (cache, revision, errors, offline mode) runs offline."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from conftest import FIXTURES, ROOT
from hub_server import FakeHub

import stylegan

PKL = os.path.join(FIXTURES, "ada-skip-64", "network.pkl")


def local_checksum(path_or_G):
    G = stylegan.load(path_or_G, device="cpu") if isinstance(path_or_G, str) else path_or_G
    z = torch.randn([2, 64], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float(G(z[:, :G.z_dim], None, noise_mode="const").double().sum())


def run_client(sources, endpoint, hf_home, offline=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "hub_client.py"), *sources],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len([s for s in sources if s != "--offline"]), out.stdout + out.stderr[-3000:]
    return {r["source"]: r for r in results}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = FakeHub()
    with open(PKL, "rb") as f:
        hub.add_file("nvidia-mirror/stylegan2", "models/ada-skip-64.pkl", f.read())
    # A second revision of the same file: another network.
    with open(os.path.join(FIXTURES, "ada-orig-32", "network.pkl"), "rb") as f:
        hub.add_file("nvidia-mirror/stylegan2", "models/ada-skip-64.pkl", f.read(), revision="v2")
    with open(os.path.join(FIXTURES, "tf-sg2-skip-32", "network.pkl"), "rb") as f:
        hub.add_file("nvidia-mirror/stylegan2", "models/tf-sg2-skip-32.pkl", f.read())  # a TensorFlow-era pickle
    from companions.clip import build_embedded, save_embedded
    clip_dir = tmp_path_factory.mktemp("clip")
    save_embedded(build_embedded(seed=3), str(clip_dir))
    for name in os.listdir(clip_dir):
        with open(clip_dir / name, "rb") as f:
            hub.add_file("studio/avataaars-clip", name, f.read())
    hub.clip_dir = str(clip_dir)
    native = tmp_path_factory.mktemp("native")
    stylegan.load(os.path.join(FIXTURES, "sg3-r-32", "network.pkl"), device="cpu").save_pretrained(native)
    for name in os.listdir(native):
        with open(native / name, "rb") as f:
            hub.add_file("studio/sg3-r-32", name, f.read())
    endpoint = hub.start()
    yield hub, endpoint
    hub.stop()


def test_downloads_through_the_hub_client(hub, tmp_path):
    fake, endpoint = hub
    src_pkl = "nvidia-mirror/stylegan2/models/ada-skip-64.pkl"
    src_rev = "nvidia-mirror/stylegan2@v2/models/ada-skip-64.pkl"
    src_native = "studio/sg3-r-32"
    src_registry = "registry:nvidia-mirror/stylegan2|models/ada-skip-64.pkl"
    missing_repo = "nobody/nothing/models/x.pkl"
    missing_file = "nvidia-mirror/stylegan2/models/absent.pkl"
    missing_rev = "nvidia-mirror/stylegan2@v9/models/ada-skip-64.pkl"
    src_diffusers = "from_pretrained:studio/sg3-r-32"
    src_tf = "nvidia-mirror/stylegan2/models/tf-sg2-skip-32.pkl"
    r = run_client([src_pkl, src_rev, src_native, src_registry, missing_repo, missing_file, missing_rev, src_diffusers, src_tf,
                    "--offline", src_pkl, src_native, missing_file], endpoint, tmp_path)

    assert r[src_pkl]["ok"] and r[src_pkl]["checksum"] == pytest.approx(local_checksum(PKL), rel=1e-6)
    assert r[src_rev]["ok"] and r[src_rev]["checksum"] == pytest.approx(
        local_checksum(os.path.join(FIXTURES, "ada-orig-32", "network.pkl")), rel=1e-6)
    assert r[src_native]["ok"] and r[src_native]["class"] == "StyleGAN3Generator"
    assert r[src_native]["checksum"] == pytest.approx(local_checksum(os.path.join(FIXTURES, "sg3-r-32", "network.pkl")), rel=1e-6)
    assert r[src_registry]["ok"]
    assert r[src_tf]["ok"] and r[src_tf]["checksum"] == pytest.approx(
        local_checksum(os.path.join(FIXTURES, "tf-sg2-skip-32", "network.pkl")), rel=1e-6)
    assert r[src_diffusers]["ok"] and r[src_diffusers]["checksum"] == pytest.approx(r[src_native]["checksum"], rel=1e-6)
    assert not r[missing_repo]["ok"] and "nobody/nothing" in r[missing_repo]["message"] and "no such repo" in r[missing_repo]["message"]
    assert not r[missing_file]["ok"] and "absent.pkl" in r[missing_file]["message"] and "no such file" in r[missing_file]["message"]
    assert not r[missing_rev]["ok"] and "v9" in r[missing_rev]["message"]
    # The files went into huggingface_hub's cache layout.
    snapshots = tmp_path / "hub" / "models--nvidia-mirror--stylegan2" / "snapshots"
    assert any(p.name == "ada-skip-64.pkl" for p in snapshots.rglob("*.pkl"))

    # Offline mode: what is cached still loads, what is not says so, without asking the server.
    assert r["offline:" + src_pkl]["ok"] and r["offline:" + src_native]["ok"]
    assert not r["offline:" + missing_file]["ok"] and "offline" in r["offline:" + missing_file]["message"]
    offline_since = r["offline:" + src_pkl]["started"]
    assert fake.requests and not [q for q in fake.requests if q[2] >= offline_since]  # the server was never asked


def test_unreachable_hub_fails_fast_with_a_clear_message(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    src = "someone/some-stylegan/network.pkl"
    r = run_client([src, "stylegan3-t-ffhq-1024"], f"http://127.0.0.1:{port}", tmp_path)
    for res in r.values():
        assert not res["ok"] and res["error"] == "HubError"
        assert "cannot be reached" in res["message"]
        assert res["seconds"] < 10
    assert "someone/some-stylegan" in r[src]["message"] and "network.pkl" in r[src]["message"]
    assert "public-data/StyleGAN3" in r["stylegan3-t-ffhq-1024"]["message"]


def test_stalled_hub_fails_within_the_stall_limit(tmp_path):
    """A Hub that accepts the connection and never answers: huggingface_hub alone would retry
    for minutes; the download gives up after STYLEGAN_HUB_STALL_S (15 s by default; 3 here)."""
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept_and_hold():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                pass
    threading.Thread(target=accept_and_hold, daemon=True).start()
    try:
        os.environ["STYLEGAN_HUB_STALL_S"] = "3"
        src = "someone/stalled-stylegan/network.pkl"
        r = run_client([src], f"http://127.0.0.1:{server.getsockname()[1]}", tmp_path)[src]
    finally:
        os.environ.pop("STYLEGAN_HUB_STALL_S", None)
        stop.set()
        server.close()
    assert not r["ok"] and r["error"] == "HubError", r
    assert "stopped answering" in r["message"] and "someone/stalled-stylegan" in r["message"] and "network.pkl" in r["message"]
    assert r["seconds"] < 8


def test_registry_is_complete():
    from stylegan.registry import load_registry
    reg = load_registry()
    names = " ".join(reg)
    for needle in ("stylegan2-ffhq-1024", "stylegan3-t-ffhq-1024", "stylegan3-r-ffhq-1024", "afhqv2", "metfaces", "lsundog"):
        assert needle in names
    for e in reg.values():
        assert e.network in ("stylegan2", "stylegan3") and e.format in ("nvidia-pkl", "rosinality-pt", "hub-native")
        assert e.resolution > 0 and e.license and e.description.endswith(".")
        assert e.path or (e.repo and (e.file or e.format == "hub-native"))


def test_a_clip_in_open_clips_hub_layout_downloads_and_loads(hub, tmp_path):
    """The embedded CLIP's layout (open_clip_config.json + open_clip_model.safetensors) through
    open_clip's own "hf-hub:" path, against the local stand-in for the Hub."""
    fake, endpoint = hub
    from companions.clip import load_clip
    src = "clip:hf-hub:studio/avataaars-clip"
    r = run_client([src, "clip:hf-hub:nobody/no-clip"], endpoint, tmp_path)
    local = load_clip(fake.clip_dir).encode_texts(["a cartoon face with sunglasses"])
    assert r[src]["ok"] and r[src]["checksum"] == pytest.approx(float(local.double().sum()), rel=1e-6)
    assert r[src]["templates"][0] == "{}"  # the cartoon templates travel with the config
    assert not r["clip:hf-hub:nobody/no-clip"]["ok"]
