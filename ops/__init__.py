"""Low-level tensor ops of the StyleGAN networks, in plain PyTorch (CPU and CUDA).

Each op has one plain definition (`*_ref`) and, where it pays, a fast path that is tested
against it forward and backward. `ops.config.reference()` switches every op to its plain
definition, for tests and benchmarks.
"""
from . import config
from .bias_act import activation_funcs, bias_act, bias_act_fast, bias_act_ref
from .conv2d_resample import conv2d_resample, conv2d_resample_fast, conv2d_resample_ref
from .filtered_lrelu import filtered_lrelu, filtered_lrelu_ref
from .modulated_conv2d import (
    modulated_conv2d,
    modulated_conv2d_bias_act,
    modulated_conv2d_bias_act_fast,
    modulated_conv2d_bias_act_ref,
    modulated_conv2d_fast,
    modulated_conv2d_ref,
)
from .upfirdn2d import (
    downsample2d,
    filter2d,
    setup_filter,
    upfirdn2d,
    upfirdn2d_fast,
    upfirdn2d_ref,
    upsample2d,
)

__all__ = [
    "config", "activation_funcs", "bias_act", "bias_act_fast", "bias_act_ref",
    "conv2d_resample", "conv2d_resample_fast", "conv2d_resample_ref",
    "filtered_lrelu", "filtered_lrelu_ref", "modulated_conv2d", "modulated_conv2d_fast", "modulated_conv2d_ref",
    "modulated_conv2d_bias_act", "modulated_conv2d_bias_act_fast", "modulated_conv2d_bias_act_ref",
    "downsample2d", "filter2d", "setup_filter", "upfirdn2d", "upfirdn2d_fast", "upfirdn2d_ref", "upsample2d",
]
