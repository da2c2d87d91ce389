"""Image distances for projection: what "looks the same" means to the optimiser.

- LPIPS through the `lpips` package (VGG16 backbone): the distance NVIDIA's projector uses.
- Image2StyleGAN's perceptual loss: mean squared differences of VGG16 activations at conv1_1,
  conv1_2, conv3_2 and conv4_2 (after their ReLUs).
- The offline fallback, which needs no download: pixel MSE, 1 - MS-SSIM (pytorch-msssim, with a
  window that fits the image: 3 at 64 px) and, where the model ships an attribute classifier,
  the squared distance of its pooled features -- an in-domain perceptual distance.

The VGG16 weights are torchvision's ImageNet weights (vgg16-397923af.pth). They are looked for
in torch's hub cache (or at STUDIO_VGG16_WEIGHTS) and downloaded there when missing, with a
time limit; the lpips wheel ships only its small calibration layers. Where neither works (no
internet), the fallback is used and a warning says so, once per process; every Distance carries
a `name` that says which distance it is, and the page shows it.

Every distance takes two batches of images [N, 3, H, W] in [-1, 1] and returns one value per image [N].
"""
from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

log = logging.getLogger("companions.perceptual")

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_FILE = "vgg16-397923af.pth"
DOWNLOAD_TIMEOUT_S = float(os.environ.get("STUDIO_VGG16_TIMEOUT_S", "20"))
RETRY_AFTER_S = 600          # after a failed download, use the fallback this long before trying again

# VGG16 `features` indices of the ReLUs after the layers Image2StyleGAN uses.
IMAGE2STYLEGAN_LAYERS = {"conv1_1": 1, "conv1_2": 3, "conv3_2": 13, "conv4_2": 20}


@dataclass
class Distance:
    name: str                                                     # what it is, for people
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]      # (a, b) -> [N]
    pretrained: bool = True                                       # False: a stand-in (random or fallback)

    def __call__(self, a, b):
        return self.fn(a, b)


# --- VGG16 weights ----------------------------------------------------------------------------

_lock = threading.Lock()
_weights: dict = {}          # "state" -> state dict of VGG16 `features`, once found
_failed_at = [0.0]
_warned = [False]


def _weights_path() -> str:
    explicit = os.environ.get("STUDIO_VGG16_WEIGHTS")
    if explicit:
        return explicit
    return os.path.join(torch.hub.get_dir(), "checkpoints", VGG16_FILE)


def _download(path: str) -> None:
    tmp = f"{path}.{os.getpid()}.part"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    deadline = time.monotonic() + 30 * DOWNLOAD_TIMEOUT_S
    with urllib.request.urlopen(VGG16_URL, timeout=DOWNLOAD_TIMEOUT_S) as r, open(tmp, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError("VGG16 download too slow")
    os.replace(tmp, path)


def vgg16_state(download: bool = True) -> Optional[dict]:
    """The ImageNet VGG16 `features` weights ({"0.weight": ...}), or None where they cannot be had
    (then a warning, once). Read with weights_only=True: a tensor file, never code."""
    with _lock:
        if "state" in _weights:
            return _weights["state"]
        path = _weights_path()
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("STUDIO_OFFLINE") == "1"
        if not os.path.isfile(path) and download and not offline and time.time() - _failed_at[0] > RETRY_AFTER_S:
            try:
                _download(path)
            except Exception as e:  # no internet, a proxy, a stall: the fallback takes over
                _failed_at[0] = time.time()
                log.info("VGG16 download failed: %s", type(e).__name__)
        if os.path.isfile(path):
            try:
                full = torch.load(path, map_location="cpu", weights_only=True)
                _weights["state"] = {k.removeprefix("features."): v for k, v in full.items() if k.startswith("features.")}
                return _weights["state"]
            except Exception as e:
                log.warning("VGG16 weights at the hub cache could not be read (%s)", type(e).__name__)
        if not _warned[0]:
            _warned[0] = True
            log.warning("VGG16 ImageNet weights are not available (no internet?): projection uses the offline "
                        "distance (pixel + MS-SSIM, plus attribute-classifier features where the model has them) "
                        "instead of LPIPS. Put %s at %s to use LPIPS.", VGG16_FILE, path)
        return None


def vgg16_features(state: Optional[dict]) -> torch.nn.Sequential:
    """torchvision's VGG16 convolutional part with `state` (None: random weights, a stand-in of
    the same cost for benchmarks and tests)."""
    import torchvision
    features = torchvision.models.vgg16(weights=None).features
    if state is not None:
        features.load_state_dict(state)
    return features.eval().requires_grad_(False)


# --- the distances --------------------------------------------------------------------------

class _TargetFeatures:
    """The features of the second argument, computed once while it is the same tensor: a
    projection compares every step's image with one fixed target (NVIDIA's projector computes
    the target's features once, too). Without gradients, as targets never need them."""

    def __init__(self, feats):
        self.feats, self.target, self.version, self.value = feats, None, None, None

    def __call__(self, b):
        if b.requires_grad:
            return self.feats(b)
        if b is not self.target or b._version != self.version:  # the tensor itself is held: no id reuse
            with torch.no_grad():
                self.value = [f.detach() for f in self.feats(b)]
            self.target, self.version = b, b._version
        return self.value


def _area_resize(x, size):
    return F.interpolate(x, size=(size, size), mode="area") if x.shape[-1] > size else x


# The networks behind the distances, built once per (kind, weights, device) in the room's cache
# and shared by every Distance made from them (a Distance holds its own target features, so runs
# never share those).
def _network(kind: str, state: Optional[dict], device, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    from . import cached
    key = ("perceptual", kind, id(state) if state is not None else None, str(torch.device(device)))
    # The state is kept with its network, so its id is not reused while the entry lives.
    return cached(key, lambda: (build().to(device).eval().requires_grad_(False), state))[0]


def _device_of(device):
    return torch.device(device if device is not None else "cpu")


def lpips_distance(state: Optional[dict], resize: int = 256, device=None) -> Distance:
    """LPIPS (VGG16, calibrated v0.1 layers from the lpips wheel) on images area-resized to
    `resize` when larger, as NVIDIA's projector does; its network on `device` (default CPU),
    built once per device."""
    import lpips

    def build():
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained`
            model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
        if state is not None:  # the backbone's modules sit in slices, named by their `features` index
            modules = {name: m for s in model.net.children() for name, m in s.named_children()}
            for key, value in state.items():
                idx, param = key.split(".")
                getattr(modules[idx], param).data.copy_(value)
        return model
    model = _network("lpips", state, _device_of(device), build)

    def feats(x):  # LPIPS v0.1: scaled input, VGG16 taps, unit-normalised over channels
        return [lpips.normalize_tensor(f) for f in model.net(model.scaling_layer(_area_resize(x, resize)))]

    target = _TargetFeatures(feats)

    def fn(a, b):  # the same value as model(a, b); b's features are kept while b is the same tensor
        fa, fb = feats(a), target(b)
        return sum(lin(d).mean(dim=[2, 3]) for lin, d in zip(model.lins, ((x - y).square() for x, y in zip(fa, fb)))).flatten()
    fn.model = model
    return Distance("LPIPS (VGG16)" if state is not None else "LPIPS (VGG16, random backbone: a stand-in)", fn,
                    state is not None)


_IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def vgg_layers_distance(state: Optional[dict], layers=tuple(IMAGE2STYLEGAN_LAYERS), resize: int = 256,
                        device=None) -> Distance:
    """Image2StyleGAN's perceptual loss: sum over layers of the mean squared difference of VGG16
    activations (each layer weighted 1, as in the paper), images area-resized to `resize`; the
    VGG16 on `device` (default CPU), built once per device."""
    depth = max(IMAGE2STYLEGAN_LAYERS[n] for n in layers) + 1
    net = _network("vgg16", state, _device_of(device), lambda: vgg16_features(state))[:depth]
    taps = {IMAGE2STYLEGAN_LAYERS[n] for n in layers}
    mean, std = _IMAGENET_MEAN.to(_device_of(device)), _IMAGENET_STD.to(_device_of(device))

    def feats(x):
        x = (_area_resize(x, resize) + 1) / 2
        x = (x - mean.to(x.dtype)) / std.to(x.dtype)
        out = []
        for i, layer in enumerate(net):
            x = layer(x)
            if i in taps:
                out.append(x)
        return out

    target = _TargetFeatures(feats)

    def fn(a, b):
        return sum((fa - fb).square().mean(dim=[1, 2, 3]) for fa, fb in zip(feats(a), target(b)))
    return Distance("VGG16 conv1_1, conv1_2, conv3_2, conv4_2" + ("" if state is not None else " (random weights: a stand-in)"),
                    fn, state is not None)


def msssim_window(size: int) -> int:
    """The largest odd Gaussian window (at most 11, the default) for which MS-SSIM's five scales
    fit an image of `size` pixels: pytorch-msssim needs size > (window - 1) * 2**4."""
    win = 11
    while win > 3 and size <= (win - 1) * 16:
        win -= 2
    return win


def msssim_distance(a, b) -> torch.Tensor:
    """1 - MS-SSIM per image, on images in [-1, 1] larger than 32 px (pytorch-msssim, the
    window from msssim_window)."""
    from pytorch_msssim import ms_ssim
    win = msssim_window(min(a.shape[-2:]))
    return 1 - ms_ssim((a.float() + 1) / 2, (b.float() + 1) / 2, data_range=1.0, size_average=False, win_size=win)


def classifier_feature_distance(classifier) -> Callable:
    """Squared distance of an attribute classifier's pooled features, per feature (the
    in-domain perceptual distance of the embedded model)."""
    classifier = classifier.eval().requires_grad_(False)
    size = classifier.config.resolution

    def fn(a, b):
        if a.shape[-1] != size:
            a, b = F.interpolate(a, size=(size, size), mode="area"), F.interpolate(b, size=(size, size), mode="area")
        return (classifier.features(a) - classifier.features(b)).square().mean(dim=1)
    return fn


def offline_distance(size: int, classifier=None, msssim_weight: float = 1.0, feature_weight: float = 1.0) -> Distance:
    """Pixel MSE + 1 - MS-SSIM (+ classifier features): needs nothing downloaded."""
    parts = [lambda a, b: (a - b).square().mean(dim=[1, 2, 3])]
    name = "pixel MSE"
    if size > 32:
        parts.append(lambda a, b: msssim_weight * msssim_distance(a, b))
        name += f" + MS-SSIM (window {msssim_window(size)})"
    if classifier is not None:
        feat = classifier_feature_distance(classifier)
        parts.append(lambda a, b: feature_weight * feat(a, b))
        name += " + attribute-classifier features"

    def fn(a, b):
        return sum(p(a, b) for p in parts)
    return Distance(name, fn, pretrained=False)


def perceptual(kind: str = "lpips", size: int = 256, classifier=None, download: bool = True,
               stand_in: bool = False, device=None) -> Distance:
    """The distance a projection recipe asks for: "lpips" (NVIDIA) or "vgg-layers"
    (Image2StyleGAN), with the ImageNet VGG16 where it can be had, else the offline fallback
    (the returned Distance's name says which). stand_in=True: VGG16 with random weights instead
    of the fallback (the same cost: benchmarks and tests of the plumbing, never a real distance).
    The networks run on `device` (the generator's; default CPU), built once per device; the
    fallback uses `classifier` where it is (on the generator's device)."""
    if kind not in ("lpips", "vgg-layers"):
        raise ValueError(f"unknown perceptual distance {kind!r}")
    state = None if stand_in else vgg16_state(download)
    if state is None and not stand_in:
        return offline_distance(size, classifier)
    if kind == "lpips":
        return lpips_distance(state, device=device)
    return vgg_layers_distance(state, device=device)
