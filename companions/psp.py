"""pSp, e4e and ReStyle encoders, read from their release files (`psp_ffhq_encode.pt`,
`e4e_ffhq_encode.pt`, `restyle_psp_ffhq_encode.pt`, `restyle_e4e_ffhq_encode.pt`).

Written here from the papers and the layout of the files, never from code in them:

- Richardson et al. 2021, "Encoding in Style" (pSp): an IR-SE50 backbone (ArcFace's ResNet-50
  with squeeze-and-excitation) and a feature pyramid; each w of W+ comes from one
  "map2style" block on the coarse (16x16), middle (32x32) or fine (64x64) feature map.
- Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation" (e4e): the same
  network, but w_0 is predicted once and every other w is w_0 plus a learned offset, which keeps
  the code near W (editable).
- Alaluf et al. 2021, "ReStyle": a plain backbone that takes the image and the current
  reconstruction (6 channels) and predicts a residual, applied k times from the average latent.

The file is a dict `{state_dict, opts, latent_avg}`; the state dict holds the whole pSp module,
`encoder.*` and the generator (`decoder.*`, rosinality names). Every width, the number of
backbone units and of styles, and w_dim are read from the weight shapes; `opts['encoder_type']`
names the head. Reading is `torch.load(weights_only=True)` after the archive's sizes are checked
(stylegan.loaders.read_torch_checkpoint): nothing in the file runs.

    enc = load_psp("e4e_ffhq_encode.pt")
    ws = enc.encode(images)                             # [-1, 1], any size -> [N, n_styles, w_dim]
    ws = enc.encode(images, G=enc.decoder, iterations=5)   # ReStyle
"""
from __future__ import annotations

import math
import re
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 256              # the official transforms resize every image to 256x256
COARSE, MIDDLE = 3, 7         # pSp/e4e: styles 0-2 from the 16x16 map, 3-6 from 32x32, the rest from 64x64

FPN_KINDS = ("GradualStyleEncoder", "Encoder4Editing")            # pSp, e4e
W_KINDS = ("BackboneEncoderUsingLastLayerIntoW", "BackboneEncoderUsingLastLayerIntoWPlus")  # pSp's W / W+ heads
RESTYLE_KINDS = ("BackboneEncoder", "ProgressiveBackboneEncoder")  # ReStyle-pSp, ReStyle-e4e
KINDS = FPN_KINDS + W_KINDS + RESTYLE_KINDS


class EncoderFileError(ValueError):
    """The file is not an encoder of a layout we read; the message says why."""


# --- the backbone -----------------------------------------------------------------------------

class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(relu(fc1(mean over space of x)))): channel attention (Hu et al. 2018)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=False)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=False)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class BottleneckIRSE(nn.Module):
    """ArcFace's improved residual unit with SE: BN, conv3x3, PReLU, conv3x3 (stride), BN, SE;
    the shortcut is a 1x1 conv + BN where the width changes, else a plain subsampling."""

    def __init__(self, in_channels: int, depth: int, stride: int, reduced: int):
        super().__init__()
        self.stride = stride
        if in_channels != depth:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        else:
            self.shortcut_layer = None  # MaxPool2d(1, stride): every stride-th pixel, no weights
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SqueezeExcite(depth, reduced))

    def forward(self, x):
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.shortcut_layer is None else self.shortcut_layer(x)
        return self.res_layer(x) + shortcut


class EqualLinear(nn.Module):
    """A linear layer whose weight is scaled by 1/sqrt(fan_in) when used (StyleGAN's
    equalised learning rate, learning-rate multiplier 1 as the encoders use it)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return F.linear(x, self.weight / math.sqrt(self.weight.shape[1]), self.bias)


class MapToStyle(nn.Module):
    """pSp's map2style: stride-2 3x3 convolutions (LeakyReLU 0.01) down to 1x1, then an
    EqualLinear: one w from a feature map. Stored as `convs.{0,2,..}` and `linear`."""

    def __init__(self, in_channels: int, w_dim: int, num_convs: int):
        super().__init__()
        layers, c = [], in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, w_dim, 3, 2, 1), nn.LeakyReLU(0.01)]
            c = w_dim
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(w_dim, w_dim)

    def forward(self, x):
        x = self.convs(x)                                            # [N, w_dim, 1, 1] from 256 px input
        return self.linear(x.flatten(1))                             # [N, w_dim]


def _upsample_add(x, y):
    """The feature pyramid's top-down step: x resized to y's size (bilinear, corners aligned) + y."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


# --- the encoders -----------------------------------------------------------------------------

class PSPEncoder(nn.Module):
    """One of pSp's, e4e's or ReStyle's encoders. forward(x) -> the codes before latent_avg:
    [N, n_styles, w_dim] (or [N, w_dim] for pSp's W head)."""

    def __init__(self, kind: str, units: list, input_channels: int, stem: int, n_styles: int, w_dim: int,
                 head: dict):
        super().__init__()
        if kind not in KINDS:
            raise EncoderFileError(f"encoder_type {kind!r} is not one we read (we read {', '.join(KINDS)})")
        self.kind, self.n_styles, self.w_dim = kind, n_styles, w_dim
        self.input_layer = nn.Sequential(nn.Conv2d(input_channels, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                         nn.PReLU(stem))
        self.body = nn.Sequential(*[BottleneckIRSE(*u) for u in units])
        starts = [i for i, u in enumerate(units) if u[2] == 2]       # each stage opens with a stride-2 unit
        self.stage_ends = [s - 1 for s in starts[1:]] + [len(units) - 1]
        widths = [units[e][1] for e in self.stage_ends]
        if kind in FPN_KINDS:
            if len(self.stage_ends) < 4:
                raise EncoderFileError("a pSp/e4e backbone has four stages")
            self.styles = nn.ModuleList(MapToStyle(widths[-1], w_dim, n) for n in head["convs"])
            self.latlayer1 = nn.Conv2d(widths[-2], widths[-1], 1)
            self.latlayer2 = nn.Conv2d(widths[-3], widths[-1], 1)
        elif kind in RESTYLE_KINDS:
            self.styles = nn.ModuleList(MapToStyle(widths[-1], w_dim, n) for n in head["convs"])
        elif kind == "BackboneEncoderUsingLastLayerIntoW":
            self.linear = EqualLinear(widths[-1], w_dim)
        else:  # ...IntoWPlus
            self.output_layer_2 = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                                                nn.Linear(widths[-1] * 49, w_dim))
            self.linear = EqualLinear(w_dim, w_dim * n_styles)

    def forward(self, x):
        x = self.input_layer(x)
        if self.kind in FPN_KINDS:
            taps = {}
            for i, unit in enumerate(self.body):
                x = unit(x)
                taps[i] = x
            c1, c2, c3 = (taps[e] for e in self.stage_ends[-3:])     # 64x64, 32x32, 16x16 at 256 px input
            p2 = _upsample_add(c3, self.latlayer1(c2))
            p1 = _upsample_add(p2, self.latlayer2(c1))
            maps = [c3 if j < COARSE else p2 if j < MIDDLE else p1 for j in range(self.n_styles)]
            if self.kind == "GradualStyleEncoder":
                return torch.stack([style(m) for style, m in zip(self.styles, maps)], dim=1)
            w0 = self.styles[0](c3)                                   # e4e: w_0, then w_i = w_0 + delta_i
            return torch.stack([w0] + [w0 + style(m) for style, m in zip(self.styles[1:], maps[1:])], dim=1)
        x = self.body(x)
        if self.kind == "BackboneEncoder":
            return torch.stack([style(x) for style in self.styles], dim=1)
        if self.kind == "ProgressiveBackboneEncoder":
            w0 = self.styles[0](x)
            return torch.stack([w0] + [w0 + style(x) for style in self.styles[1:]], dim=1)
        if self.kind == "BackboneEncoderUsingLastLayerIntoW":
            return self.linear(x.mean(dim=(2, 3)))                   # [N, w_dim]: one w for every style
        return self.linear(self.output_layer_2(x)).view(-1, self.n_styles, self.w_dim)


def face_pool(images):
    """Images to the encoders' 256x256 as the official code pools its decoder's output
    (AdaptiveAvgPool2d): an area average from 1024 px, a pixel repeat from 64 px."""
    if images.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
        return images
    return F.adaptive_avg_pool2d(images, (INPUT_SIZE, INPUT_SIZE))


class ReleasedEncoder(nn.Module):
    """An encoder of a release file with its latent_avg and (where the file has it) its decoder,
    with the API of our own encoder (companions.encoder.Encoder): encode(images) -> W+."""

    def __init__(self, net: PSPEncoder, latent_avg: Optional[torch.Tensor], family: str, opts: dict,
                 decoder=None):
        super().__init__()
        self.net = net
        self.family = family                                          # psp | e4e | restyle-psp | restyle-e4e
        self.opts = opts                                              # the plain options of the file (no paths)
        self.decoder = decoder                                        # a StyleGAN2Generator, or None
        self.register_buffer("latent_avg", latent_avg if latent_avg is not None else torch.zeros(net.n_styles, net.w_dim))
        self.has_latent_avg = latent_avg is not None
        self.num_ws, self.w_dim = net.n_styles, net.w_dim

    @property
    def iterative(self) -> bool:
        return self.net.kind in RESTYLE_KINDS

    @property
    def default_iterations(self) -> int:
        return int(self.opts.get("n_iters_per_batch") or 5) if self.iterative else 1

    def fits(self, G) -> bool:
        return (self.num_ws, self.w_dim) == (G.num_ws, G.w_dim)

    def _codes(self, x):
        codes = self.net(x)
        if codes.ndim == 2:                                           # a W encoder: one code for every style
            codes = codes[:, None].expand(-1, self.num_ws, -1)
        return codes

    def encode(self, images, G=None, iterations: Optional[int] = None, noise_mode: str = "const"):
        """W+ [N, n_styles, w_dim] of images [N, 3, H, W] in [-1, 1]. ReStyle encoders refine it
        `iterations` times (default: the file's n_iters_per_batch), each time seeing the image and
        G's reconstruction (G: default the decoder in the file)."""
        x = face_pool(images.float())
        if not self.iterative:
            codes = self._codes(x)
            return codes + self.latent_avg if self.has_latent_avg else codes
        G = G if G is not None else self.decoder
        if G is None:
            raise EncoderFileError("a ReStyle encoder needs a generator: pass G= (the file held no decoder)")
        k = self.default_iterations if iterations is None else int(iterations)
        if k < 1:
            raise EncoderFileError("ReStyle iterations: at least 1")
        avg = self.latent_avg[None].expand(len(x), -1, -1)
        y = self.average_image(G, noise_mode).expand(len(x), -1, -1, -1)
        ws = avg
        for i in range(k):
            ws = ws + self._codes(torch.cat([x, y], dim=1))           # a residual on the previous estimate
            if i + 1 < k:
                y = face_pool(G.synthesis(ws.to(next(G.parameters()).dtype), noise_mode=noise_mode).float())
        return ws

    def average_image(self, G, noise_mode: str = "const"):
        """G's image of latent_avg, pooled to 256x256: what ReStyle's first iteration sees. [1, 3, 256, 256]"""
        return face_pool(G.synthesis(self.latent_avg[None], noise_mode=noise_mode).float())


# --- reading the file ---------------------------------------------------------------------------

def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _count(state: dict, pattern: str) -> int:
    """How many consecutive indices i have a key matching pattern.format(i)."""
    n = 0
    while pattern.format(n) in state:
        n += 1
    return n


def architecture(state: dict, kind: str) -> dict:
    """The constructor arguments of PSPEncoder, from the weight shapes alone."""
    try:
        stem_w = state["input_layer.0.weight"]
        units = []
        for i in range(_count(state, "body.{}.res_layer.1.weight")):
            p = f"body.{i}."
            depth, in_channels = state[p + "res_layer.1.weight"].shape[:2]
            has_shortcut = p + "shortcut_layer.0.weight" in state
            stride = 2 if (i == 0 or has_shortcut) else 1
            reduced = state[p + "res_layer.5.fc1.weight"].shape[0]
            units.append((int(in_channels), int(depth), stride, int(reduced)))
        if not units:
            raise EncoderFileError("the file's encoder has no backbone units (body.0...)")
        head = {}
        if kind in FPN_KINDS + RESTYLE_KINDS:
            n_styles = _count(state, "styles.{}.linear.weight")
            head["convs"] = [sum(1 for k in state if re.fullmatch(rf"styles\.{j}\.convs\.\d+\.weight", k))
                             for j in range(n_styles)]
            w_dim = int(state["styles.0.linear.weight"].shape[0])
        elif kind == "BackboneEncoderUsingLastLayerIntoW":
            n_styles, w_dim = 0, int(state["linear.weight"].shape[0])
        else:
            w_dim = int(state["output_layer_2.3.weight"].shape[0])
            n_styles = int(state["linear.weight"].shape[0]) // w_dim
        return dict(kind=kind, units=units, input_channels=int(stem_w.shape[1]), stem=int(stem_w.shape[0]),
                    n_styles=n_styles, w_dim=w_dim, head=head)
    except KeyError as e:
        raise EncoderFileError(f"the file's encoder lacks {e.args[0]!r}, which a {kind} has") from None


def _family(kind: str, opts: dict) -> str:
    if kind in RESTYLE_KINDS:
        return "restyle-e4e" if kind == "ProgressiveBackboneEncoder" else "restyle-psp"
    return "e4e" if kind == "Encoder4Editing" else "psp"


def _latent_avg(value, n_styles: int, w_dim: int) -> Optional[torch.Tensor]:
    """latent_avg as stored ([n_styles, w_dim], [1, w_dim] or [w_dim]) -> [n_styles, w_dim]."""
    if value is None:
        return None
    if not isinstance(value, torch.Tensor) or value.numel() % max(w_dim, 1):
        raise EncoderFileError("the file's latent_avg is not a tensor of whole ws")
    value = value.detach().float().reshape(-1, w_dim)
    if len(value) == 1:
        value = value.expand(n_styles, -1)
    if len(value) != n_styles:
        raise EncoderFileError(f"the file's latent_avg holds {len(value)} ws; the encoder predicts {n_styles}")
    return value.clone()


SAFE_OPTS = ("encoder_type", "dataset_type", "start_from_latent_avg", "learn_in_w", "output_size", "stylegan_size",
             "input_nc", "label_nc", "n_styles", "n_iters_per_batch", "resize_outputs")


def encoder_from_checkpoint(ckpt: dict, with_decoder: bool = True) -> ReleasedEncoder:
    """A ReleasedEncoder from a loaded release file (a dict of plain values and tensors)."""
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise EncoderFileError("not a pSp / e4e / ReStyle checkpoint: it has no 'state_dict'")
    opts = ckpt.get("opts")
    opts = opts if isinstance(opts, dict) else vars(opts) if hasattr(opts, "__dict__") else {}
    kind = opts.get("encoder_type")
    state = ckpt["state_dict"]
    enc_state = _prefixed(state, "encoder.")
    if not isinstance(kind, str):  # some re-saved files lose opts: tell the heads apart by their weights
        kind = ("Encoder4Editing" if "latlayer1.weight" in enc_state and opts.get("progressive_steps") else
                "GradualStyleEncoder" if "latlayer1.weight" in enc_state else
                "BackboneEncoder" if "styles.0.linear.weight" in enc_state else
                "BackboneEncoderUsingLastLayerIntoWPlus" if "output_layer_2.3.weight" in enc_state else
                "BackboneEncoderUsingLastLayerIntoW")
    if kind not in KINDS:
        raise EncoderFileError(f"encoder_type {str(kind)[:60]!r} is not one we read (we read {', '.join(KINDS)})")
    args = architecture(enc_state, kind)
    if kind == "BackboneEncoderUsingLastLayerIntoW":
        n_styles = int(opts.get("n_styles") or 0)
        dec = _prefixed(state, "decoder.")
        if not n_styles and "to_rgb1.conv.weight" in dec:
            n_styles = 2 * (2 + _count(dec, "to_rgbs.{}.conv.weight")) - 2   # rosinality's n_latent = 2 log2(res) - 2
        args["n_styles"] = n_styles or int(math.log2(int(opts.get("output_size") or 1024))) * 2 - 2
    net = PSPEncoder(**args)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in enc_state.items()}, strict=True)
    latent_avg = _latent_avg(ckpt.get("latent_avg"), args["n_styles"], args["w_dim"])
    if opts.get("start_from_latent_avg") is False:
        latent_avg = None
    decoder = None
    dec_state = _prefixed(state, "decoder.")
    if with_decoder and dec_state:
        from stylegan.loaders import generator_from_rosinality
        decoder = generator_from_rosinality(dec_state, None if latent_avg is None else latent_avg[0])
    plain = {k: opts[k] for k in SAFE_OPTS if k in opts and isinstance(opts[k], (str, int, float, bool, type(None)))}
    return ReleasedEncoder(net, latent_avg, _family(kind, opts), plain, decoder).eval().requires_grad_(False)


def load_psp(path, with_decoder: bool = True) -> ReleasedEncoder:
    """The encoder of a pSp / e4e / ReStyle release file, eval mode, float32, on the CPU."""
    from stylegan.loaders import read_torch_checkpoint
    return encoder_from_checkpoint(read_torch_checkpoint(path), with_decoder)
