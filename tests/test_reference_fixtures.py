"""Every case computed by the official code (tests/fixtures, see its README) must match
through `stylegan.load` of the official-format file: max |diff| <= 1e-4 * (1 + max |expected|)."""
import json
import os

import pytest
import torch
from conftest import FIXTURES, fixture_config, fixture_names
from safetensors.torch import load_file

import stylegan


def cases(name):
    with open(os.path.join(FIXTURES, name, "cases.json")) as f:
        return json.load(f), load_file(os.path.join(FIXTURES, name, "cases.safetensors"))


def assert_matches(out, expected, what):
    assert out.shape == expected.shape, f"{what}: shape {tuple(out.shape)} != {tuple(expected.shape)}"
    err = (out.float() - expected).abs().max().item()
    tol = 1e-4 * (1 + expected.abs().max().item())
    assert err <= tol, f"{what}: max abs diff {err:.3g} > {tol:.3g}"


def run_official_cases(G, name):
    spec, T = cases(name)
    n = 0
    with torch.no_grad():
        for case in spec:
            kind = case["kind"]
            c = T.get("c")
            if kind == "mapping":
                out = G.mapping(T["z"], c, truncation_psi=case["truncation_psi"], truncation_cutoff=case["truncation_cutoff"])
            elif kind == "synthesis":
                out = G.synthesis(T[case["inputs"][0]], noise_mode=case["noise_mode"])
            elif kind == "generator":
                out = G(T["z"], c, truncation_psi=case["truncation_psi"], truncation_cutoff=case["truncation_cutoff"],
                        noise_mode=case["noise_mode"])
            elif kind == "style_mixing":
                k = case["crossover_layer"]
                ws = G.mapping(T["z"], c, truncation_psi=case["truncation_psi"])
                ws[:, k:] = G.mapping(T["z2"], c, truncation_psi=case["truncation_psi"])[:, k:]
                assert_matches(ws, T[case["ws_output"]], f"{name}/{case['ws_output']}")
                out = G.synthesis(ws, noise_mode=case["noise_mode"])
            elif kind == "input_transform":
                m = stylegan.make_transform(case["translate"], case["rotate_radians"])
                assert_matches(m, T[case["transform"]], f"{name}/{case['transform']}")
                old = G.synthesis.input.transform.clone()
                G.synthesis.input.transform.copy_(m)
                try:
                    out = G.synthesis(T[case["inputs"][0]], noise_mode=case["noise_mode"])
                finally:
                    G.synthesis.input.transform.copy_(old)
            else:
                raise AssertionError(f"unknown case kind {kind}")
            assert_matches(out, T[case["output"]], f"{name}/{case['output']}")
            n += 1
    assert n == len(spec)


def run_rosinality_cases(G, name):
    spec, T = cases(name)
    n_latent = fixture_config(name)["n_latent"]
    assert G.num_ws == n_latent
    with torch.no_grad():
        for case in spec:
            assert case["randomize_noise"] is False
            if case["kind"] == "generator":
                if case["truncation"] != 1:
                    # rosinality truncates towards the latent it is given: put it where our mapping looks.
                    G.mapping.w_avg.copy_(T[case["truncation_latent"]].reshape(-1))
                out = G(T["z"], None, truncation_psi=case["truncation"], noise_mode="const")
            elif case["kind"] == "synthesis_from_w":
                w = G.mapping(T["z"], None)[:, 0]
                assert_matches(w, T[case["w_output"]], f"{name}/{case['w_output']}")
                out = G.synthesis(T[case["w_output"]].unsqueeze(1).repeat(1, G.num_ws, 1), noise_mode="const")
            elif case["kind"] == "style_mixing":
                k = case["inject_index"]
                ws = G.mapping(T["z"], None)
                ws[:, k:] = G.mapping(T["z2"], None)[:, k:]
                out = G.synthesis(ws, noise_mode="const")
            else:
                raise AssertionError(f"unknown case kind {case['kind']}")
            assert_matches(out, T[case["output"]], f"{name}/{case['output']}")


def official_files():
    for name in fixture_names():
        for fname in ("network.pkl", "checkpoint.pt", "converted.pt"):
            if os.path.exists(os.path.join(FIXTURES, name, fname)):
                yield pytest.param(name, fname, id=f"{name}/{fname}")


@pytest.mark.parametrize("name,fname", list(official_files()))
def test_official_file_matches_reference(name, fname):
    G = stylegan.load(os.path.join(FIXTURES, name, fname), device="cpu")
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    if fixture_config(name)["network"] == "stylegan2-rosinality":
        run_rosinality_cases(G, name)
    else:
        run_official_cases(G, name)


@pytest.mark.parametrize("name", [n for n in fixture_names() if fixture_config(n)["network"] != "stylegan2-rosinality"])
def test_official_init_kwargs_and_state_dict_fit_unchanged(name):
    cfg = fixture_config(name)
    cls = stylegan.StyleGAN3Generator if cfg["network"] == "stylegan3" else stylegan.StyleGAN2Generator
    G = cls(**cfg["init_kwargs"]).eval()
    G.load_state_dict(load_file(os.path.join(FIXTURES, name, "G_ema.safetensors")), strict=True)
    assert G.num_ws == cfg["num_ws"]
    run_official_cases(G, name)


@pytest.mark.parametrize("name", fixture_names())
def test_reference_ops_give_the_same_pixels(name):
    """The fast paths and the plain op definitions agree on whole networks."""
    import ops
    G = stylegan.load(os.path.join(FIXTURES, name, "converted.pt" if "rosinality" in name else "network.pkl"), device="cpu")
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(1))
    c = torch.eye(G.c_dim)[[0, 1]] if G.c_dim else None
    with torch.no_grad():
        fast = G(z, c, noise_mode="const")
        with ops.config.reference():
            ref = G(z, c, noise_mode="const")
    assert_matches(fast, ref, name)


@pytest.mark.parametrize("name", ["ada-skip-64", "rosinality-64"])
def test_bfloat16_compute_stays_close(name):
    """The bf16 mode of StyleGAN2 synthesis: PSNR against float32 well above 40 dB."""
    G = stylegan.load(os.path.join(FIXTURES, name, "converted.pt" if "rosinality" in name else "network.pkl"), device="cpu")
    ws = G.mapping(torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(0)), None, truncation_psi=0.7)
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const").clamp(-1, 1)
        b = G.synthesis(ws, noise_mode="const", compute_dtype=torch.bfloat16).clamp(-1, 1)
    assert b.dtype == torch.float32
    psnr = 10 * torch.log10(4 / (a - b).square().mean())
    assert psnr > 35, psnr


def test_noise_modes():
    G = stylegan.load(os.path.join(FIXTURES, "ada-skip-64", "network.pkl"), device="cpu")
    ws = G.mapping(torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(0)), None)
    with torch.no_grad():
        const = [G.synthesis(ws, noise_mode="const") for _ in range(2)]
        rand = [G.synthesis(ws, noise_mode="random") for _ in range(2)]
        none = G.synthesis(ws, noise_mode="none")
    assert torch.equal(const[0], const[1])
    assert not torch.equal(rand[0], rand[1]) and rand[0].shape == const[0].shape
    assert not torch.equal(none, const[0])
    with pytest.raises(AssertionError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")


@pytest.mark.parametrize("name", ["ada-skip-64", "sg3-t-32"])
def test_training_time_moving_averages(name):
    """update_emas moves w_avg towards the batch mean of w by (1 - beta), and StyleGAN3's
    magnitude EMAs towards the mean square of each layer's input."""
    G = stylegan.load(os.path.join(FIXTURES, name, "network.pkl"), device="cpu")
    G = type(G).from_config(G.config).eval()
    G.load_state_dict(stylegan.load(os.path.join(FIXTURES, name, "network.pkl"), device="cpu").state_dict())
    z = torch.randn([8, G.z_dim], generator=torch.Generator().manual_seed(0))
    before = G.mapping.w_avg.clone()
    is_sg3 = hasattr(G.synthesis, "layer_names")
    with torch.no_grad():
        ws = G.mapping(z, None)
        if is_sg3:
            layer = getattr(G.synthesis, G.synthesis.layer_names[0])
            ema_before = layer.magnitude_ema.clone()
            cur = G.synthesis.input(ws[:, 0]).square().mean()
        G(z, None, update_emas=True)
    beta = G.mapping.w_avg_beta
    w = ws[:, 0]
    torch.testing.assert_close(G.mapping.w_avg, w.mean(0) + beta * (before - w.mean(0)))
    if is_sg3:
        torch.testing.assert_close(layer.magnitude_ema, cur + layer.magnitude_ema_beta * (ema_before - cur))
