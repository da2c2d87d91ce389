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

from .conv2d_resample import conv2d_resample


def modulated_conv2d(
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
    fused_modconv=True,     # True = grouped convolution, False = per-sample scaling, None = pick the faster.
):
    N = x.shape[0]
    O, I, kh, kw = weight.shape
    assert styles.shape == (N, I), (styles.shape, (N, I))

    # In float16, keep the modulated kernel in range before demodulation rescales it.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / (I * kh * kw) ** 0.5 / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    if fused_modconv is None:
        fused_modconv = N == 1 or x.device.type != "cpu"

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
