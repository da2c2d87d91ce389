"""Checkpoint formats: official pickles of other configurations, refused pickles,
rosinality files, wrong kinds of file."""
import argparse
import os
import pickle

import pytest
import torch
from conftest import FIXTURES
from official_pickle import official_pickle_bytes

import stylegan


def perturb_(G, seed=0):
    """Move every parameter and buffer off its initial value, so a dropped term shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if t is None or not t.is_floating_point():
                continue
            if name.endswith(("resample_filter", "up_filter", "down_filter", "transform", "freqs", "phases")):
                continue
            t.add_(0.1 * torch.randn(t.shape, generator=g))
            if name.endswith("magnitude_ema"):
                t.abs_().add_(0.5)
    return G


CONFIGS = {
    "sg2-resnet-1ch-32": (stylegan.StyleGAN2Generator, dict(
        z_dim=32, c_dim=0, w_dim=48, img_resolution=32, img_channels=1,
        mapping_kwargs=dict(num_layers=4), synthesis_kwargs=dict(architecture="resnet", channel_base=256, channel_max=24, conv_clamp=256))),
    "sg2-cond-orig-16": (stylegan.StyleGAN2Generator, dict(
        z_dim=16, c_dim=4, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=1, embed_features=8, layer_features=24),
        synthesis_kwargs=dict(architecture="orig", channel_base=128, channel_max=16))),
    "sg2-sg3repo-style-128": (stylegan.StyleGAN2Generator, dict(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=128, img_channels=4, channel_base=256, channel_max=8, num_fp16_res=3, conv_clamp=256)),
    "sg3-t-cond-16": (stylegan.StyleGAN3Generator, dict(
        z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=16,
        mapping_kwargs=dict(num_layers=3))),
    "sg3-r-2ch-64": (stylegan.StyleGAN3Generator, dict(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=64, img_channels=2, channel_base=1024, channel_max=16,
        conv_kernel=1, use_radial_filters=True, num_layers=8, margin_size=4)),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_official_pickle_of_any_configuration_loads_exactly(name, tmp_path):
    cls, init_kwargs = CONFIGS[name]
    torch.manual_seed(0)
    G = perturb_(cls(**init_kwargs).eval())
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(official_pickle_bytes(G, init_kwargs))
    G2 = stylegan.load(str(path), device="cpu")
    assert type(G2) is cls and G2.num_ws == G.num_ws
    z = torch.randn([3, G.z_dim])
    c = torch.eye(G.c_dim)[[0, 1, 2 % max(G.c_dim, 1)]] if G.c_dim else None
    with torch.no_grad():
        a = G(z, c, truncation_psi=0.6, noise_mode="const")
        b = G2(z, c, truncation_psi=0.6, noise_mode="const")
    assert a.shape == (3, init_kwargs["img_channels"], init_kwargs["img_resolution"], init_kwargs["img_resolution"])
    assert torch.equal(a, b)


def test_embedded_source_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    src = f"open({str(marker)!r}, 'w').write('ran')\nclass Generator: pass\n"
    cls, kw = CONFIGS["sg3-t-cond-16"]
    G = cls(**kw).eval()
    path = tmp_path / "net.pkl"
    path.write_bytes(official_pickle_bytes(G, kw, module_src=src))
    G2 = stylegan.load(str(path), device="cpu")
    assert isinstance(G2, cls)
    assert not marker.exists()


class CallsSystem:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_pickle_that_calls_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    cls, kw = CONFIGS["sg2-cond-orig-16"]
    G = cls(**kw).eval()
    path = tmp_path / "evil.pkl"
    path.write_bytes(official_pickle_bytes(G, kw, extra={"augment_pipe": CallsSystem(f"touch {marker}")}))
    with pytest.raises(stylegan.UnsafePickleError) as e:
        stylegan.load(str(path), device="cpu")
    assert "system" in str(e.value)  # names what it asked for (posix.system)
    assert not marker.exists()


def test_rosinality_file_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    ckpt = torch.load(os.path.join(FIXTURES, "rosinality-64", "converted.pt"), weights_only=True)
    ckpt["args"] = CallsSystem(f"touch {marker}")
    torch.save(ckpt, path)
    with pytest.raises(stylegan.UnsafePickleError):
        stylegan.load(str(path), device="cpu")
    assert not marker.exists()


def test_rosinality_training_checkpoint_with_namespace_loads():
    ckpt = torch.load(os.path.join(FIXTURES, "rosinality-64", "checkpoint.pt"), weights_only=False)
    assert isinstance(ckpt["args"], argparse.Namespace)  # the case weights_only=True alone rejects
    G = stylegan.load(os.path.join(FIXTURES, "rosinality-64", "checkpoint.pt"), device="cpu")
    # No latent_avg in a training checkpoint: w_avg is estimated from the mapping network.
    with torch.no_grad():
        w = G.mapping(torch.randn(4000, G.z_dim), None)[:, 0].mean(0)
    assert torch.allclose(G.mapping.w_avg, w, atol=0.15 * w.abs().max().item())


@pytest.mark.parametrize("content,match", [
    (b"", "neither"),
    (b"not a checkpoint at all", "neither"),
    (pickle.dumps({"D": 1, "augment_pipe": None}), "no generator"),
    (pickle.dumps([1, 2, 3]), "not a StyleGAN network"),
    (pickle.dumps({"G_ema": 5}), "no generator"),
    (b"\x80\x04\x95garbage", "not a readable"),
])
def test_wrong_files_give_clear_errors(tmp_path, content, match):
    path = tmp_path / "thing.pkl"
    path.write_bytes(content)
    with pytest.raises(stylegan.CheckpointError, match=match):
        stylegan.load(str(path), device="cpu")


def test_torch_file_that_is_not_a_stylegan(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(stylegan.CheckpointError, match="g_ema"):
        stylegan.load(str(path), device="cpu")


def test_discriminator_only_pickle_is_refused_clearly(tmp_path):
    from official_pickle import Persistent, persistent_state
    cls, kw = CONFIGS["sg2-cond-orig-16"]
    G = cls(**kw)
    path = tmp_path / "d.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Persistent("Discriminator", persistent_state(G.mapping, {}))}))
    with pytest.raises(stylegan.CheckpointError, match="Discriminator"):
        stylegan.load(str(path), device="cpu")


def test_unknown_source_names_the_choices():
    with pytest.raises(stylegan.CheckpointError, match="unknown model"):
        stylegan.load("definitely not a model", device="cpu")
    with pytest.raises(stylegan.CheckpointError, match="no such file"):
        stylegan.load("models/missing.pkl", device="cpu")


def test_load_caches_per_source_and_device():
    p = os.path.join(FIXTURES, "sg3-t-32", "network.pkl")
    a = stylegan.load(p, device="cpu")
    assert stylegan.load(p, device="cpu") is a
    assert stylegan.load(p) is a or torch.cuda.is_available()  # None = CUDA if available, else CPU
    assert a.device.type == "cpu"


def test_load_cache_keeps_only_the_most_recently_used(tmp_path, monkeypatch):
    """A Space loading upload after upload must not keep every model in memory."""
    import gc
    import shutil
    import weakref
    monkeypatch.setattr(stylegan, "CACHE_SIZE", 2)
    paths = []
    for i in range(3):  # three uploads of one checkpoint under different names
        paths.append(str(tmp_path / f"upload{i}.pkl"))
        shutil.copy(os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), paths[-1])
    first = weakref.ref(stylegan.load(paths[0], device="cpu"))
    second = stylegan.load(paths[1], device="cpu")
    assert stylegan.load(paths[0], device="cpu") is first()  # used again: now the most recent
    stylegan.load(paths[2], device="cpu")  # evicts paths[1], the least recently used
    gc.collect()
    assert first() is not None and stylegan.load(paths[0], device="cpu") is first()
    assert stylegan.load(paths[1], device="cpu") is not second  # loaded afresh


def test_pickle_asking_for_an_enormous_array_is_a_clear_error(tmp_path):
    # Hand-assembled protocol 2: numpy.core.multiarray._reconstruct(ndarray, (2**62,), b"b").
    payload = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
               b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x85C\x01b\x87R.")  # shape (2**62,)
    path = tmp_path / "bomb.pkl"
    path.write_bytes(payload)
    with pytest.raises(stylegan.CheckpointError):
        stylegan.load(str(path), device="cpu")


def test_constructor_arguments_that_make_no_sense_are_a_clear_error(tmp_path):
    cls, kw = CONFIGS["sg2-cond-orig-16"]
    G = cls(**kw)
    path = tmp_path / "odd.pkl"
    path.write_bytes(official_pickle_bytes(G, {**kw, "img_resolution": 15}))
    with pytest.raises(stylegan.CheckpointError, match="power of two"):
        stylegan.load(str(path), device="cpu")


def test_rosinality_checkpoint_without_noise_buffers_still_loads(tmp_path):
    ckpt = torch.load(os.path.join(FIXTURES, "rosinality-64", "converted.pt"), weights_only=True)
    ckpt["g_ema"] = {k: v for k, v in ckpt["g_ema"].items() if not k.startswith("noises.")}
    torch.save(ckpt, tmp_path / "old.pt")
    G = stylegan.load(str(tmp_path / "old.pt"), device="cpu")
    with torch.no_grad():
        assert torch.isfinite(G(torch.randn(2, G.z_dim), None, noise_mode="none")).all()
    # and one that lost a weight is a clear error, not a KeyError
    del ckpt["g_ema"]["convs.1.conv.weight"]
    torch.save(ckpt, tmp_path / "broken.pt")
    with pytest.raises(stylegan.CheckpointError, match="not a complete"):
        stylegan.load(str(tmp_path / "broken.pt"), device="cpu")
