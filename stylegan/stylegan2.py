"""StyleGAN2 generator (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020), with the conventions of the official PyTorch releases
(stylegan2-ada-pytorch and stylegan3's networks_stylegan2.py).

Constructor arguments, parameter names and buffer names are the official ones, so an
official checkpoint's `init_kwargs` build this module and its state dict loads unchanged.

    z --MappingNetwork--> w (broadcast to num_ws) --SynthesisNetwork--> image

Layers the official code runs in float16 on the GPU (`num_fp16_res`) run in float16 here
on CUDA too, and in float32 on the CPU.
"""
import numpy as np
import torch

import ops
from ops import (
    activation_funcs,
    bias_act,
    conv2d_resample,
    modulated_conv2d,
    modulated_conv2d_bias_act,
    setup_filter,
    upsample2d,
)

from .layers import FullyConnectedLayer, Generator, normalize_2nd_moment


class MappingNetwork(torch.nn.Module):
    """z (and class label c) -> w: an MLP on the normalized latent (paper figure 1b)."""

    def __init__(self,
        z_dim,                      # Input latent (Z) dimensionality, 0 = no latent.
        c_dim,                      # Conditioning label (C) dimensionality, 0 = no label.
        w_dim,                      # Intermediate latent (W) dimensionality.
        num_ws,                     # Number of intermediate latents to output, None = do not broadcast.
        num_layers      = 8,        # Number of mapping layers.
        embed_features  = None,     # Label embedding dimensionality, None = same as w_dim.
        layer_features  = None,     # Number of intermediate features in the mapping layers, None = same as w_dim.
        activation      = "lrelu",  # Activation function: 'relu', 'lrelu', etc.
        lr_multiplier   = 0.01,     # Learning rate multiplier for the mapping layers (paper appendix B).
        w_avg_beta      = 0.995,    # Decay for tracking the moving average of W during training, None = do not track.
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]

        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, skip_w_avg_update=True):
        x = None
        if self.z_dim > 0:
            assert z.ndim == 2 and z.shape[1] == self.z_dim, f"z must be [N, {self.z_dim}], got {list(z.shape)}"
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            assert c is not None and c.ndim == 2 and c.shape[1] == self.c_dim, f"c must be [N, {self.c_dim}]"
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y

        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        # Track the average w during training (the centre that truncation pulls towards).
        if self.w_avg_beta is not None and (update_emas or (self.training and not skip_w_avg_update)):
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]

        # Truncation trick: w' = w_avg + psi * (w - w_avg), on the first `truncation_cutoff` ws.
        if truncation_psi != 1:
            assert self.w_avg_beta is not None, "this mapping network tracks no w_avg, so it cannot truncate"
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class Conv2dLayer(torch.nn.Module):
    """Plain convolution with equalized learning rate and optional FIR resampling
    (used here for the 1x1 skip connections of the 'resnet' architecture)."""

    def __init__(self,
        in_channels,                    # Number of input channels.
        out_channels,                   # Number of output channels.
        kernel_size,                    # Width and height of the convolution kernel.
        bias            = True,         # Apply additive bias before the activation function?
        activation      = "linear",     # Activation function: 'relu', 'lrelu', etc.
        up              = 1,            # Integer upsampling factor.
        down            = 1,            # Integer downsampling factor.
        resample_filter = [1, 3, 3, 1], # Low-pass filter to apply when resampling activations.
        conv_clamp      = None,         # Clamp the output to +-X, None = disable clamping.
        channels_last   = False,        # Expect the input to have memory_format=channels_last? (ignored: kept for checkpoints)
        trainable       = True,         # Update the weights of this layer during training?
    ):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))
        self.act_gain = activation_funcs[activation].def_gain
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        bias = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias) if bias is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)

    def forward(self, x, gain=1):
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1))
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class SynthesisLayer(torch.nn.Module):
    """A styled 3x3 convolution: affine(w) -> modulated conv (optionally upsampling)
    -> per-pixel noise -> bias + leaky ReLU (paper figure 2d)."""

    def __init__(self,
        in_channels,                    # Number of input channels.
        out_channels,                   # Number of output channels.
        w_dim,                          # Intermediate latent (W) dimensionality.
        resolution,                     # Resolution of this layer.
        kernel_size     = 3,            # Convolution kernel size.
        up              = 1,            # Integer upsampling factor.
        use_noise       = True,         # Enable noise input?
        activation      = "lrelu",      # Activation function: 'relu', 'lrelu', etc.
        resample_filter = [1, 3, 3, 1], # Low-pass filter to apply when resampling activations.
        conv_clamp      = None,         # Clamp the output of convolution layers to +-X, None = disable clamping.
        channels_last   = False,        # Use channels_last format for the weights? (ignored: kept for checkpoints)
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = activation_funcs[activation].def_gain

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)  # styles start at 1
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=None, gain=1):
        assert noise_mode in ("random", "const", "none"), f"unknown noise_mode {noise_mode!r}"
        styles = self.affine(w)  # [N, I]

        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength

        flip_weight = self.up == 1  # the upsampling path wants a true convolution
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        if fused_modconv is not None:  # the caller asked for one of the two paths: keep the ops apart
            x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=flip_weight, fused_modconv=fused_modconv)
            return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)
        return modulated_conv2d_bias_act(x, self.weight, styles, self.bias, noise=noise, up=self.up, padding=self.padding,
                                         resample_filter=self.resample_filter, flip_weight=flip_weight,
                                         act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class ToRGBLayer(torch.nn.Module):
    """Styled 1x1 convolution to image channels, without demodulation (paper figure 7)."""

    def __init__(self,
        in_channels,                # Number of input channels.
        out_channels,               # Number of output (image) channels.
        w_dim,                      # Intermediate latent (W) dimensionality.
        kernel_size     = 1,        # Convolution kernel size.
        conv_clamp      = None,     # Clamp the output to +-X, None = disable clamping.
        channels_last   = False,    # (ignored: kept for checkpoints)
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))

    def forward(self, x, w, fused_modconv=None):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp, inplace=True)


class SynthesisBlock(torch.nn.Module):
    """One resolution of the synthesis network: [conv0 (up 2x)] -> conv1 -> [ToRGB],
    wired as 'orig' (no skips), 'skip' (summed RGB outputs) or 'resnet' (residual)."""

    def __init__(self,
        in_channels,                        # Number of input channels, 0 = first block.
        out_channels,                       # Number of output channels.
        w_dim,                              # Intermediate latent (W) dimensionality.
        resolution,                         # Resolution of this block.
        img_channels,                       # Number of output color channels.
        is_last,                            # Is this the last block?
        architecture        = "skip",       # Architecture: 'orig', 'skip', 'resnet'.
        resample_filter     = [1, 3, 3, 1], # Low-pass filter to apply when resampling activations.
        conv_clamp          = 256,          # Clamp the output of convolution layers to +-X, None = disable clamping.
        use_fp16            = False,        # Use FP16 for this block (on CUDA)?
        fp16_channels_last  = False,        # (ignored: kept for checkpoints)
        fused_modconv_default = True,       # (ignored: the op picks the faster of two equal paths)
        **layer_kwargs,                     # Arguments for SynthesisLayer.
    ):
        assert architecture in ("orig", "skip", "resnet"), f"unknown architecture {architecture!r}"
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.num_conv = 0
        self.num_torgb = 0
        self.register_buffer("resample_filter", setup_filter(resample_filter))

        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, compute_dtype=None, update_emas=False, **layer_kwargs):
        w_iter = iter(ws.unbind(dim=1))
        on_cuda = ws.device.type == "cuda"
        dtype = torch.float16 if self.use_fp16 and on_cuda and not force_fp32 else torch.float32
        if compute_dtype is not None:  # e.g. torch.bfloat16 on the CPU; the image still sums in float32
            dtype = compute_dtype

        # On the CPU the fast ops run in channels-last memory (faster convolutions); the
        # plain definitions keep the default layout.
        memory_format = torch.contiguous_format
        if ws.device.type == "cpu" and not ops.config.reference_enabled():
            memory_format = torch.channels_last
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))  # sqrt(1/2) keeps the sum's variance
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=np.sqrt(0.5), **layer_kwargs)
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=memory_format)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """w+ [N, num_ws, w_dim] -> image [N, img_channels, R, R], one block per resolution 4..R."""

    def __init__(self,
        w_dim,                      # Intermediate latent (W) dimensionality.
        img_resolution,             # Output image resolution.
        img_channels,               # Number of color channels.
        channel_base    = 32768,    # Overall multiplier for the number of channels.
        channel_max     = 512,      # Maximum number of channels in any layer.
        num_fp16_res    = 0,        # Use FP16 (on CUDA) for the N highest resolutions.
        channels        = None,     # Explicit {resolution: channels} table, overrides base/max (converted checkpoints).
        **block_kwargs,             # Arguments for SynthesisBlock.
    ):
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0, "img_resolution must be a power of two"
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        if channels is not None:
            channels_dict = {int(res): int(ch) for res, ch in channels.items()}
        else:
            channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)

        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res // 2] if res > 4 else 0
            is_last = res == self.img_resolution
            block = SynthesisBlock(in_channels, channels_dict[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=(res >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def w_layout(self):
        """Which w of W+ feeds which styled layer, in the order forward reads them:
        [(layer name, index into W+, resolution)]. Block b{R} reads its convolutions' ws from
        its first w on; its ToRGB shares the next block's first w (at 1024: 18 ws)."""
        layout, w_idx = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            convs = ["conv0", "conv1"] if block.in_channels else ["conv1"]
            layout += [(f"b{res}.{name}", w_idx + k, res) for k, name in enumerate(convs)]
            if block.num_torgb:
                layout.append((f"b{res}.torgb", w_idx + block.num_conv, res))
            w_idx += block.num_conv
        return layout

    def forward(self, ws, **block_kwargs):
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}"
        ws = ws.to(torch.float32)  # block_kwargs: noise_mode, force_fp32, fused_modconv, compute_dtype
        block_ws = []
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))  # ToRGB shares the next block's first w
            w_idx += block.num_conv

        x = img = None
        for res, cur_ws in zip(self.block_resolutions, block_ws):
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, **block_kwargs)
        return img.contiguous()


class StyleGAN2Generator(Generator):
    """The StyleGAN2 generator: z, c -> image (see stylegan.layers.Generator)."""

    mapping_class = MappingNetwork
    synthesis_class = SynthesisNetwork
