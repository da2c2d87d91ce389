"""Latent operations against independent expectations, on small random generators."""
import numpy as np
import pytest
import torch

from editing.directions import apply_direction, direction_std, ganspace, sefa, style_affines
from editing.latents import (
    interpolate,
    layer_resolutions,
    lerp,
    mix,
    mixing_preset,
    seeds_to_ws,
    seeds_to_z,
    slerp,
    style_mixing_grid,
)
from stylegan import StyleGAN2Generator, StyleGAN3Generator


@pytest.fixture(scope="module")
def G2():
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=64, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=16)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def G3():
    torch.manual_seed(0)
    G = StyleGAN3Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), channel_base=128, channel_max=8, num_layers=6)
    return G.eval().requires_grad_(False)


def test_seeds_to_z_is_the_official_draw(G2):
    z = seeds_to_z(G2, [0, 42])
    assert np.allclose(z.numpy(), np.concatenate([np.random.RandomState(s).randn(1, 16) for s in (0, 42)]).astype(np.float32))


def test_truncation_zero_gives_w_avg(G2):
    ws = seeds_to_ws(G2, [1, 2, 3], truncation_psi=0)
    assert torch.allclose(ws, G2.mapping.w_avg.expand_as(ws))
    ws = seeds_to_ws(G2, [1], truncation_psi=0, truncation_cutoff=4)
    assert torch.allclose(ws[0, :4], G2.mapping.w_avg.expand(4, -1))
    assert not torch.allclose(ws[0, 4:], G2.mapping.w_avg.expand(G2.num_ws - 4, -1))


def test_layer_resolutions_and_presets_of_a_64px_stylegan2(G2):
    # as the StyleGAN papers count: ws 2k and 2k + 1 at 4 * 2^k px (w 1 feeds b4's ToRGB and b8's conv0)
    assert layer_resolutions(G2) == [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert G2.synthesis.w_layout()[:4] == [("b4.conv1", 0, 4), ("b4.torgb", 1, 4), ("b8.conv0", 1, 8), ("b8.conv1", 2, 8)]
    assert mixing_preset(G2, "coarse") == [0, 1, 2, 3]
    assert mixing_preset(G2, "middle") == [4, 5, 6, 7]
    assert mixing_preset(G2, "fine") == [8, 9]


def test_presets_at_1024_are_the_papers():
    from stylegan import StyleGAN2Generator
    with torch.device("meta"):
        G = StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3)
    assert G.num_ws == 18
    assert [mixing_preset(G, p) for p in ("coarse", "middle", "fine")] == [[0, 1, 2, 3], [4, 5, 6, 7], list(range(8, 18))]
    with pytest.raises(ValueError):
        mixing_preset(G2, "medium")


def test_presets_of_stylegan3_split_the_ws(G3):
    parts = [mixing_preset(G3, p) for p in ("coarse", "middle", "fine")]
    assert sum(parts, []) == list(range(G3.num_ws))
    assert len(layer_resolutions(G3)) == G3.num_ws


def test_mixing_grid_rows_share_the_unmixed_styles(G2):
    layers = mixing_preset(G2, "fine")
    grid, rows, cols = style_mixing_grid(G2, [1, 2], [3, 4, 5], layers, noise_mode="const")
    assert grid.shape == (2, 3, 3, 64, 64) and rows.shape == (2, 3, 64, 64) and cols.shape == (3, 3, 64, 64)
    # cell (r, c) is exactly row r's ws with the fine ws of column c
    ws = seeds_to_ws(G2, [1, 2, 3, 4, 5])
    expect = G2.synthesis(mix(ws[1:2], ws[3:4], layers), noise_mode="const")
    assert torch.allclose(grid[1, 1], expect[0], atol=1e-5)
    # taking no layers from the columns gives the row image in every column
    same, rows2, _ = style_mixing_grid(G2, [1, 2], [3, 4], [], noise_mode="const")
    assert torch.allclose(same[0, 1], rows2[0], atol=1e-5) and torch.allclose(same[1, 0], rows2[1], atol=1e-5)


def test_lerp_and_slerp():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert torch.allclose(lerp(a, b, 0.5), torch.tensor([[0.5, 1.0]]))
    mid = slerp(a, b, 0.5)  # on the arc at 45 degrees, norm halfway between 1 and 2
    assert torch.allclose(mid, torch.full((1, 2), 1.5 / np.sqrt(2), dtype=torch.float32), atol=1e-6)
    assert torch.allclose(slerp(a, a * 3, 0.5), a * 2)  # parallel vectors: no division by zero
    path = interpolate(a, b, 5, space="z")
    assert path.shape == (5, 2) and torch.allclose(path[0], a[0]) and torch.allclose(path[-1], b[0], atol=1e-6)
    ws = torch.randn(1, 4, 3), torch.randn(1, 4, 3)
    p = interpolate(*ws, 3, space="w")
    assert torch.allclose(p[1], (ws[0][0] + ws[1][0]) / 2)
    with pytest.raises(ValueError):
        interpolate(a, b, 1)


def test_style_affines_cover_every_w(G2, G3):
    idx2 = sorted({i for i, _ in style_affines(G2)})
    assert idx2 == list(range(G2.num_ws))
    idx3 = sorted({i for i, _ in style_affines(G3)})
    assert idx3 == list(range(1, G3.num_ws))  # ws[0] moves the Fourier input, it is not a style


def test_sefa_directions_are_orthonormal_eigenvectors(G2):
    d, ev = sefa(G2, num=5)
    assert d.shape == (5, 16)
    assert torch.allclose(d @ d.T, torch.eye(5), atol=1e-5)
    assert (ev[:-1] >= ev[1:]).all()
    # independent check: the eigenvectors of A^T A with A the stacked, row-normalised affine weights
    A = torch.cat([a.weight * a.weight_gain for _, a in style_affines(G2)]).double()
    A = A / A.norm(dim=1, keepdim=True)
    M = A.T @ A
    for k in range(5):
        v = d[k].double()
        assert torch.allclose(M @ v, ev[k].double() * v, atol=1e-4 * float(ev[0]))
    # the first direction moves the styles more than a random unit vector does
    r = torch.nn.functional.normalize(torch.randn(16, dtype=torch.float64), dim=0)
    assert (A @ d[0].double()).norm() > (A @ r).norm()
    d_coarse, _ = sefa(G2, layers=[0, 1, 2], num=3)
    assert not torch.allclose(d_coarse, d[:3])
    with pytest.raises(ValueError):
        sefa(G2, layers=[99])


def test_ganspace_components_are_ordered_principal_directions(G2):
    dirs, std, mean = ganspace(G2, num=4, samples=3000, seed=1)
    assert torch.allclose(dirs @ dirs.T, torch.eye(4), atol=1e-5)
    assert (std[:-1] >= std[1:]).all()
    gen = torch.Generator().manual_seed(1)
    w = G2.mapping(torch.randn(3000, 16, generator=gen), None)[:, 0]
    proj = (w - mean) @ dirs.T
    assert torch.allclose(proj.std(dim=0), std, rtol=1e-3)
    assert torch.allclose(w.mean(0), mean, atol=1e-5)
    # the spread along a direction, measured on the same samples, is the component's std
    assert torch.allclose(direction_std(G2, dirs * 5, samples=3000, seed=1), std, rtol=1e-4)


def test_apply_direction_moves_only_the_chosen_layers(G2):
    ws = seeds_to_ws(G2, [0, 1])
    d = torch.zeros(16)
    d[3] = 1
    out = apply_direction(ws, d, 2.5, layers=[1, 4])
    diff = out - ws
    assert torch.allclose(diff[:, [1, 4], 3], torch.full((2, 2), 2.5))
    diff[:, [1, 4], 3] = 0
    assert diff.abs().max() == 0
    assert torch.allclose(apply_direction(ws, d, 1.0) - ws, d.expand_as(ws))


def test_stylespace_names_values_and_single_channel_edits(G2):
    from editing.stylespace import compute_styles, edit_styles, style_layers, style_statistics
    layers = style_layers(G2)
    assert "b4.conv1" in layers and "b64.torgb" in layers and layers["b8.conv0"][0] == 1
    ws = seeds_to_ws(G2, [0, 1])
    styles = compute_styles(G2, ws)
    a = G2.synthesis.b16.conv1.affine  # independent: the affine applied by hand
    expect = ws[:, layers["b16.conv1"][0]] @ (a.weight * a.weight_gain).T + a.bias * a.bias_gain
    assert torch.allclose(styles["b16.conv1"], expect, atol=1e-5)
    base = G2.synthesis(ws, noise_mode="const")
    with edit_styles(G2, {("b16.conv1", 3): 2.0}) as G_edited:
        seen = {}
        h = G_edited.synthesis.b16.conv1.affine.register_forward_hook(lambda m, i, o: seen.setdefault("s", o))
        assert torch.equal(G2.synthesis(ws, noise_mode="const"), base)  # the shared model is untouched meanwhile
        edited = G_edited.synthesis(ws, noise_mode="const")
        h.remove()
        assert G_edited.synthesis.b16.conv1.weight is G2.synthesis.b16.conv1.weight  # weights shared, not copied
    delta = seen["s"] - styles["b16.conv1"]
    assert torch.allclose(delta[:, 3], torch.full((2,), 2.0)) and delta[:, [0, 1, 2]].abs().max() < 1e-6
    assert not torch.allclose(base, edited)
    assert torch.equal(G2.synthesis(ws, noise_mode="const"), base)  # the hook is gone after the block
    stds = style_statistics(G2, samples=200)
    assert stds["b4.conv1"].shape == (16,) and (stds["b4.conv1"] > 0).all()
    with pytest.raises(ValueError):
        with edit_styles(G2, {("b16.conv1", 99): 1.0}):
            pass


def test_spline_walk_passes_through_keys_and_loops():
    from editing.video import num_frames, spline_ws
    keys = torch.randn(3, 2, 4)
    path = spline_ws(keys, 5, loop=True)
    assert path.shape == (15, 2, 4) and len(path) == num_frames(3, 5)
    assert torch.allclose(path[0], keys[0], atol=1e-5) and torch.allclose(path[5], keys[1], atol=1e-5)
    # looping: the step from the last frame back to the first is like any other step
    steps = (path.roll(-1, 0) - path).flatten(1).norm(dim=1)
    assert steps[-1] < 3 * steps.median()
    open_path = spline_ws(keys, 5, loop=False)
    assert len(open_path) == num_frames(3, 5, loop=False) == 11 and torch.allclose(open_path[-1], keys[-1], atol=1e-5)


def test_walk_video_has_the_frame_count_and_plays(G2, tmp_path):
    av = pytest.importorskip("av")
    from editing.video import walk_frames, write_mp4
    seen = []
    path = str(tmp_path / "walk.mp4")
    n = write_mp4(walk_frames(G2, [1, 2, 3, 4], frames_per_key=3, grid=(1, 2)), path, fps=10, total=6,
                  progress=lambda i, t: seen.append((i, t)))
    assert n == 6 and seen[-1] == (6, 6)
    with av.open(path) as f:
        stream = f.streams.video[0]
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(stream)]
        assert stream.codec_context.name == "h264"
    assert len(frames) == 6 and frames[0].shape == (64, 128, 3)
    expect = G2.synthesis(seeds_to_ws(G2, [1]), noise_mode="const")[0]  # frame 0, left cell: seed 1 itself
    expect = (expect * 127.5 + 128).clamp(0, 255).permute(1, 2, 0).numpy()
    assert np.abs(frames[0][:, :64].astype(float) - expect).mean() < 12  # lossy H.264, yuv420p
    with pytest.raises(ValueError):
        list(walk_frames(G2, [1, 2, 3], grid=(1, 2)))


def test_parse_seeds_and_limits():
    from editing.generate import parse_seeds
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5, 1,10-11") == [5, 1, 10, 11]
    for bad, msg in [("0-100000", "too many"), ("a", "cannot read"), ("5-2", "backwards"), ("", "at least one"),
                     ("-3", "cannot read"), ("99999999999", "between")]:
        with pytest.raises(ValueError, match=msg):
            parse_seeds(bad)


def test_latents_npz_uses_the_official_key(G2, tmp_path):
    from editing.generate import load_latents, save_latents
    ws = seeds_to_ws(G2, [3, 4])
    path = save_latents(str(tmp_path / "w.npz"), ws, seeds=[3, 4])
    with np.load(path) as f:  # what NVIDIA's gen_images.py --projected-w reads: np.load(f)['w']
        assert f["w"].shape == (2, G2.num_ws, 16) and f["w"].dtype == np.float32 and list(f["seeds"]) == [3, 4]
    assert torch.equal(load_latents(path, G2), ws)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'w'"):
        load_latents(str(tmp_path / "other.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a latents"):
        load_latents(str(tmp_path / "junk.npz"))
    with pytest.raises(ValueError, match="wants"):
        load_latents(path, StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                                              channel_base=64, channel_max=8))


def test_mixing_grid_image_layout(G2):
    from editing.generate import mixing_grid_image
    from ops.images import to_pil
    grid, rows, cols = style_mixing_grid(G2, [1, 2], [3, 4, 5], mixing_preset(G2, "coarse"))
    img = mixing_grid_image(grid, rows, cols)
    assert img.size == (4 * 64, 3 * 64)
    a = np.asarray(img)
    assert (a[:64, :64] == 255).all()  # blank corner
    assert np.array_equal(a[:64, 64:128], np.asarray(to_pil(cols[:1])[0]))  # first column source on top
    assert np.array_equal(a[128:, 0:64], np.asarray(to_pil(rows[1:2])[0]))  # second row source on the left
    assert np.array_equal(a[128:, 192:], np.asarray(to_pil(grid[1, 2:3])[0]))


def test_synthesize_moves_stylegan3_and_restores_it(G2, G3):
    from editing.generate import synthesize
    ws = seeds_to_ws(G3, [0])
    base = synthesize(G3, ws)
    moved = synthesize(G3, ws, translate=(0.25, 0), rotate=30)
    assert not torch.allclose(base, moved)
    assert torch.equal(G3.synthesis.input.transform, torch.eye(3))  # the shared model never changed
    from stylegan import make_transform
    G3.synthesis.input.transform.copy_(make_transform((0.25, 0), 30 * np.pi / 180))  # the official way
    try:
        assert torch.allclose(G3.synthesis(ws, noise_mode="const"), moved, atol=1e-6)
    finally:
        G3.synthesis.input.transform.copy_(torch.eye(3))
    assert torch.equal(synthesize(G3, ws), base)
    with pytest.raises(ValueError, match="StyleGAN3"):
        synthesize(G2, seeds_to_ws(G2, [0]), rotate=10)


def test_default_batch_shrinks_with_resolution_on_cpu():
    from types import SimpleNamespace

    from editing.generate import default_batch

    def model(res, device="cpu"):
        return SimpleNamespace(img_resolution=res, parameters=lambda: iter([torch.zeros(1, device=device)]))
    assert [default_batch(model(r)) for r in (32, 64, 256, 512, 1024)] == [8, 8, 4, 1, 1]
    assert default_batch(model(1024, "meta")) == 8  # an accelerator batches


def test_sampling_w_of_a_conditional_model_needs_no_class():
    """SeFa's units, GANSpace and StyleSpace statistics span every class when none is picked."""
    from editing.directions import sample_w
    from editing.stylespace import style_statistics
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, c_dim=3, w_dim=8, img_resolution=16, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), channel_base=64, channel_max=8).eval().requires_grad_(False)
    w = sample_w(G, samples=300, seed=0)
    z = torch.randn([300, 8], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(w[1::3].float(), G.mapping(z[1::3], torch.eye(3)[[1] * 100])[:, 0], atol=1e-6)
    assert torch.allclose(sample_w(G, samples=30, seed=0, class_idx=2).float(),
                          G.mapping(z[:30], torch.eye(3)[[2] * 30])[:, 0], atol=1e-6)
    dirs, std, _ = ganspace(G, num=3, samples=300)
    assert torch.allclose(direction_std(G, dirs, samples=300), std, rtol=1e-4)
    assert direction_std(G, sefa(G, num=2)[0], samples=300).shape == (2,)
    assert (style_statistics(G, samples=300)["b4.conv1"] > 0).all()
