"""What both generator families share: the equalized-learning-rate dense layer, pixel
norm, and the Generator shell (mapping + synthesis, a diffusers model)."""
import copy

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin

from ops import bias_act


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    """Pixel norm: scale each vector to unit root-mean-square."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with the equalized learning rate (Karras et al. 2018, section 4.1):
    weights are stored N(0, weight_init^2) / lr_multiplier and scaled at run time by
    lr_multiplier / sqrt(fan_in); the bias is scaled by lr_multiplier."""

    def __init__(self,
        in_features,                # Number of input features.
        out_features,               # Number of output features.
        bias            = True,     # Apply additive bias before the activation function?
        activation      = "linear", # Activation function: 'relu', 'lrelu', etc.
        lr_multiplier   = 1,        # Learning rate multiplier.
        bias_init       = 0,        # Initial value of the additive bias (scalar or one per feature).
        weight_init     = 1,        # Initial standard deviation of the weights (StyleGAN3).
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        bias_init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
        self.bias = torch.nn.Parameter(torch.from_numpy(bias_init / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Generator(ModelMixin, ConfigMixin):
    """z, c -> image: a MappingNetwork and a SynthesisNetwork (given by the subclass).

    A diffusers model: `save_pretrained` writes config.json + safetensors and
    `from_pretrained` reads them from a folder or the Hub. Takes the official constructor
    arguments in both official forms: synthesis arguments in `synthesis_kwargs`
    (stylegan2-ada-pytorch) or at the top level (the stylegan3 repository)."""

    config_name = "config.json"
    mapping_class = None    # set by the subclass
    synthesis_class = None  # set by the subclass

    def __init__(self,
        z_dim,                      # Input latent (Z) dimensionality.
        c_dim,                      # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim,                      # Intermediate latent (W) dimensionality.
        img_resolution,             # Output resolution.
        img_channels,               # Number of output color channels.
        mapping_kwargs      = None, # Arguments for the MappingNetwork.
        synthesis_kwargs    = None, # Arguments for the SynthesisNetwork, as a dict...
        **kwargs,                   # ...or at the top level.
    ):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = {**(synthesis_kwargs or {}), **kwargs}
        self.register_to_config(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = self.synthesis_class(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = self.mapping_class(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


def private_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of a module tree for one request: new module objects (own hooks, own attributes,
    own buffer slots) that share every parameter and buffer tensor with `module`, so nothing is
    copied. Hooks registered on the copy, or buffers replaced in it, never reach the original
    or other requests' copies. Cheap: 3.6 ms for a 1024 px StyleGAN2, 1.8 ms for a StyleGAN3."""
    new = copy.copy(module)  # a new __dict__ holding the same values
    new._parameters = dict(module._parameters)
    new._buffers = dict(module._buffers)
    new._non_persistent_buffers_set = set(module._non_persistent_buffers_set)
    for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_forward_hooks_with_kwargs",
                 "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called", "_state_dict_hooks",
                 "_load_state_dict_pre_hooks", "_state_dict_pre_hooks", "_load_state_dict_post_hooks"):
        if hasattr(module, name):
            setattr(new, name, copy.copy(getattr(module, name)))
    new._modules = {name: None if child is None else private_copy(child) for name, child in module._modules.items()}
    return new
