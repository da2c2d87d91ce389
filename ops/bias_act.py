"""bias_act: add a bias, apply an activation, scale by a gain, clamp.

    y = clamp(act(x + b, alpha) * gain, -clamp, +clamp)

Each activation carries the default slope and the default gain the StyleGAN papers use:
sqrt(2) for the ReLU family keeps the signal's second moment (He et al. 2015).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import config


@dataclass(frozen=True)
class Activation:
    func: Callable
    def_alpha: float
    def_gain: float


activation_funcs = {
    "linear": Activation(lambda x, alpha: x, 0.0, 1.0),
    "relu": Activation(lambda x, alpha: F.relu(x), 0.0, np.sqrt(2)),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), 0.2, np.sqrt(2)),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, alpha: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, alpha: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, alpha: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, 0.0, np.sqrt(2)),
}


def _resolve(act, alpha, gain, clamp):
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    return spec, alpha, gain, clamp


def _bias_shape(x, dim):
    return [-1 if i == dim else 1 for i in range(x.ndim)]


def bias_act_ref(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    spec, alpha, gain, clamp = _resolve(act, alpha, gain, clamp)
    if b is not None:
        assert b.ndim == 1 and b.shape[0] == x.shape[dim]
        x = x + b.reshape(_bias_shape(x, dim))
    x = spec.func(x, alpha=alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act_fast(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, inplace=False):
    """Same result; when no gradient is wanted, works in place on one buffer (on `x`
    itself with `inplace=True`, for callers that own it)."""
    if torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad)):
        return bias_act_ref(x, b, dim, act, alpha, gain, clamp)
    spec, alpha, gain, clamp = _resolve(act, alpha, gain, clamp)
    if inplace:
        if b is not None:
            x.add_(b.reshape(_bias_shape(x, dim)))
    else:
        x = x + b.reshape(_bias_shape(x, dim)) if b is not None else x.clone()
    if act == "lrelu":
        F.leaky_relu_(x, alpha)
    elif act == "relu":
        F.relu_(x)
    elif act != "linear":
        x = spec.func(x, alpha=alpha)
    if gain != 1:
        x.mul_(gain)
    if clamp >= 0:
        x.clamp_(-clamp, clamp)
    return x


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, inplace=False):
    """`inplace=True` lets the fast path overwrite `x` (only when no gradient is wanted)."""
    if config.reference_enabled():
        return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_fast(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp, inplace=inplace)
