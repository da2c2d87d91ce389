"""conv2d_resample: a 2-D convolution with FIR-filtered up- and/or downsampling.

    y = downsample(conv2d(upsample(x)))

where upsampling is zero insertion followed by the FIR filter `f` (gain up**2, so the
image keeps its level), and downsampling is the FIR filter followed by decimation.
`flip_weight=True` means conv2d's usual correlation; False flips the kernel (a true
convolution), which the official code uses for upsampling layers.

`conv2d_resample_ref` is exactly that composition. `conv2d_resample_fast` reorders it
(a 1x1 kernel commutes with the filter; an upsampling 3x3 becomes a strided transposed
convolution followed by the filter) so no zero-inserted image is ever convolved.
"""
import torch
import torch.nn.functional as F

from . import config
from .cache import weight_cache
from .upfirdn2d import _get_filter_size, _parse_padding, is_channels_last, upfirdn2d


def _conv2d(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True, bias=None):
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if is_channels_last(x):
        w = w.contiguous(memory_format=torch.channels_last)  # keeps the output channels-last too
    if transpose:
        return F.conv_transpose2d(x, w, bias=bias, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, bias=bias, stride=stride, padding=padding, groups=groups)


def _conv1x1(x, w):
    """A 1x1 convolution (groups=1, no padding) as a matrix product over channels: on the
    CPU far faster than the convolution kernels when there are few output channels (ToRGB)."""
    N, C, H, W = x.shape
    O = w.shape[0]
    if is_channels_last(x):
        y = x.permute(0, 2, 3, 1).reshape(-1, C) @ w.reshape(O, C).t()  # [N*H*W, O]
        return y.reshape(N, H, W, O).permute(0, 3, 1, 2)
    return torch.matmul(w.reshape(O, C), x.reshape(N, C, H * W)).reshape(N, O, H, W)


def _total_padding(f, up, down, padding):
    """The padding of the whole operation, split over the up and down filters."""
    fw, fh = _get_filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    return px0, px1, py0, py1


def _check(x, w, f, up, down, groups):
    assert x.ndim == 4 and w.ndim == 4 and x.dtype == w.dtype
    assert f is None or (f.ndim in (1, 2) and f.dtype.is_floating_point)
    assert isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1
    assert isinstance(groups, int) and groups >= 1
    assert f is not None or (up == 1 and down == 1)


def conv2d_resample_ref(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    _check(x, w, f, up, down, groups)
    px0, px1, py0, py1 = _total_padding(f, up, down, padding)
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x


def conv2d_resample_fast(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    _check(x, w, f, up, down, groups)
    out_channels, in_per_group, kh, kw = w.shape
    px0, px1, py0, py1 = _total_padding(f, up, down, padding)

    # A 1x1 kernel commutes with the filter: resample the side with fewer pixels.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)

    # Downsampling only: filter, then a strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: a strided transposed convolution, then the filter.
    if up > 1:
        def transposed(w):
            if groups == 1:
                w = w.transpose(0, 1)
            else:
                w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
                w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
            if flip_weight:  # a transposed convolution flips the kernel: undo it here, once
                w = w.flip([2, 3])
            return w.contiguous(memory_format=torch.channels_last) if is_channels_last(x) else w
        w = weight_cache(w, ("transposed", groups, flip_weight, is_channels_last(x)), transposed)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=True)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    # Neither: conv2d's own symmetric padding where it fits.
    if kw == 1 and kh == 1 and groups == 1 and px0 == px1 == py0 == py1 == 0 and x.device.type == "cpu":
        return _conv1x1(x, w)
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    return conv2d_resample_ref(x, w, f, up, down, padding, groups, flip_weight, flip_filter)


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    fn = conv2d_resample_ref if config.reference_enabled() else conv2d_resample_fast
    return fn(x, w, f=f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight, flip_filter=flip_filter)
