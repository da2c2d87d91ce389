"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): the same random, differentiable transforms applied to every image D sees, real
and fake, so D cannot memorise a small training set and G still gets gradients through them.

Images are [N, C, H, W] in [-1, 1]; `generator` makes the draws reproducible.
"""
import torch


def _rand(n, generator, device):
    return torch.rand(n, 1, 1, 1, generator=generator).to(device)


def color(x, generator=None):
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], per image."""
    x = x + (_rand(len(x), generator, x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(len(x), generator, x.device) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(len(x), generator, x.device) + 0.5) + mean


def translation(x, ratio=0.125, generator=None):
    """Shift each image by up to `ratio` of its size, filling with zeros."""
    N, C, H, W = x.shape
    sh, sw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (N, 1, 1), generator=generator).to(x.device)
    tx = torch.randint(-sw, sw + 1, (N, 1, 1), generator=generator).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(H, device=x.device), torch.arange(W, device=x.device), indexing="ij")
    gy = (gy.unsqueeze(0) + ty + 1).clamp(0, H + 1)  # index into the zero-padded image
    gx = (gx.unsqueeze(0) + tx + 1).clamp(0, W + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    flat = padded.flatten(2)  # [N, C, (H+2)*(W+2)]
    idx = (gy * (W + 2) + gx).flatten(1).unsqueeze(1).expand(N, C, H * W)
    return flat.gather(2, idx).reshape(N, C, H, W)


def cutout(x, ratio=0.5, generator=None):
    """Zero one square of `ratio` times the image size at a random place in each image."""
    N, C, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    oy = torch.randint(0, H + (1 - ch % 2), (N, 1, 1), generator=generator).to(x.device)
    ox = torch.randint(0, W + (1 - cw % 2), (N, 1, 1), generator=generator).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(H, device=x.device), torch.arange(W, device=x.device), indexing="ij")
    yy = gy.unsqueeze(0) - oy + ch // 2  # position inside the square, per image
    xx = gx.unsqueeze(0) - ox + cw // 2
    inside = (yy >= 0) & (yy < ch) & (xx >= 0) & (xx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x, policy="color,translation,cutout", generator=None):
    for name in filter(None, policy.split(",")):
        x = POLICIES[name](x, generator=generator)
    return x
