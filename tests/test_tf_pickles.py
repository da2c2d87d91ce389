"""TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2, the TensorFlow stylegan2-ada): every
configuration converts exactly, hostile ones are refused and nothing in them runs. The official
outputs of the two fixtures (tests/fixtures/tf-*) are checked in test_reference_fixtures.py."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from test_loaders import perturb_
from tf_pickle import _network_class, tf_pickle_bytes

import stylegan
from stylegan.tf_pickles import convert_arguments

# (TensorFlow static_kwargs, the constructor arguments NVIDIA's converter gives for them: written
# out by hand from its argument table, not by our converter), state version.
CONFIGS = {
    "orig-1ch-16-v4": (dict(num_channels=1, resolution=16, label_size=0, fmap_base=64, fmap_max=24, latent_size=32,
                            dlatent_size=40, mapping_layers=3, mapping_fmaps=20, architecture="orig"),
                       dict(z_dim=32, c_dim=0, w_dim=40, img_resolution=16, img_channels=1, channel_base=128, channel_max=24,
                            num_fp16_res=0, conv_clamp=None, architecture="orig", resample_filter=[1, 3, 3, 1],
                            use_noise=True, activation="lrelu",
                            mapping_kwargs=dict(num_layers=3, embed_features=None, layer_features=20, activation="lrelu",
                                                lr_multiplier=0.01, w_avg_beta=0.995)), 4),
    "skip-cond-4ch-64-v5": (dict(num_channels=4, resolution=64, label_size=3, label_fmaps=12, fmap_base=128, fmap_max=16,
                                 latent_size=24, dlatent_size=24, mapping_layers=1, num_fp16_res=2, conv_clamp=256,
                                 mapping_lrmul=0.1, truncation_psi=0.5),
                            dict(z_dim=24, c_dim=3, w_dim=24, img_resolution=64, img_channels=4, channel_base=256,
                                 channel_max=16, num_fp16_res=2, conv_clamp=256, architecture="skip",
                                 resample_filter=[1, 3, 3, 1], use_noise=True, activation="lrelu",
                                 mapping_kwargs=dict(num_layers=1, embed_features=12, layer_features=None,
                                                     activation="lrelu", lr_multiplier=0.1, w_avg_beta=0.995)), 5),
    "resnet-8-v4-filter": (dict(resolution=8, fmap_base=64, fmap_max=32, latent_size=16, dlatent_size=16, mapping_layers=2,
                                architecture="resnet", resample_kernel=[1, 2, 1], w_avg_beta=None),
                           dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=8, img_channels=3, channel_base=128,
                                channel_max=32, num_fp16_res=0, conv_clamp=None, architecture="resnet",
                                resample_filter=[1, 2, 1], use_noise=True, activation="lrelu",
                                mapping_kwargs=dict(num_layers=2, embed_features=None, layer_features=None,
                                                    activation="lrelu", lr_multiplier=0.01, w_avg_beta=1)), 4),
}


def outputs(G, seed=0):
    z = torch.randn([3, G.z_dim], generator=torch.Generator().manual_seed(seed))
    c = torch.eye(G.c_dim)[[0, 1, 2 % max(G.c_dim, 1)]] if G.c_dim else None
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode="const")


def made(name):
    static_kwargs, init_kwargs, version = CONFIGS[name]
    torch.manual_seed(0)
    return static_kwargs, perturb_(stylegan.StyleGAN2Generator(**init_kwargs).eval()), version


@pytest.mark.parametrize("name", CONFIGS)
def test_arguments_convert_as_nvidias_table_says(name):
    static_kwargs, init_kwargs, _ = CONFIGS[name]
    assert convert_arguments(static_kwargs) == init_kwargs


@pytest.mark.parametrize("numpy1_names", [True, False], ids=["numpy1-names", "numpy2-names"])
@pytest.mark.parametrize("name", CONFIGS)
def test_any_configuration_loads_exactly(name, numpy1_names, tmp_path):
    static_kwargs, G, version = made(name)
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(tf_pickle_bytes(G, static_kwargs, version=version, numpy1_names=numpy1_names))
    G2 = stylegan.load(str(path), device="cpu")
    assert type(G2) is stylegan.StyleGAN2Generator and G2.num_ws == G.num_ws
    ours, theirs = G.state_dict(), G2.state_dict()
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), k
    assert torch.equal(outputs(G), outputs(G2))


def test_the_fixture_arguments_are_nvidias():
    """The converted constructor arguments equal those NVIDIA's converter gave (config.json)."""
    for name in ("tf-sg2-skip-32", "tf-sg2-cond-resnet-32"):
        with open(os.path.join(FIXTURES, name, "config.json")) as f:
            cfg = json.load(f)
        assert convert_arguments(cfg["tf_pickle"]["G_static_kwargs"]) == cfg["init_kwargs"]


def test_gs_is_taken_not_g(tmp_path):
    """The writer gives G all-zero weights: a converter that took G would give zero images."""
    static_kwargs, G, version = made("orig-1ch-16-v4")
    path = tmp_path / "n.pkl"
    path.write_bytes(tf_pickle_bytes(G, static_kwargs, version=version))
    assert outputs(stylegan.load(str(path), device="cpu")).abs().max() > 0.01


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_os_system_in_static_kwargs_is_refused_and_nothing_runs(tmp_path):
    """NVIDIA's loader unpickles any global: this file would run `touch` and still give a network."""
    static_kwargs, G, version = made("orig-1ch-16-v4")
    marker = tmp_path / "pwned"
    hostile = dict(static_kwargs, nonlinearity=_System(f"touch {marker}"))
    path = tmp_path / "evil.pkl"
    path.write_bytes(tf_pickle_bytes(G, hostile, version=version))
    with pytest.raises(stylegan.UnsafePickleError, match=r"asks for `posix\.system`.*Nothing from it was executed"):
        stylegan.load(str(path), device="cpu")
    assert not marker.exists()


def test_embedded_build_module_src_is_never_executed(tmp_path):
    static_kwargs, G, version = made("resnet-8-v4-filter")
    marker = tmp_path / "ran"
    src = f"open({str(marker)!r}, 'w').write('x')\nimport tensorflow\n"
    path = tmp_path / "n.pkl"
    path.write_bytes(tf_pickle_bytes(G, static_kwargs, version=version, build_module_src=src))
    assert torch.equal(outputs(stylegan.load(str(path), device="cpu")), outputs(G))
    assert not marker.exists()


def _laughs(levels=8, width=10):
    """One list referred to width**levels times: a few hundred bytes in a pickle."""
    lol = [1.0] * width
    for _ in range(levels):
        lol = [lol] * width
    return lol


@pytest.mark.parametrize("change,match", [
    (lambda k: dict(k, fmap_decay=0.5), r"build arguments this converter does not know \('fmap_decay'\)"),
    (lambda k: dict(k, resolution="64"), r"resolution = '64'; it must be an integer"),
    (lambda k: dict(k, architecture="progressive"), r"architecture is 'progressive'"),
    (lambda k: dict(k, resolution=8192, fmap_base=1 << 20, fmap_max=4096), r"this server loads networks of at most"),
    (lambda k: dict(k, resolution=32), r"lacks the variable 'synthesis/32x32/Conv0_up/weight'"),
    (lambda k: dict(k, resample_kernel=_laughs()), r"more than 10,000 values \(counting repeats\)"),
])
def test_broken_or_giant_tf_pickles_are_clear_errors(change, match, tmp_path):
    static_kwargs, G, version = made("orig-1ch-16-v4")
    path = tmp_path / "n.pkl"
    path.write_bytes(tf_pickle_bytes(G, change(static_kwargs), version=version))
    with pytest.raises(stylegan.CheckpointError, match=match):
        stylegan.load(str(path), device="cpu")


def _edit_gs(path, edit):
    """Rewrite the pickle after changing Gs's state (through our own reader's records)."""
    from stylegan.loaders import read_nvidia_pickle
    with open(path, "rb") as f:
        G, D, Gs = read_nvidia_pickle(f)
    edit(Gs.state)
    Network = _network_class()

    def back(rec):
        state = dict(rec.state)
        state["components"] = {k: back(v) for k, v in state["components"].items()}
        return Network(state)
    path.write_bytes(pickle.dumps((back(G), back(D), back(Gs)), protocol=4))


@pytest.mark.parametrize("edit,match", [
    (lambda s: s.update(version=3), r"version 3; StyleGAN2's are 4"),
    (lambda s: s["components"]["synthesis"].state.update(build_func_name="G_synthesis_stylegan_revised"),
     r"built by 'G_synthesis_stylegan_revised'"),
    (lambda s: s["components"]["mapping"].state["variables"].append(("LabelConcat/weight", np.zeros((2, 2), np.float32))),
     r"LabelConcat"),
    (lambda s: s["variables"].append(("dlatent_avg", np.zeros(3, np.int64))), r"'dlatent_avg' is int64, not a floating-point"),
    (lambda s: s.update(components={}), r"no mapping and synthesis components"),
    (lambda s: s["variables"].__setitem__(0, ("dlatent_avg", np.zeros(5, np.float32))), r"wrong shape: mapping.w_avg \[5\]"),
])
def test_odd_networks_in_the_format_are_clear_errors(edit, match, tmp_path):
    static_kwargs, G, version = made("orig-1ch-16-v4")
    path = tmp_path / "n.pkl"
    path.write_bytes(tf_pickle_bytes(G, static_kwargs, version=version))
    _edit_gs(path, edit)
    with pytest.raises(stylegan.CheckpointError, match=match):
        stylegan.load(str(path), device="cpu")


def test_a_tuple_that_is_not_g_d_gs_is_refused(tmp_path):
    Network = _network_class()
    path = tmp_path / "n.pkl"
    path.write_bytes(pickle.dumps((Network({"version": 4}),), protocol=4))
    with pytest.raises(stylegan.CheckpointError, match=r"holds 1 items; a StyleGAN2 pickle holds \(G, D, Gs\)"):
        stylegan.load(str(path), device="cpu")


def test_a_network_whose_state_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "n.pkl"
    # NEWOBJ of the class, then BUILD with a list as its state
    path.write_bytes(b"\x80\x04\x8c\x14dnnlib.tflib.network\x8c\x07Network\x93)\x81]b.")
    with pytest.raises(stylegan.CheckpointError, match="has no state dict"):
        stylegan.load(str(path), device="cpu")
