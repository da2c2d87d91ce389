"""StyleGAN2 discriminator (Karras et al. 2020, figure 7c: the residual design), with the
official module and parameter names so its state dict lines up with the official `D`.

    image [N, C, R, R] --DiscriminatorBlock (R -> R/2) ... --> 4x4 --DiscriminatorEpilogue--> score [N, 1]
"""
import numpy as np
import torch

from stylegan.layers import FullyConnectedLayer
from stylegan.stylegan2 import Conv2dLayer


class DiscriminatorBlock(torch.nn.Module):
    """One resolution: [FromRGB] -> conv0 -> conv1 (down 2x), plus a 1x1 residual skip."""

    def __init__(self,
        in_channels,                        # Number of input channels, 0 = first block.
        tmp_channels,                       # Number of intermediate channels.
        out_channels,                       # Number of output channels.
        resolution,                         # Resolution of this block.
        img_channels,                       # Number of input color channels.
        architecture        = "resnet",     # Architecture: 'orig', 'skip', 'resnet'.
        activation          = "lrelu",      # Activation function.
        resample_filter     = [1, 3, 3, 1], # Low-pass filter applied when resampling activations.
        conv_clamp          = None,         # Clamp the output of convolution layers to +-X, None = disable clamping.
    ):
        assert architecture in ("orig", "resnet"), f"unsupported architecture {architecture!r}"
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.architecture = architecture
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation, conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img):
        if self.in_channels == 0:
            x = self.fromrgb(img)
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))  # sqrt(1/2) keeps the sum's variance
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            return y.add_(x)
        return self.conv1(self.conv0(x))


class MinibatchStdLayer(torch.nn.Module):
    """Appends the standard deviation across groups of samples as extra feature maps
    (Karras et al. 2018, section 3), so D can see a lack of variety."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size is not None else N
        F = self.num_channels
        c = C // F
        y = x.reshape(G, -1, F, c, H, W)        # [G, n, F, c, H, W]: split the batch into groups of G
        y = y - y.mean(dim=0)                   # deviation from each group's mean
        y = y.square().mean(dim=0)              # variance over the group
        y = (y + 1e-8).sqrt()                   # standard deviation
        y = y.mean(dim=[2, 3, 4])               # [n, F]: averaged over channels and pixels
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    """4x4 features -> minibatch std -> conv -> fc -> score."""

    def __init__(self,
        in_channels,                # Number of input channels.
        resolution,                 # Resolution of this block (4).
        mbstd_group_size    = 4,    # Group size for the minibatch standard deviation layer, None = entire minibatch.
        mbstd_num_channels  = 1,    # Number of features for the minibatch standard deviation layer, 0 = disable.
        activation          = "lrelu",
        conv_clamp          = None,
    ):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x):
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(torch.nn.Module):
    """image [N, C, R, R] -> realness score [N, 1] (unconditional)."""

    def __init__(self,
        img_resolution,                 # Input resolution.
        img_channels        = 3,        # Number of input color channels.
        architecture        = "resnet", # Architecture: 'orig', 'resnet'.
        channel_base        = 32768,    # Overall multiplier for the number of channels.
        channel_max         = 512,      # Maximum number of channels in any layer.
        conv_clamp          = None,     # Clamp the output of convolution layers to +-X, None = disable clamping.
        mbstd_group_size    = 4,        # Group size of the minibatch standard deviation layer.
    ):
        super().__init__()
        self.img_resolution = img_resolution
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], resolution=res,
                                       img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(channels[4], resolution=4, mbstd_group_size=mbstd_group_size, conv_clamp=conv_clamp)

    def forward(self, img):
        if img.device.type == "cpu":
            img = img.contiguous(memory_format=torch.channels_last)  # depthwise blurs: ~4x faster on the CPU
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        return self.b4(x)
