"""Look inside (editing/inspect.py, studio/tasks/inspect.py): activations and spectra against
their plain definitions."""
import math
import os

import pytest
import torch
from conftest import FIXTURES

import stylegan
from editing import inspect as ins
from editing.latents import seeds_to_ws


@pytest.fixture(scope="module")
def G():
    return stylegan.load("avataaars-64", device="cpu")


@pytest.fixture(scope="module")
def G3():
    return stylegan.load(os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), device="cpu")


def test_layers_and_their_activations(G, G3):
    names = ins.feature_layers(G)
    assert names[0] == "b4.conv1" and names[-1] == "b64.conv1" and not any(n.endswith("torgb") for n in names)
    ws = seeds_to_ws(G, [1, 2], 0.7)
    images, maps = ins.activations(G, ws, "b16.conv1")
    assert images.shape == (2, 3, 64, 64) and maps.shape == (2, G.synthesis.b16.conv1.out_channels, 16, 16)
    assert not G.synthesis.b16.conv1._forward_hooks                 # the shared model has no hook left
    names3 = ins.feature_layers(G3)
    assert names3[0].startswith("L0_") and len(names3) == G3.num_ws - 1 or len(names3) == G3.num_ws
    _, maps3 = ins.activations(G3, seeds_to_ws(G3, [0], 0.7), "L5_52_32")
    assert maps3.shape[-1] == 32                                     # 52 px with margins: the centre 32
    with pytest.raises(ValueError, match="no layer"):
        ins.LayerCapture(G, "b16.conv1; import os")


def test_maps_and_spectrum_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(1, 5, 8, 8, generator=g)
    norm = maps.pow(2).sum(1).sqrt()
    expected = (norm - norm.min()) / (norm.max() - norm.min())
    assert torch.allclose(ins.activation_map(maps), expected, atol=1e-6)
    one = ins.activation_map(maps, 2)
    assert torch.allclose(one, 0.5 + 0.5 * maps[:, 2] / maps[:, 2].abs().max(), atol=1e-6)
    with pytest.raises(ValueError, match="channel must be from 0 to 4"):
        ins.activation_map(maps, 5)
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    wave = torch.cos(2 * math.pi * 5 * x / 32)[None, None].expand(1, 3, 32, 32)   # 5 cycles across
    amp = ins.spectrum(wave)[0]
    peaks = {tuple(int(v) for v in p) for p in (amp == amp.max()).nonzero()}
    assert peaks == {(16, 16 - 5), (16, 16 + 5)}                    # (row, column), zero frequency at 16
    rgb = ins.heat_rgb(torch.tensor([[[0.0, 1.0]]]))
    assert rgb.shape == (1, 3, 1, 2) and rgb[0, :, 0, 0].max() < -0.9 and rgb[0, :, 0, 1].min() > 0.2


def test_stylegan3_activations_move_with_the_picture(G3):
    """Equivariance made visible: translated by 2 px (whole samples of the 16 px input), the
    feature-norm map is the untranslated one shifted by 2 px."""
    from editing.generate import make_transform_kwargs
    ws = seeds_to_ws(G3, [0], 0.7)
    _, a = ins.activations(G3, ws, "L5_52_32")
    _, b = ins.activations(G3, ws, "L5_52_32", **make_transform_kwargs(G3, (2 / 32, 0.0)))
    na, nb = a.norm(dim=1), b.norm(dim=1)
    err = float((nb[..., 4:28, 6:28] - na[..., 4:28, 4:26]).abs().max() / na.max())
    assert err < 5e-3, err                                           # 0.2% of the peak here


def test_the_look_inside_panel_in_the_studio(tmp_path):
    from studio import Studio, StudioError
    w = Studio().workspace("avataaars-64")
    look = w.inspect(seed=3)
    assert look.image.size == (3 * 256, 256) and look.note.startswith(w.inspect_task.default_layer())
    assert "norm over its channels" in look.note
    look = w.inspect(seed=3, layer="b8.conv0", channel=4)
    assert "channel 4" in look.note
    for kwargs, message in (({"layer": "b8.conv9"}, "^layer: no layer"), ({"channel": 999}, "^channel must be from -1"),
                            ({"channel": float("nan")}, "^channel"), ({"translate": (0.1, 0)}, "^translate: "),
                            ({"rotate": 1e9}, "^rotate")):
        with pytest.raises(StudioError, match=message):
            w.inspect(seed=3, **kwargs)
    path = w.save_latents(str(tmp_path / "one.npz"), seeds_to_ws(w.G, [3], 0.7))
    assert w.inspect(latents=path).image.size == (768, 256)
