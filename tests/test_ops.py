"""Each op's plain definition against an independent one, and each fast path against
the plain definition, forward and backward (gradcheck in float64 on tiny inputs)."""
import itertools

import numpy as np
import pytest
import torch

import ops

D = torch.float64


def rand(*shape, seed=0):
    return torch.randn(shape, dtype=D, generator=torch.Generator().manual_seed(seed))


def naive_upfirdn2d(x, f, up, down, pad, gain):
    """Loop-by-loop definition in numpy: zero-insert, pad, true convolution, decimate."""
    x = x.numpy()
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    f = f * gain
    N, C, H, W = x.shape
    px0, px1, py0, py1 = pad
    u = np.zeros((N, C, H * up, W * up))
    u[:, :, ::up, ::up] = x
    p = np.zeros((N, C, H * up + py0 + py1, W * up + px0 + px1))
    p[:, :, py0:py0 + H * up, px0:px0 + W * up] = u
    kh, kw = f.shape
    out = np.zeros((N, C, p.shape[2] - kh + 1, p.shape[3] - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (p[:, :, i:i + kh, j:j + kw] * f[::-1, ::-1]).sum(axis=(2, 3))
    return torch.from_numpy(out[:, :, ::down, ::down])


@pytest.mark.parametrize("up,down,taps", [(1, 1, 4), (2, 1, 4), (1, 2, 4), (2, 2, 3), (3, 1, 5)])
def test_upfirdn2d_ref_matches_naive_definition(up, down, taps):
    x = rand(1, 2, 5, 6)
    f1 = torch.rand(taps, dtype=D) + 0.1
    pad = [2, 1, 1, 2]
    expected = naive_upfirdn2d(x, f1, up, down, pad, gain=up * up)
    # 1-D (separable) and 2-D forms of the same filter.
    for f in (f1, torch.outer(f1, f1)):
        out = ops.upfirdn2d_ref(x, f, up=up, down=down, padding=pad, gain=up * up)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


FILTERS = {
    "sep4": lambda: ops.setup_filter([1, 3, 3, 1]).to(D),
    "1d12": lambda: rand(12, seed=3),
    "2d5x4": lambda: rand(5, 4, seed=4),
    "none": lambda: None,
}


@pytest.mark.parametrize("fname", FILTERS)
@pytest.mark.parametrize("up,down,pad", list(itertools.product([1, 2, 3], [1, 2], [0, [1, 2, -1, 3], [-2, 0, 7, 1]])))
def test_upfirdn2d_fast_matches_ref(fname, up, down, pad):
    x = rand(2, 3, 19, 17)
    f = FILTERS[fname]()
    a = ops.upfirdn2d_ref(x, f, up, down, pad, gain=1.7)
    b = ops.upfirdn2d_fast(x, f, up, down, pad, gain=1.7)
    torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fname", ["sep4", "1d12", "2d5x4"])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_upfirdn2d_fast_gradcheck(fname, up, down):
    x = rand(1, 2, 13, 12).requires_grad_(True)
    f = FILTERS[fname]()
    assert torch.autograd.gradcheck(lambda t: ops.upfirdn2d_fast(t, f, up, down, [2, 1, 1, 2]), (x,))
    # and the gradients equal those of the plain definition
    g = torch.randn_like(ops.upfirdn2d_ref(x, f, up, down, [2, 1, 1, 2]))
    ga, = torch.autograd.grad(ops.upfirdn2d_ref(x, f, up, down, [2, 1, 1, 2]), x, g)
    gb, = torch.autograd.grad(ops.upfirdn2d_fast(x, f, up, down, [2, 1, 1, 2]), x, g)
    torch.testing.assert_close(gb, ga)


def test_setup_filter():
    f = ops.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(f.sum().item() - 1) < 1e-6
    assert ops.setup_filter(list(range(1, 9))).shape == (8,)  # 8 taps or more: separable
    torch.testing.assert_close(ops.setup_filter([1, 2, 1], gain=4).sum(), torch.tensor(4.0))


def test_resampling_helpers_keep_constants_constant():
    x = torch.ones(1, 1, 8, 8, dtype=D)
    f = ops.setup_filter([1, 3, 3, 1]).to(D)
    for impl in (ops.upfirdn2d_ref, ops.upfirdn2d_fast):
        with ops.config.reference(impl is ops.upfirdn2d_ref):
            up = ops.upsample2d(x, f)
            down = ops.downsample2d(x, f)
            filt = ops.filter2d(x, f)
        assert up.shape == (1, 1, 16, 16) and down.shape == (1, 1, 4, 4) and filt.shape == (1, 1, 8, 8)
        torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
        torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))


@pytest.mark.parametrize("act", list(ops.activation_funcs))
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_bias_act(act, clamp):
    x = rand(2, 3, 4, 5)
    b = rand(3, seed=1)
    spec = ops.activation_funcs[act]
    # Independent expectation, straight from the formula.
    y = x + b.reshape(1, -1, 1, 1)
    y = {"linear": y, "relu": y.clamp(min=0), "lrelu": torch.where(y >= 0, y, 0.2 * y), "tanh": y.tanh(),
         "sigmoid": y.sigmoid(), "elu": torch.where(y > 0, y, y.exp() - 1), "selu": torch.nn.functional.selu(y),
         "softplus": torch.log1p(y.exp()), "swish": y * y.sigmoid()}[act] * spec.def_gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    torch.testing.assert_close(ops.bias_act_ref(x, b, act=act, clamp=clamp), y)
    with torch.no_grad():
        torch.testing.assert_close(ops.bias_act_fast(x, b, act=act, clamp=clamp), y)
    xg = x.clone().requires_grad_(True)
    bg = b.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, u: ops.bias_act_fast(t, u, act=act, gain=1.3, clamp=clamp), (xg, bg))


def test_bias_act_fast_does_not_touch_its_input():
    x = rand(1, 2, 3, 3)
    x0 = x.clone()
    with torch.no_grad():
        ops.bias_act_fast(x, None, act="lrelu", clamp=0.1)
    assert torch.equal(x, x0)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_conv2d_resample_fast_matches_ref(k, up, down, flip_weight):
    x = rand(2, 4, 9, 8).requires_grad_(True)
    w = rand(6, 4, k, k, seed=1).requires_grad_(True)
    f = ops.setup_filter([1, 3, 3, 1]).to(D)
    a = ops.conv2d_resample_ref(x, w, f, up, down, padding=k // 2, flip_weight=flip_weight)
    b = ops.conv2d_resample_fast(x, w, f, up, down, padding=k // 2, flip_weight=flip_weight)
    torch.testing.assert_close(b, a)
    g = torch.randn_like(a)
    torch.testing.assert_close(torch.autograd.grad(b, (x, w), g), torch.autograd.grad(a, (x, w), g))


def test_conv2d_resample_fast_gradcheck():
    x = rand(1, 2, 5, 5).requires_grad_(True)
    w = rand(3, 2, 3, 3, seed=1).requires_grad_(True)
    f = ops.setup_filter([1, 3, 3, 1]).to(D)
    assert torch.autograd.gradcheck(lambda a, b: ops.conv2d_resample_fast(a, b, f, up=2, padding=1, flip_weight=False), (x, w))
    assert torch.autograd.gradcheck(lambda a, b: ops.conv2d_resample_fast(a, b, f, down=2, padding=1), (x, w))


def modconv_definition(x, weight, styles, demodulate, up, f, flip_weight):
    """Equations 1-3 of the StyleGAN2 paper, one sample at a time."""
    outs = []
    for n in range(x.shape[0]):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        outs.append(ops.conv2d_resample_ref(x[n:n + 1], w, f, up=up, padding=weight.shape[-1] // 2, flip_weight=flip_weight))
    return torch.cat(outs)


@pytest.mark.parametrize("fused", [True, False, None])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv2d_paths(fused, demodulate, up):
    x = rand(3, 4, 6, 6).requires_grad_(True)
    weight = rand(5, 4, 3, 3, seed=1)
    styles = (rand(3, 4, seed=2) + 1).requires_grad_(True)
    f = ops.setup_filter([1, 3, 3, 1]).to(D)
    noise = rand(3, 1, 6 * up, 6 * up, seed=3)
    expected = modconv_definition(x, weight, styles, demodulate, up, f, flip_weight=(up == 1)) + noise
    out = ops.modulated_conv2d(x, weight, styles, noise=noise, up=up, padding=1, resample_filter=f,
                               demodulate=demodulate, flip_weight=(up == 1), fused_modconv=fused)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    torch.testing.assert_close(torch.autograd.grad(out, (x, styles), g), torch.autograd.grad(expected, (x, styles), g))


def test_modulated_conv2d_gradcheck():
    x = rand(2, 2, 4, 4).requires_grad_(True)
    weight = rand(3, 2, 3, 3, seed=1).requires_grad_(True)
    styles = (rand(2, 2, seed=2) + 1).requires_grad_(True)
    for fused in (True, False):
        def f(a, b, c, fused=fused):
            return ops.modulated_conv2d(a, b, c, padding=1, fused_modconv=fused)
        assert torch.autograd.gradcheck(f, (x, weight, styles))


@pytest.mark.parametrize("up,down,radial", [(2, 2, False), (2, 1, False), (1, 2, True), (4, 2, True)])
def test_filtered_lrelu(up, down, radial):
    x = rand(2, 3, 8, 8).requires_grad_(True)
    b = rand(3, seed=1).requires_grad_(True)
    fu = rand(6 * up, seed=2).abs() if up > 1 else None
    fd = (rand(12, 12, seed=3).abs() if radial else rand(12, seed=3).abs()) if down > 1 else None
    kw = dict(fu=fu, fd=fd, up=up, down=down, padding=[11, 11, 11, 11], gain=np.sqrt(2), slope=0.2, clamp=2.0)
    # Independent expectation: the composition spelled out with the plain upfirdn2d.
    y = x + b.reshape(1, -1, 1, 1)
    y = ops.upfirdn2d_ref(y, fu, up=up, padding=[11, 11, 11, 11], gain=up ** 2)
    y = (torch.where(y >= 0, y, 0.2 * y) * np.sqrt(2)).clamp(-2, 2)
    y = ops.upfirdn2d_ref(y, fd, down=down)
    with ops.config.reference():
        ref = ops.filtered_lrelu(x, b=b, **kw)
    fast = ops.filtered_lrelu(x, b=b, **kw)
    torch.testing.assert_close(ref, y)
    torch.testing.assert_close(fast, y)
    small = rand(1, 1, 6, 6).requires_grad_(True)
    sb = rand(1, seed=5).requires_grad_(True)
    kw["clamp"] = None
    assert torch.autograd.gradcheck(lambda t, u: ops.filtered_lrelu(t, b=u, **kw), (small, sb))


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("n,channels,size", [(1, 4, 8), (1, 16, 4), (3, 4, 8)])  # both CPU paths (fused / per-sample)
@pytest.mark.parametrize("clamp", [None, 0.3])
def test_modulated_conv2d_bias_act_fast_matches_ref(up, n, channels, size, clamp):
    x = rand(n, channels, size, size)
    weight = rand(5, channels, 3, 3, seed=1)
    styles = rand(n, channels, seed=2) + 1
    bias = rand(5, seed=3)
    noise = rand(size * up, size * up, seed=4)
    f = ops.setup_filter([1, 3, 3, 1]).to(D)
    kw = dict(noise=noise, up=up, padding=1, resample_filter=f, flip_weight=(up == 1), act="lrelu", gain=np.sqrt(2), clamp=clamp)
    expected = ops.bias_act_ref(modconv_definition(x, weight, styles, True, up, f, up == 1) + noise, bias,
                                act="lrelu", clamp=clamp)
    torch.testing.assert_close(ops.modulated_conv2d_bias_act_ref(x, weight, styles, bias, **kw), expected)
    with torch.no_grad():
        for fmt in (torch.contiguous_format, torch.channels_last):
            out = ops.modulated_conv2d_bias_act_fast(x.contiguous(memory_format=fmt), weight, styles, bias, **kw)
            torch.testing.assert_close(out, expected)
    # With gradients wanted it falls back to the differentiable composition.
    xg = x.clone().requires_grad_(True)
    out = ops.modulated_conv2d_bias_act_fast(xg, weight, styles, bias, **kw)
    torch.testing.assert_close(out, expected)
    assert out.requires_grad


def test_weight_cache_follows_in_place_updates():
    from ops.cache import weight_cache
    w = torch.ones(2, 2)
    with torch.no_grad():
        assert weight_cache(w, "sum", lambda t: t.sum()).item() == 4
        w.mul_(2)
        assert weight_cache(w, "sum", lambda t: t.sum()).item() == 8
        w.data = torch.zeros(2, 2)
        assert weight_cache(w, "sum", lambda t: t.sum()).item() == 0
    assert not w.__dict__  # nothing rides along on the tensor (into pickles, deep copies)


def test_reuse_freed_memory_applies_on_linux():
    import subprocess
    import sys
    code = ("import ops, torch; ok = ops.config.reuse_freed_memory(); "
            "x = [torch.ones(8 << 20) for _ in range(3)]; print(ok, float(sum(t.sum() for t in x)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=__import__("conftest").ROOT)
    assert out.returncode == 0, out.stderr
    applied, total = out.stdout.split()
    assert float(total) == 3 * (8 << 20)
    if sys.platform.startswith("linux"):
        assert applied == "True"
