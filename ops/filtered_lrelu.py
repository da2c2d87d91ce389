"""filtered_lrelu: StyleGAN3's alias-free nonlinearity (Karras et al. 2021, section 3.2).

    y = downsample(clamp(lrelu(upsample(x + b)) * gain))

The leaky ReLU creates frequencies above the signal's band; running it at a higher
sampling rate (upsample with `fu`, apply, low-pass with `fd` and decimate) keeps the
result free of aliasing. `fu`/`fd` are 1-D (separable) or 2-D (radial) filters.
"""
import numpy as np

from .bias_act import bias_act
from .upfirdn2d import _get_filter_size, _parse_padding, upfirdn2d


def filtered_lrelu_ref(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, clamp=None, flip_filter=False):
    assert x.ndim == 4
    assert isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1
    fu_w, fu_h = _get_filter_size(fu)
    fd_w, fd_h = _get_filter_size(fd)
    px0, px1, py0, py1 = _parse_padding(padding)
    N, C, H, W = x.shape
    out_w = (W * up + (px0 + px1) - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (H * up + (py0 + py1) - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down

    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    x = upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
    assert x.shape == (N, C, out_h, out_w), (x.shape, (N, C, out_h, out_w))
    return x


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, clamp=None, flip_filter=False):
    """The composition above; its ops pick their own reference or fast paths (ops.config)."""
    return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
