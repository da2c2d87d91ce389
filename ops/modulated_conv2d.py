"""Modulated convolution, StyleGAN2 (Karras et al. 2020, section 2.2, eqs. 1-3).

    w'_ijk  = s_i * w_ijk                                    (modulation)
    w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps)            (demodulation)

Two ways to run it, equal in exact arithmetic:
- "fused": build each sample's modulated kernel and run one grouped convolution
  (groups = batch). Best for a batch of one, where it is a plain convolution.
- per-sample ("non-fused"): scale the input channels by s, convolve with the shared
  kernel, scale the output channels by the demodulation coefficients. One dense
  convolution for the whole batch: best for batches on the CPU.
"""
import torch

from . import config
from .bias_act import bias_act
from .cache import weight_cache
from .conv2d_resample import _conv2d, conv2d_resample
from .upfirdn2d import is_channels_last


def modulated_conv2d_ref(
    x,                      # Input tensor [N, I, H, W].
    weight,                 # Shared kernel [O, I, kh, kw].
    styles,                 # Modulation coefficients s [N, I].
    noise=None,             # Noise added to the output, broadcastable to [N, O, H', W'], or None.
    up=1,                   # Integer upsampling factor.
    down=1,                 # Integer downsampling factor.
    padding=0,              # Padding with respect to the upsampled image.
    resample_filter=None,   # FIR filter for resampling (see ops.upfirdn2d.setup_filter).
    demodulate=True,        # Apply weight demodulation?
    flip_weight=True,       # False = convolution, True = correlation (as conv2d).
    fused_modconv=True,     # True = grouped convolution, False = per-sample scaling, None = batch of one only.
):
    N = x.shape[0]
    O, I, kh, kw = weight.shape
    assert styles.shape == (N, I), (styles.shape, (N, I))

    # In float16, keep the modulated kernel in range before demodulation rescales it.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / (I * kh * kw) ** 0.5 / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    if fused_modconv is None:
        fused_modconv = N == 1

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(N, 1, I, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(N, O, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(N, I, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(N, O, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(N, O, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    x = x.reshape(1, N * I, *x.shape[2:])
    w = w.reshape(N * O, I, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=N, flip_weight=flip_weight)
    x = x.reshape(N, O, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def _demodulation(weight, styles):
    """rsqrt(sum_ik (s_i w_ijk)^2 + eps) as s^2 . (sum_k w^2): one small matrix product,
    with sum_k w^2 kept beside the weight while it does not change. [N, O]"""
    wsq = weight_cache(weight, "wsq", lambda w: w.square().sum(dim=[2, 3]).t().contiguous())  # [I, O]
    return (styles.square() @ wsq + 1e-8).rsqrt()


def _shared_kernel(weight, x):
    """The unmodulated kernel in x's dtype and memory layout, built once per weight."""
    if is_channels_last(x):
        return weight_cache(weight, ("channels_last", x.dtype), lambda w: w.to(x.dtype).contiguous(memory_format=torch.channels_last))
    return weight.to(x.dtype)


def modulated_conv2d_fast(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                          demodulate=True, flip_weight=True, fused_modconv=None):
    """The same maths with fewer passes over the weights: the demodulation coefficients
    factor as rsqrt(s^2 . sum_k w^2), and on the CPU the path is chosen by size (the fused
    one modulates the kernel, the other scales the activations; whichever is smaller)."""
    N = x.shape[0]
    O, I, kh, kw = weight.shape
    assert styles.shape == (N, I), (styles.shape, (N, I))
    if x.dtype == torch.float16 and demodulate:  # keep the float16 path exactly as the reference
        return modulated_conv2d_ref(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight, fused_modconv)
    no_grad = not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or styles.requires_grad))
    # Gradients wanted for the styles (a projection, a text edit: w is optimised) but not for the
    # fixed kernel: scaling the activations keeps the kernel out of the graph, so the backward
    # pass computes only the convolution's input gradient. The fused path's kernel depends on the
    # styles, and its backward adds a kernel gradient as costly as the forward convolution (on
    # the CPU 3x the forward's time at 256 px and up).
    styles_only = not no_grad and styles.requires_grad and not weight.requires_grad
    if styles_only:
        fused_modconv = False
    elif x.device.type == "cpu":
        # Grouped convolutions are slow on the CPU; for one sample pick the smaller side to scale.
        fused_modconv = N == 1 and weight.numel() < x[0].numel()
    elif fused_modconv is None:
        fused_modconv = True

    dcoefs = _demodulation(weight, styles) if demodulate else None

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(N, I, 1, 1)
        x = conv2d_resample(x, _shared_kernel(weight, x), f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            if no_grad:
                return x.mul_(dcoefs.to(x.dtype).reshape(N, O, 1, 1)).add_(noise.to(x.dtype))
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(N, O, 1, 1))
        if demodulate:
            return x.mul_(dcoefs.to(x.dtype).reshape(N, O, 1, 1)) if no_grad else x * dcoefs.to(x.dtype).reshape(N, O, 1, 1)
        if noise is not None:
            return x.add_(noise.to(x.dtype)) if no_grad else x + noise.to(x.dtype)
        return x

    scale = styles.reshape(N, 1, I, 1, 1)
    if demodulate:
        scale = scale * dcoefs.reshape(N, O, 1, 1, 1)  # [N, O, I, 1, 1]: one pass over the kernel below
    w = (weight.unsqueeze(0) * scale).reshape(N * O, I, kh, kw)
    x = x.reshape(1, N * I, *x.shape[2:])
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=N, flip_weight=flip_weight)
    x = x.reshape(N, O, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise.to(x.dtype)) if no_grad else x + noise.to(x.dtype)
    return x


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                     demodulate=True, flip_weight=True, fused_modconv=None):
    """Dispatch to the plain definition or the fast path (see ops.config)."""
    fn = modulated_conv2d_ref if config.reference_enabled() else modulated_conv2d_fast
    return fn(x, weight, styles, noise=noise, up=up, down=down, padding=padding, resample_filter=resample_filter,
              demodulate=demodulate, flip_weight=flip_weight, fused_modconv=fused_modconv)


def modulated_conv2d_bias_act_ref(x, weight, styles, bias, noise=None, up=1, padding=0, resample_filter=None,
                                  demodulate=True, flip_weight=True, act="lrelu", gain=1.0, clamp=None):
    """A whole StyleGAN2 synthesis layer after the affine: modulated conv, noise, then
    bias + activation + gain + clamp. By definition the two ops one after the other."""
    x = modulated_conv2d(x, weight, styles, noise=noise, up=up, padding=padding, resample_filter=resample_filter,
                         demodulate=demodulate, flip_weight=flip_weight)
    return bias_act(x, bias.to(x.dtype), act=act, gain=gain, clamp=clamp)


def modulated_conv2d_bias_act_fast(x, weight, styles, bias, noise=None, up=1, padding=0, resample_filter=None,
                                   demodulate=True, flip_weight=True, act="lrelu", gain=1.0, clamp=None):
    """Inference on the CPU in fewer passes over the activations: the gain moves into the
    kernel, the noise and the bias (act(g * y) = g * act(y) for g > 0 and a positively
    homogeneous act), the bias into the convolution itself where it can; what is left is
    one addition, the activation and the clamp, in place."""
    wants_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, styles, bias))
    if wants_grad or act not in ("linear", "lrelu", "relu") or gain <= 0 or x.dtype == torch.float16 or x.device.type != "cpu":
        return modulated_conv2d_bias_act_ref(x, weight, styles, bias, noise, up, padding, resample_filter, demodulate, flip_weight,
                                             act, gain, clamp)
    N = x.shape[0]
    O, I, kh, kw = weight.shape
    gain = float(gain)
    if demodulate:
        d = _demodulation(weight, styles)
    else:
        d = torch.ones([N, O], dtype=styles.dtype, device=styles.device)
    d = d * gain  # [N, O]: every output channel's scale, gain included
    b = bias.to(x.dtype) * gain
    fused = N == 1 and weight.numel() < x[0].numel()
    if fused:
        w = weight * (styles.reshape(N, 1, I, 1, 1) * d.reshape(N, O, 1, 1, 1))[0]
        if up == 1 and flip_weight and padding == kh // 2 == kw // 2:  # a plain correlation: bias rides along
            x = _conv2d(x, w.to(x.dtype), padding=padding, bias=b)
            b = None
        else:
            x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
    else:
        x = x * styles.to(x.dtype).reshape(N, I, 1, 1)
        x = conv2d_resample(x, _shared_kernel(weight, x), f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        x.mul_(d.to(x.dtype).reshape(N, O, 1, 1))
    if noise is not None:
        x.add_(noise.to(x.dtype) * gain)
    if b is not None:
        x.add_(b.reshape(1, O, 1, 1))
    if act == "lrelu":
        torch.nn.functional.leaky_relu_(x, 0.2)
    elif act == "relu":
        torch.nn.functional.relu_(x)
    if clamp is not None:
        x.clamp_(-clamp, clamp)
    return x


def modulated_conv2d_bias_act(x, weight, styles, bias, noise=None, up=1, padding=0, resample_filter=None,
                              demodulate=True, flip_weight=True, act="lrelu", gain=1.0, clamp=None):
    fn = modulated_conv2d_bias_act_ref if config.reference_enabled() else modulated_conv2d_bias_act_fast
    return fn(x, weight, styles, bias, noise=noise, up=up, padding=padding, resample_filter=resample_filter,
              demodulate=demodulate, flip_weight=flip_weight, act=act, gain=gain, clamp=clamp)
