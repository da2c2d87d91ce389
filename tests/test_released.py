"""The release files FFHQ tools use: pSp / e4e / ReStyle encoders, InterFaceGAN, e4e-style and
GANSpace direction files, StyleCLIP's global directions. Matched against outputs of the official
code (tests/fixtures/enc-*, dir-*; see the fixtures' README), in other configurations of the same
formats, and refused when hostile."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from safetensors.torch import load_file

import stylegan
from editing.directions import (
    PCA,
    DirectionFileError,
    apply_offsets,
    ganspace_edit,
    interfacegan_interpolate,
    load_direction_file,
)
from editing.encoder import load_encoder
from editing.text_edit import load_styleclip_global, style_direction, styleclip_layer_names


def cases(name):
    with open(os.path.join(FIXTURES, name, "cases.json")) as f:
        return json.load(f), load_file(os.path.join(FIXTURES, name, "cases.safetensors"))


def close(got, expected):
    got = got.detach().double().reshape(expected.shape)
    err = (got - expected.double()).abs().max().item()
    assert err <= 1e-4 * (1 + expected.abs().max().item()), err


def images(t):
    return t["images_u8"].float() / 255 * 2 - 1  # the official ToTensor + Normalize(0.5, 0.5)


# --- encoders -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["enc-e4e-64", "enc-psp-64", "enc-restyle-psp-64"])
def test_encoders_match_the_official_code(name):
    spec, t = cases(name)
    enc = load_encoder(os.path.join(FIXTURES, name, "checkpoint.pt"))
    G = stylegan.load_file(os.path.join(FIXTURES, name, "decoder.pt"))
    assert enc.fits(G) and enc.decoder is not None
    for case in spec:
        if case["kind"] == "encode":
            close(enc.encode(images(t)), t[case["output"]])
        elif case["kind"] == "restyle_encode":
            close(enc.encode(images(t), G=G, iterations=case["iterations"]), t[case["output"]])
        elif case["kind"] == "decode":
            for decoder in (G, enc.decoder):  # the file's own decoder is the same generator
                close(decoder.synthesis(t[case["input"]].reshape(-1, G.num_ws, G.w_dim), noise_mode="const"),
                      t[case["output"]])


def test_encoders_take_any_image_size():
    _, t = cases("enc-e4e-64")
    enc = load_encoder(os.path.join(FIXTURES, "enc-e4e-64", "checkpoint.pt"))
    x = images(t)
    big = x.repeat_interleave(4, 2).repeat_interleave(4, 3)   # 1024 px: face-pooled back to the same 256
    close(enc.encode(big), t["wplus"])
    assert enc.encode(x[:, :, ::4, ::4]).shape == (2, 10, 16)


def _resaved(tmp_path, name, edit, legacy=False):
    ckpt = torch.load(os.path.join(FIXTURES, name, "checkpoint.pt"), map_location="cpu", weights_only=True)
    edit(ckpt)
    path = tmp_path / f"{name}-variant.pt"
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return str(path)


@pytest.mark.parametrize("shape", ["w_dim", "1,w_dim"])
def test_latent_avg_of_one_w_is_broadcast(tmp_path, shape):
    _, t = cases("enc-psp-64")
    avg = t["latent_avg"][0]

    def edit(ckpt):
        ckpt["latent_avg"] = avg.clone() if shape == "w_dim" else avg[None].clone()
    enc = load_encoder(_resaved(tmp_path, "enc-psp-64", edit))
    close(enc.encode(images(t)), t["codes"] + avg)


def test_opts_without_optional_keys_and_a_legacy_file(tmp_path):
    _, t = cases("enc-e4e-64")

    def edit(ckpt):
        ckpt["opts"] = {"encoder_type": "Encoder4Editing"}
    enc = load_encoder(_resaved(tmp_path, "enc-e4e-64", edit, legacy=True))
    close(enc.encode(images(t)), t["wplus"])


def test_a_decoder_in_the_legacy_format(tmp_path):
    """decoder.pt re-saved as torch < 1.6 wrote files: the same generator."""
    _, t = cases("enc-e4e-64")
    legacy = tmp_path / "decoder-legacy.pt"
    torch.save(torch.load(os.path.join(FIXTURES, "enc-e4e-64", "decoder.pt"), map_location="cpu", weights_only=True),
               legacy, _use_new_zipfile_serialization=False)
    G = stylegan.load_file(str(legacy))
    close(G.synthesis(t["wplus"], noise_mode="const"), t["image"])


def test_no_latent_avg_means_none_is_added(tmp_path):
    _, t = cases("enc-e4e-64")
    enc = load_encoder(_resaved(tmp_path, "enc-e4e-64", lambda c: c.pop("latent_avg")))
    close(enc.encode(images(t)), t["codes"])


def test_restyle_e4e_variant_ignores_training_state(tmp_path):
    """ReStyle-e4e: w_0 from the first head, every other w = w_0 + its head's offset; the file's
    optimizer and discriminator entries are ignored."""
    _, t = cases("enc-restyle-psp-64")
    base = load_encoder(os.path.join(FIXTURES, "enc-restyle-psp-64", "checkpoint.pt"))

    def edit(ckpt):
        ckpt["opts"] = {**ckpt["opts"], "encoder_type": "ProgressiveBackboneEncoder"}
        ckpt["global_step"], ckpt["best_val_loss"] = 120000, 0.1
        ckpt["optimizer"] = {"state": {0: {"step": 3, "exp_avg": torch.zeros(3), "slow_buffer": torch.zeros(3)}}}
        ckpt["discriminator_state_dict"] = {"layers.0.weight": torch.zeros(4, 4)}
        ckpt["discriminator_optimizer_state_dict"] = {"state": {}}
    enc = load_encoder(_resaved(tmp_path, "enc-restyle-psp-64", edit))
    assert enc.family == "restyle-e4e" and enc.iterative
    x = torch.cat([images(t), base.average_image(base.decoder).expand(2, -1, -1, -1)], dim=1)
    heads = base.net(x)
    expected = torch.cat([heads[:, :1], heads[:, :1] + heads[:, 1:]], dim=1)
    close(enc.net(x), expected)


def test_a_w_space_psp_encoder(tmp_path):
    """pSp with learn_in_w: one code from the pooled last stage, broadcast over the styles."""
    _, t = cases("enc-psp-64")

    def edit(ckpt):
        sd = ckpt["state_dict"]
        for k in [k for k in sd if k.startswith(("encoder.styles", "encoder.latlayer"))]:
            del sd[k]
        sd["encoder.linear.weight"] = torch.randn(16, 24, generator=torch.Generator().manual_seed(0))
        sd["encoder.linear.bias"] = torch.linspace(-1, 1, 16)
        ckpt["opts"] = {**ckpt["opts"], "encoder_type": "BackboneEncoderUsingLastLayerIntoW", "learn_in_w": True}
        ckpt["latent_avg"] = ckpt["latent_avg"][:1].clone()
        edit.sd = sd
    enc = load_encoder(_resaved(tmp_path, "enc-psp-64", edit))
    ws = enc.encode(images(t))
    assert ws.shape == (2, 10, 16) and torch.equal(ws[:, 0], ws[:, 9])
    features = enc.net.body(enc.net.input_layer(images(t))).mean(dim=(2, 3))
    code = features @ (edit.sd["encoder.linear.weight"] / 24 ** 0.5).T + edit.sd["encoder.linear.bias"]
    close(ws[:, 0], code + t["latent_avg"][0])


def test_an_encoder_file_that_is_not_one_gets_a_message(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"encoder.foo": torch.zeros(1)}, "opts": {"encoder_type": "ResNetBackboneEncoder"}}, path)
    with pytest.raises(ValueError, match="encoder_type 'ResNetBackboneEncoder' is not one we read"):
        load_encoder(path)
    torch.save({"state_dict": {"encoder.input_layer.0.weight": torch.zeros(4, 3, 3, 3)},
                "opts": {"encoder_type": "GradualStyleEncoder"}}, path)
    with pytest.raises(ValueError, match="lacks|no backbone"):
        load_encoder(path)


# --- direction files ----------------------------------------------------------------------------

def test_direction_files_match_the_official_views():
    for name in ("dir-interfacegan", "dir-e4e-interfacegan", "dir-ganspace"):
        spec, t = cases(name)
        for case in spec:
            path = os.path.join(FIXTURES, name, case["file"])
            kind = case["kind"]
            if kind == "direction_file":
                d = load_direction_file(path)
                assert d.ndim == 2 and (d.shape[0] == 1 or d.shape[0] == t[case["output"]].shape[-2])
                close(d, t[case["output"]])
            elif kind == "ganspace_file":
                pca = load_direction_file(path)
                assert isinstance(pca, PCA)
                close(pca.mean, t[case["mean"]])
                close(pca.components, t[case["components"]])
                close(pca.std, t[case["std"]])
            elif kind == "interfacegan_linear_interpolate":
                got = interfacegan_interpolate(t[case["input"]], load_direction_file(path), case["start_distance"],
                                               case["end_distance"], case["steps"])
                close(got, t[case["output"]])
            elif kind == "interfacegan_apply":
                factors = range(*case["factor_range"]) if "factor_range" in case else [case["factor"]]
                close(apply_offsets(t[case["input"]], load_direction_file(path), factors), t[case["output"]])
            elif kind == "ganspace_edit":
                close(ganspace_edit(t[case["input"]], load_direction_file(path), case["edit_directions"]),
                      t[case["output"]])


def test_styleclip_global_directions_match_getboundary_and_mscode():
    spec, t = cases("dir-styleclip")
    folder = os.path.join(FIXTURES, "dir-styleclip")
    relevance = load_styleclip_global(os.path.join(folder, "S_mean_std"), os.path.join(folder, "fs3.npy"))
    names = [n for n, _ in styleclip_layer_names(14)]
    for case in spec:
        if case["kind"] == "styleclip_load":
            close(relevance.std, t["std_conv"])
        elif case["kind"] == "styleclip_direction":
            offsets, moved = style_direction(relevance, t[case["dt"]], case["beta"])
            assert moved == case["channels_manipulated"]
            close(torch.cat([offsets[n] for n, _ in relevance.layers]), t[case["output"]])
            for i, n in enumerate(names):
                close(offsets.get(n, torch.zeros_like(t[f"direction.{i}"])), t[f"direction.{i}"])
        elif case["kind"] == "styleclip_global_edit":
            dt = t[case["delta_t"]] / t[case["delta_t"]].norm()   # StyleCLIP's GetDt gives a unit direction
            offsets, _ = style_direction(relevance, dt, case["beta"])
            for i, n in enumerate(names):
                styles = t[f"styles.{i}"]
                close(styles + case["alpha"] * offsets.get(n, torch.zeros(styles.shape[1])), t[f"edited.{i}"])


def test_styleclip_files_covering_the_full_ffhq_layout(tmp_path):
    """26 style layers (1024 px), fs3 of 6048 rows: every non-ToRGB layer gets its channels."""
    widths = [512] * 2 + [512] * 3 * 4 + [512, 256, 256, 256, 128, 128, 128, 64, 64, 64, 32, 32]  # conv inputs
    means = [np.zeros(w, np.float32) for w in widths]
    stds = [np.full(w, 0.5, np.float32) for w in widths]
    with open(tmp_path / "S_mean_std", "wb") as f:
        pickle.dump([means, stds], f, protocol=3)
    conv = sum(w for (n, torgb), w in zip(styleclip_layer_names(26), widths) if not torgb)
    assert conv == 6048
    np.save(tmp_path / "fs3.npy", np.eye(6048, 512, dtype=np.float32))
    r = load_styleclip_global(tmp_path / "S_mean_std", tmp_path / "fs3.npy")
    assert sum(n for _, n in r.layers) == 6048 and r.layers[-1] == ("b1024.conv1", 32)
    np.save(tmp_path / "fs3.npy", np.eye(1000, 512, dtype=np.float32))  # not at a layer boundary
    with pytest.raises(ValueError, match="layer boundary"):
        load_styleclip_global(tmp_path / "S_mean_std", tmp_path / "fs3.npy")


# --- hostile files --------------------------------------------------------------------------------

class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_an_encoder_file_never_runs(tmp_path):
    marker = tmp_path / "ran"
    ckpt = torch.load(os.path.join(FIXTURES, "enc-e4e-64", "checkpoint.pt"), map_location="cpu", weights_only=True)
    ckpt["opts"]["exp_dir"] = Evil(marker)
    torch.save(ckpt, tmp_path / "evil.pt")
    with pytest.raises(stylegan.UnsafePickleError):
        load_encoder(tmp_path / "evil.pt")
    assert not marker.exists()


def test_code_in_direction_files_never_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"mean": torch.zeros(1, 4), "comp": Evil(marker), "std": torch.ones(2)}, tmp_path / "pca.pt")
    torch.save(Evil(marker), tmp_path / "age.pt")
    np.save(tmp_path / "boundary.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
    for name in ("pca.pt", "age.pt", "boundary.npy"):
        with pytest.raises((DirectionFileError, stylegan.UnsafePickleError)):
            load_direction_file(tmp_path / name)
    assert not marker.exists()


def test_code_in_s_mean_std_never_runs(tmp_path):
    marker = tmp_path / "ran"
    with open(tmp_path / "S_mean_std", "wb") as f:
        pickle.dump([[np.zeros(4, np.float32)], [Evil(marker)]], f, protocol=3)
    np.save(tmp_path / "fs3.npy", np.zeros((4, 8), np.float32))
    with pytest.raises(stylegan.UnsafePickleError, match="posix.system|os.system|nt.system"):
        load_styleclip_global(tmp_path / "S_mean_std", tmp_path / "fs3.npy")
    assert not marker.exists()


def test_a_direction_file_that_lies_about_its_size(tmp_path):
    import io
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 20, 1 << 20)})
    (tmp_path / "huge.npy").write_bytes(header.getvalue() + bytes(64))
    with pytest.raises(DirectionFileError, match="declares"):
        load_direction_file(tmp_path / "huge.npy")
    (tmp_path / "cut.npy").write_bytes(header.getvalue()[:30])
    with pytest.raises(DirectionFileError, match="not a readable"):
        load_direction_file(tmp_path / "cut.npy")
    (tmp_path / "text.npy").write_bytes(b"hello")
    with pytest.raises((DirectionFileError, stylegan.CheckpointError)):
        load_direction_file(tmp_path / "text.npy")
