"""An encoder: image -> W+ in one forward pass, predicted relative to the generator's w_avg.

A plain convolutional pyramid (the "encoder" of Image2StyleGAN's successors, e.g. pSp and e4e,
made small): stages of two 3x3 convolutions, each halving the resolution, down to 4x4; the 4x4
features become one offset per w. Predicting w - w_avg rather than w keeps an untrained
encoder's output on the average face, and makes the targets of every w the same scale.

    E = load_encoder(folder)           # checkpoints/<model>/encoder (or a pSp / e4e / ReStyle file)
    ws = E.encode(images)              # images [N, 3, H, W] in [-1, 1] -> [N, num_ws, w_dim]

It is trained for a generator by training/train_encoder.py and is a diffusers ModelMixin, so
it is stored as config.json + safetensors (no pickle) and loads offline.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config


class Encoder(ModelMixin, ConfigMixin):
    """x [N, 3, resolution, resolution] in [-1, 1] -> ws [N, num_ws, w_dim]."""

    config_name = "config.json"

    @register_to_config
    def __init__(self,
        num_ws: int,                 # ws of the generator it inverts
        w_dim: int,                  # width of w
        resolution: int = 64,        # input resolution (images are area-resized to it)
        width: int = 32,             # channels of the first stage; each stage doubles them up to max_width
        max_width: int = 256,
        hidden: int = 512,           # width of the head's hidden layer
    ):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, not {resolution}")
        stages, c_in = [], 3
        for i in range(int(math.log2(resolution)) - 2):  # resolution -> 4
            c = min(width * 2 ** i, max_width)
            stages += [torch.nn.Conv2d(c_in, c, 3, padding=1), torch.nn.LeakyReLU(0.2),
                       torch.nn.Conv2d(c, c, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2)]
            c_in = c
        self.trunk = torch.nn.Sequential(*stages)
        self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c_in * 16, hidden), torch.nn.LeakyReLU(0.2),
                                        torch.nn.Linear(hidden, num_ws * w_dim))
        torch.nn.init.zeros_(self.head[-1].weight)  # untrained: every w is w_avg
        torch.nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("w_avg", torch.zeros([w_dim]))  # the generator's, stored with the encoder

    def forward(self, x):
        """The offsets from w_avg. [N, num_ws, w_dim]"""
        if x.shape[-1] != self.config.resolution or x.shape[-2] != self.config.resolution:
            x = F.interpolate(x, size=(self.config.resolution,) * 2, mode="area")
        return self.head(self.trunk(x)).view(-1, self.config.num_ws, self.config.w_dim)

    def encode(self, x):
        """W+ of images x [N, 3, H, W] in [-1, 1]. [N, num_ws, w_dim]"""
        return self.w_avg + self(x)

    def fits(self, G) -> bool:
        return (self.config.num_ws, self.config.w_dim) == (G.num_ws, G.w_dim)


def load_encoder(path):
    """An encoder, eval mode, float32, on the CPU: a folder saved by training/train_encoder.py
    (config.json + safetensors), or a pSp / e4e / ReStyle release file (companions.psp). Both
    answer encode(images) -> W+ and fits(G)."""
    import os
    path = os.fspath(path)
    if os.path.isdir(path):
        return Encoder.from_pretrained(path, low_cpu_mem_usage=False).float().eval().requires_grad_(False)
    from .psp import load_psp
    return load_psp(path)
