"""upfirdn2d: upsample by zero insertion, pad (or crop), FIR-filter, downsample.

The FIR filter is applied as a true convolution (the filter is flipped) unless
`flip_filter=True`, as in the official StyleGAN code. A 1-D filter is separable (it is
run along x, then along y); a 2-D filter is applied as it is. `gain` scales the filter
so that the total gain of the 2-D operation is `gain`.

`upfirdn2d_ref` is the plain definition. `upfirdn2d_fast` computes the same thing without
materialising the zero-inserted image (a strided transposed convolution does the
upsampling), runs rank-1 2-D filters as two 1-D passes, and downsamples with a stride.
"""
import numpy as np
import torch
import torch.nn.functional as F

from . import config
from .cache import weight_cache


def _parse_scaling(scaling):
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    sx, sy = scaling
    assert sx >= 1 and sy >= 1
    return int(sx), int(sy)


def _parse_padding(padding):
    """int -> same on all sides; [px, py]; or [x0, x1, y0, y1]."""
    if isinstance(padding, int):
        padding = [padding, padding]
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    px0, px1, py0, py1 = padding
    return int(px0), int(px1), int(py0), int(py1)


def _get_filter_size(f):
    """(width, height) of a filter; None is the 1x1 identity."""
    if f is None:
        return 1, 1
    assert f.ndim in (1, 2)
    fw = f.shape[-1]
    fh = f.shape[0]
    return int(fw), int(fh)


def setup_filter(f, device=None, normalize=True, flip_filter=False, gain=1, separable=None):
    """Turn a list of taps into a filter tensor, as the official `setup_filter`.

    A 1-D list becomes a 2-D outer product unless `separable` (by default: 8 taps or more).
    With `normalize` the taps sum to one; `gain` is spread over the dimensions.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    assert f.ndim in (0, 1, 2) and f.numel() > 0
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    assert f.ndim == (1 if separable else 2)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f if device is None else f.to(device=device)  # None: the default device (meta while sizing a network)


# --------------------------------------------------------------------------------------
# Plain definition.

def upfirdn2d_ref(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    assert x.ndim == 4
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)
    N, C, H, W = x.shape
    upx, upy = _parse_scaling(up)
    downx, downy = _parse_scaling(down)
    px0, px1, py0, py1 = _parse_padding(padding)

    # Upsample: put up-1 zeros after every sample.
    x = x.reshape(N, C, H, 1, W, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape(N, C, H * upy, W * upx)

    # Pad with zeros where the padding is positive, crop where it is negative.
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # Filter: conv2d is a correlation, so flip the taps for a true convolution.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([C, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=C)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=C)  # along x
        x = F.conv2d(x, f.unsqueeze(3), groups=C)  # along y

    # Downsample: keep every down-th sample.
    return x[:, :, ::downy, ::downx]


# --------------------------------------------------------------------------------------
# Fast path.

def _is_separable(f) -> bool:
    """Whether a 2-D filter is rank 1, outer(fy, fx). It takes reading values back to the host,
    so it is decided once per filter (a model's filters are buffers that never change) rather
    than at every call: the generator makes no host sync."""
    def decide(f):
        with torch.no_grad():
            s = f.sum()
            return bool(float(s) != 0.0 and torch.allclose(torch.outer(f.sum(dim=1), f.sum(dim=0) / s), f, rtol=1e-5,
                                                           atol=1e-7 * float(f.abs().max())))
    return weight_cache(f, "separable", decide)


def same_filter_as(meta_filter, real_filter):
    """A meta-device copy of a filter (for counting FLOPs: no values) decides as the real one did."""
    if real_filter.ndim == 2:
        decision = _is_separable(real_filter)
        weight_cache(meta_filter, "separable", lambda _: decision)
    return meta_filter


def _crop_or_pad(x, dim, lo, hi):
    """Pad `dim` (3 = x, 2 = y) with zeros by lo/hi, or crop where they are negative."""
    if lo == 0 and hi == 0:
        return x
    return F.pad(x, [lo, hi, 0, 0] if dim == 3 else [0, 0, lo, hi])


def _fir_1d(x, f, dim, up, down, p0, p1):
    """One axis of upfirdn: `f` is the correlation kernel (already flipped and scaled)."""
    C = x.shape[1]
    k = f.numel()
    shape = [C, 1, 1, k] if dim == 3 else [C, 1, k, 1]
    stride = (1, down) if dim == 3 else (down, 1)
    if up == 1:
        x = _crop_or_pad(x, dim, p0, p1)
        return F.conv2d(x, f.reshape(1, 1, *shape[2:]).expand(shape), stride=stride, groups=C)
    # y[o] = sum_i x[i] * g[o + k - 1 - p0 - i * up] with g = flip(f): a transposed convolution.
    n_in = x.shape[dim]
    n_out = (n_in * up + p0 + p1 - k) // down + 1
    g = f.flip(0).reshape(1, 1, *shape[2:]).expand(shape)
    x = F.conv_transpose2d(x, g, stride=(1, up) if dim == 3 else (up, 1), groups=C)
    start = k - 1 - p0
    stop = start + (n_in * up + p0 + p1 - k + 1)
    x = _crop_or_pad(x, dim, -start, stop - x.shape[dim])
    if down > 1:
        x = x[:, :, :, ::down] if dim == 3 else x[:, :, ::down, :]
    assert x.shape[dim] == n_out
    return x


def is_channels_last(x):
    return x.ndim == 4 and x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def upfirdn2d_fast(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    assert x.ndim == 4
    upx, upy = _parse_scaling(up)
    downx, downy = _parse_scaling(down)
    px0, px1, py0, py1 = _parse_padding(padding)
    separable = f is None or f.ndim == 1 or _is_separable(f)
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)  # on the filter as given (a buffer: decided once), flipped or not
    f = f.to(device=x.device, dtype=x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if is_channels_last(x) and x.device.type == "cpu":
        # In channels-last memory one 2-D depthwise pass beats two 1-D passes on the CPU.
        f2 = torch.outer(f, f) * gain if f.ndim == 1 else f * gain
        return _upfirdn2d_fast_2d(x, f2, upx, upy, downx, downy, px0, px1, py0, py1)
    if f.ndim == 1:
        fx = fy = f * (gain ** 0.5)
    else:
        if not separable:
            return _upfirdn2d_fast_2d(x, f * gain, upx, upy, downx, downy, px0, px1, py0, py1)
        fx, fy = f.sum(dim=0) / f.sum() * gain, f.sum(dim=1)
    x = _fir_1d(x, fx, 3, upx, downx, px0, px1)
    x = _fir_1d(x, fy, 2, upy, downy, py0, py1)
    return x


def _upfirdn2d_fast_2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1):
    C = x.shape[1]
    kh, kw = f.shape
    H, W = x.shape[2:]
    fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    if upx == 1 and upy == 1:
        w = f[None, None].expand(C, 1, kh, kw).contiguous(memory_format=fmt)
        if px0 == px1 >= 0 and py0 == py1 >= 0:  # conv2d pads without a separate pass
            return F.conv2d(x, w, stride=(downy, downx), padding=(py0, px0), groups=C)
        x = F.pad(x, [px0, px1, py0, py1])
        return F.conv2d(x, w, stride=(downy, downx), groups=C)
    g = f.flip([0, 1])[None, None].expand(C, 1, kh, kw).contiguous(memory_format=fmt)
    x = F.conv_transpose2d(x, g, stride=(upy, upx), groups=C)
    sx, sy = kw - 1 - px0, kh - 1 - py0
    ex = sx + W * upx + px0 + px1 - kw + 1
    ey = sy + H * upy + py0 + py1 - kh + 1
    x = F.pad(x, [-sx, ex - x.shape[3], -sy, ey - x.shape[2]])
    return x[:, :, ::downy, ::downx]


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    fn = upfirdn2d_ref if config.reference_enabled() else upfirdn2d_fast
    return fn(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


# --------------------------------------------------------------------------------------
# Conveniences with the padding that keeps the image centred, as the official helpers.

def filter2d(x, f, padding=0, flip_filter=False, gain=1):
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1):
    upx, upy = _parse_scaling(up)
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1):
    downx, downy = _parse_scaling(down)
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
