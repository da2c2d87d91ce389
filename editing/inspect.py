"""Look inside a generator, as NVIDIA's visualizer does: one layer's activations for a latent
(a channel, or the norm over channels) and an image's 2-D amplitude spectrum, where StyleGAN2's
texture sticking and StyleGAN3's alias-free layers show (Karras et al. 2021, figures 1 and 5).

    names = feature_layers(G)                         # b4.conv1 ... b64.conv1 / L0_36_512 ... L14_...
    maps = activations(G, ws, "b32.conv1")            # [N, C, H, W], StyleGAN3's margins dropped
    heat = activation_map(maps, channel=None)         # [N, H, W] in [0, 1]: the channel norm, scaled
    amp = spectrum(images)                            # [N, H, W] log amplitude, centred, in [0, 1]
"""
from __future__ import annotations

from typing import Optional

import torch


def feature_layers(G) -> list[str]:
    """The synthesis layers with feature maps, from the coarsest: StyleGAN2's convolutions (the
    toRGB layers left out), every StyleGAN3 layer."""
    syn = G.synthesis
    return [name for name, _, _ in syn.w_layout() if not name.endswith("torgb")]


def layer_output(module, output) -> torch.Tensor:
    """A layer's feature map as the image sees it: the tensor of a block's (x, img) output, and
    for StyleGAN3 the centre out_sampling_rate pixels, without the margins the layers carry."""
    x = output[0] if isinstance(output, tuple) else output
    s = getattr(module, "out_sampling_rate", None)
    if s is not None and x.shape[-1] > int(s):
        m = (x.shape[-1] - int(s)) // 2
        x = x[..., m:m + int(s), m:m + int(s)]
    return x


class LayerCapture:
    """A private copy of G (stylegan.layers.private_copy: shares every weight, copies nothing)
    that keeps one layer's output of each forward pass in `.captured`."""

    def __init__(self, G, layer: str):
        from stylegan.layers import private_copy
        if not layer or layer.startswith(".") or layer not in dict(G.synthesis.named_modules()):
            raise ValueError(f"no layer {layer!r}; one of: {', '.join(feature_layers(G))}")
        self.G = private_copy(G)
        self.module = self.G.synthesis.get_submodule(layer)   # a layer or a whole block (b16)
        self.captured: Optional[torch.Tensor] = None
        self.module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.captured = layer_output(module, output)


@torch.no_grad()
def activations(G, ws: torch.Tensor, layer: str, noise_mode: str = "const", **synthesis_kwargs):
    """(images, the layer's feature maps [N, C, H, W]) for W+ latents ws."""
    capture = LayerCapture(G, layer)
    images = capture.G.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)
    return images, capture.captured.float()


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Each map of x [N, H, W] scaled to [0, 1] (a constant map: 0)."""
    lo = x.flatten(1).min(1).values[:, None, None]
    hi = x.flatten(1).max(1).values[:, None, None]
    return ((x - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)


def activation_map(maps: torch.Tensor, channel: Optional[int] = None) -> torch.Tensor:
    """One channel of maps [N, C, H, W] (signed, scaled so that 0.5 is zero), or with channel None
    the L2 norm over channels (scaled to [0, 1]). [N, H, W]"""
    if channel is None:
        return _unit(maps.norm(dim=1))
    if not 0 <= channel < maps.shape[1]:
        raise ValueError(f"channel must be from 0 to {maps.shape[1] - 1}")
    x = maps[:, channel]
    peak = x.abs().flatten(1).max(1).values[:, None, None].clamp_min(1e-12)
    return (0.5 + 0.5 * x / peak).clamp(0, 1)


def spectrum(images: torch.Tensor) -> torch.Tensor:
    """The 2-D amplitude spectrum of images [N, C, H, W] (the channels' mean, mean removed), zero
    frequency at the centre, as log(1 + |F|) scaled to [0, 1]. [N, H, W]"""
    x = images.float().mean(1)
    x = x - x.mean(dim=(1, 2), keepdim=True)
    amp = torch.fft.fftshift(torch.fft.fft2(x).abs(), dim=(-2, -1))
    return _unit(torch.log1p(amp))


def heat_rgb(x: torch.Tensor) -> torch.Tensor:
    """Maps in [0, 1] [N, H, W] as images [N, 3, H, W] in [-1, 1], through a perceptually ordered
    colour ramp (black - purple - orange - yellow, close to matplotlib's inferno)."""
    stops = torch.tensor([[0.0, 0.0, 0.02], [0.34, 0.06, 0.43], [0.73, 0.21, 0.33], [0.98, 0.55, 0.04],
                          [0.99, 1.0, 0.64]], device=x.device)
    t = x.clamp(0, 1) * (len(stops) - 1)
    i = t.floor().long().clamp(max=len(stops) - 2)
    f = (t - i)[..., None]
    rgb = stops[i] * (1 - f) + stops[i + 1] * f                         # [N, H, W, 3]
    return rgb.permute(0, 3, 1, 2) * 2 - 1
