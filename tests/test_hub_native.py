"""The Hub-native format: save_pretrained -> from_pretrained, and the converter, give
identical outputs; diffusers' options (torch_dtype, subfolder) work."""
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import FIXTURES, ROOT, fixture_names

import stylegan


def source_file(name):
    return os.path.join(FIXTURES, name, "converted.pt" if "rosinality" in name else "network.pkl")


def outputs(G, seed=0):
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(seed))
    c = torch.eye(G.c_dim)[[0, 1]] if G.c_dim else None
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode="const")


@pytest.mark.parametrize("name", fixture_names())
def test_save_pretrained_round_trip_is_identical(name, tmp_path):
    G = stylegan.load(source_file(name), device="cpu")
    G.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "diffusion_pytorch_model.safetensors"]
    G2 = type(G).from_pretrained(tmp_path)
    assert not G2.training
    assert torch.equal(outputs(G), outputs(G2))
    G3 = stylegan.load(str(tmp_path), device="cpu")
    assert torch.equal(outputs(G), outputs(G3))


@pytest.mark.parametrize("name", ["rosinality-64", "tf-sg2-cond-resnet-32"])
def test_convert_cli_round_trip_is_identical(name, tmp_path):
    src = source_file(name)
    out = tmp_path / "converted"
    res = subprocess.run([sys.executable, "-m", "stylegan.convert", src, str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert {"config.json", "diffusion_pytorch_model.safetensors", "README.md"} <= set(os.listdir(out))
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "StyleGAN2" in card and "never executes code" in card
    assert json.loads((out / "config.json").read_text())["_class_name"] == "StyleGAN2Generator"
    assert torch.equal(outputs(stylegan.load(src, device="cpu")), outputs(stylegan.load(str(out), device="cpu")))


def test_convert_cli_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"nope")
    res = subprocess.run([sys.executable, "-m", "stylegan.convert", str(bad), str(tmp_path / "o")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr


def test_fp16_conversion_and_torch_dtype(tmp_path):
    from stylegan.convert import convert
    src = source_file("sg3-t-32")
    convert(src, tmp_path / "half", fp16=True)
    from safetensors.torch import load_file
    stored = load_file(tmp_path / "half" / "diffusion_pytorch_model.safetensors")
    assert all(t.dtype == torch.float16 for t in stored.values())
    half = stylegan.StyleGAN3Generator.from_pretrained(tmp_path / "half", torch_dtype=torch.float16, low_cpu_mem_usage=False)
    assert next(half.parameters()).dtype == torch.float16
    full = stylegan.StyleGAN3Generator.from_pretrained(tmp_path / "half", torch_dtype=torch.float32, low_cpu_mem_usage=False)
    ref = outputs(stylegan.load(src, device="cpu"))
    assert (outputs(full) - ref).abs().max() < 0.05 * ref.abs().max()


def test_subfolder(tmp_path):
    G = stylegan.load(source_file("ada-cond-32"), device="cpu")
    G.save_pretrained(tmp_path / "generator")
    G2 = stylegan.StyleGAN2Generator.from_pretrained(tmp_path, subfolder="generator")
    assert torch.equal(outputs(G), outputs(G2))


def test_folder_of_another_model_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(stylegan.CheckpointError, match="does not describe a StyleGAN generator"):
        stylegan.load(str(tmp_path), device="cpu")


def test_unknown_config_keys_are_ignored_and_reported_as_diffusers_does(tmp_path):
    """A config.json with keys the generator does not take (a newer exporter's, a typo) loads as
    diffusers' own from_pretrained loads it, with the keys named; the size checks still apply."""
    import shutil

    from studio import Workspace
    src = os.path.join(ROOT, "checkpoints", "avataaars64")
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        shutil.copy(os.path.join(src, name), tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "exported_by": "tool 9", "fancy_new_option": True}))
    G = stylegan.load(str(tmp_path), device="cpu")
    reference = type(G).from_pretrained(str(tmp_path))  # diffusers: loads, and ignores them
    assert torch.equal(outputs(G), outputs(reference))
    assert G.ignored_config_keys == ["exported_by", "fancy_new_option"]
    assert "ignored: exported_by, fancy_new_option" in Workspace(G, "x").describe()
    giant = tmp_path / "giant"
    giant.mkdir()
    (giant / "config.json").write_text(json.dumps({**config, "unknown": 1, "img_resolution": 65536}))
    with pytest.raises(stylegan.CheckpointError, match="img_resolution = 65536"):
        stylegan.load(str(giant), device="cpu")
