"""Edit with words, as StyleCLIP does (Patashnik et al. 2021), for any loaded generator.

    edit = optimize(G, ws, "with sunglasses")                           # latent optimisation in W+
    edit = global_edit(G, ws, "smiling", neutral="", alpha=4, beta=0.2)  # a global direction in StyleSpace
    edit.images                                                         # [N, C, H, W], about [-1, 1]

Both use the CLIP shipped beside G (the embedded one for the embedded model, companions.companion)
unless a ClipModel is passed as `clip=`.

Latent optimisation (StyleCLIP's main.py, "edit" mode): from the given W+, Adam on W+ for 300
steps at lr 0.1 with NVIDIA's schedule (5% warm-up, cosine ramp-down over the last 25%), minimising
the CLIP loss 1 - cos(image, text) plus 0.008 * |w - w_start|^2 (summed over W+), plus an optional
identity-keeping term (`preserve`: images -> [N] loss; the studio passes one built on the embedded
model's attribute classifier). StyleCLIP resizes images to CLIP's input by 7x upsampling and 32x
pooling at 1024 px; ClipModel.preprocess does the same by an area resize.

Global directions (StyleCLIP's "global" method): a text and a neutral text become delta t, the unit
vector between their CLIP embeddings (each averaged over prompt templates). Each style channel c
has a relevance direction delta i_c in CLIP space; the edit moves channel c by
alpha * sigma_c * (delta i_c . delta t) / max_c |delta i_c . delta t| where |delta i_c . delta t| >= beta,
and leaves it alone where it is below beta (disentanglement). Two ways to get delta i_c:

- exact (StyleCLIP): over 100 images, move the channel by +-5 sigma_c, and average the change of
  the normalised CLIP image embedding, each image's change normalised first; then normalise.
  Costs 2 x channels x images renders: minutes for the embedded model on a CPU, hours on a GPU
  for FFHQ-sized models. Computed once per model and cached (relevance_exact).
- fast (ours): the same to first order. How the mean unit CLIP embedding of a batch of faces
  changes when channel c moves is the c-th column of its Jacobian with respect to the styles, and
  one backward pass of (mean embedding . v) gives J^T v for every channel at once. D backward passes
  (v = each axis of CLIP's D-dimensional space; or K random directions, a Johnson-Lindenstrauss
  sketch, cheaper but less faithful) give the whole Jacobian, once per model: seconds for the
  embedded model. Every text is then linear algebra: delta i_c . delta t = J_c . delta t / |J_c|.
  It weights the faces by how much each one moves instead of equally, and is linear where the
  exact one takes a finite +-5 sigma step; how closely it agrees is measured
  (benchmarks/bench_text_edit.py, bench_relevance.py). It runs in bounded memory (a few images'
  graph at a time), its cost is counted before it runs (relevance_cost: FLOPs and memory on meta
  copies; measured_seconds), and what it computes is kept on disk per model and CLIP weights.
"""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Union

import torch
import torch.nn.functional as F

from .projection import ramped_lr
from .stylespace import conv_style_layers, offset_styles, style_statistics


@dataclass
class TextEdit:
    """What a text edit gives: the images, the edited latent (optimisation) or the style offsets
    (global), and what was used."""
    images: torch.Tensor                         # [N, C, H, W] in about [-1, 1]
    ws: torch.Tensor                             # [N, num_ws, w_dim]: edited (optimize) or as given (global)
    styles: dict = field(default_factory=dict)   # {layer: [channels]} added to the styles (global)
    history: list = field(default_factory=list)  # optimize: [{"step", "clip_loss", "l2", "preserve"}]
    step: int = 0
    steps: int = 0
    channels: int = 0                            # global: how many style channels were moved
    clip_name: str = ""
    done: bool = True


def model_clip(G, clip=None):
    """The CLIP of a text edit on G: the one given, else the one shipped beside G; on G's device
    (a CLIP given on another device is moved there: it is the caller's)."""
    from companions import companion, device_of
    if clip is None:
        clip = companion(G, "clip")
        if clip is None:
            raise ValueError("no CLIP model was given and none is shipped beside this model; pass clip=load_clip(...)")
    if clip.device != device_of(G):
        clip.to(device_of(G))
    return clip


def clip_loss(clip, images: torch.Tensor, text: torch.Tensor, views: int = 0,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """1 - cos(image embedding, text embedding), per image [N]. views > 0: averaged over that many
    random crops (80-100% of the side, anywhere in the image) instead of the whole image, so the
    optimiser cannot satisfy CLIP with a pattern that only works pixel for pixel."""
    from companions.clip import random_crops
    text = text.to(images.device)
    if not views:
        return 1 - clip.encode_images(images) @ text
    x = random_crops(images.repeat(views, 1, 1, 1), 0.8, generator)
    return (1 - clip.encode_images(x) @ text).view(views, images.shape[0]).mean(0)


def optimize_steps(G, ws: torch.Tensor, prompt: str, clip=None, steps: int = 300, lr: float = 0.1,
                   l2_weight: float = 0.008, preserve: Optional[Callable] = None, preserve_weight: float = 1.0,
                   views: int = 0, seed: int = 0, preview_every: int = 10, noise_mode: str = "const",
                   objective: Optional[Callable] = None) -> Iterator[TextEdit]:
    """StyleCLIP latent optimisation of ws [N, num_ws, w_dim] towards `prompt`, yielding a
    TextEdit every `preview_every` steps and a last one with done=True. Stopping the iteration
    stops the optimisation. preserve(images) -> [N] is added with preserve_weight. objective:
    images -> [N], in place of CLIP's loss (benchmarks' yardsticks steer by a classifier this way;
    the history's "clip_loss" is then its value)."""
    if steps < 0:
        raise ValueError("steps must be 0 or more")
    if objective is None:
        clip = model_clip(G, clip)
        text = clip.encode_prompt(prompt)
        gen = torch.Generator().manual_seed(int(seed))

        def objective(images):
            return clip_loss(clip, images, text, views, gen)
    start = ws.detach().float().clone()
    w = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    history = []

    def state(step, images, done=False):
        return TextEdit(images.detach(), w.detach().clone(), history=list(history), step=step, steps=steps,
                        clip_name=clip.name if clip is not None else "", done=done)

    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = ramped_lr(lr, step / steps, rampup=0.05, rampdown=0.25)  # StyleCLIP's: NVIDIA's schedule
        images = G.synthesis(w, noise_mode=noise_mode)
        c = objective(images)
        l2 = (w - start).square().sum(dim=[1, 2])
        loss = c + l2_weight * l2
        rec = {"step": step + 1, "clip_loss": round(float(c.detach().mean()), 5), "l2": round(float(l2.detach().mean()), 5)}
        if preserve is not None:
            p = preserve(images)
            loss = loss + preserve_weight * p
            rec["preserve"] = round(float(p.detach().mean()), 5)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        history.append(rec)
        if (step + 1) % max(1, preview_every) == 0 and step + 1 < steps:
            yield state(step + 1, images)
    with torch.no_grad():
        images = G.synthesis(w, noise_mode=noise_mode)
    yield state(steps, images, done=True)


def optimize(G, ws: torch.Tensor, prompt: str, **options) -> TextEdit:
    """The final state of optimize_steps."""
    import collections
    return collections.deque(optimize_steps(G, ws, prompt, preview_every=1 << 30, **options), maxlen=1)[0]


def attribute_keeper(classifier, images: torch.Tensor, attributes) -> Callable[[torch.Tensor], torch.Tensor]:
    """An identity-keeping term from an attribute classifier (for the embedded model, where no
    face-recognition network applies): KL(start || now) of the classifier's readings of
    `attributes`, summed, per image [N]. images: the start images [N, C, H, W]."""
    size = classifier.config.resolution

    def read(x):
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")
        out = classifier(x.clamp(-1, 1))
        return {a: F.log_softmax(out[a].float(), dim=1) for a in attributes}
    with torch.no_grad():
        start = read(images)

    def preserve(x):
        now = read(x)
        return sum((start[a].exp() * (start[a] - now[a])).sum(dim=1) for a in attributes) if attributes else \
            x.new_zeros(x.shape[0])
    return preserve


# --- global directions ------------------------------------------------------------------------

@dataclass
class Relevance:
    """Each conv style channel's direction in CLIP space (StyleCLIP's delta i_c), for one
    generator and one CLIP."""
    layers: list                   # [(layer name, channels)] in order
    directions: torch.Tensor       # [total channels, K]: unit delta i_c (exact, K = D); the Jacobian (fast)
    std: torch.Tensor              # [total channels]: sigma_c
    method: str                    # "exact" or "fast"
    clip_name: str
    images: int
    basis: Optional[torch.Tensor] = None  # fast: [K, D], the directions CLIP space was probed along
    clip_id: str = ""              # the CLIP's fingerprint (ClipModel.fingerprint): which weights it was made with

    def split(self, values: torch.Tensor) -> dict:
        out, i = {}, 0
        for name, n in self.layers:
            out[name] = values[i:i + n]
            i += n
        return out

    def scores(self, text: torch.Tensor) -> torch.Tensor:
        """delta i_c . delta t for every channel [total channels]: a cosine in [-1, 1]. Fast: the
        Jacobian rows J_c (in probe coordinates) give J_c . delta t / |J_c|."""
        text = text.float().cpu()
        if self.method == "fast":
            J = self.directions.float()
            return (J @ (self.basis.float() @ text)) / J.norm(dim=1).clamp_min(1e-12)
        return F.normalize(self.directions.float(), dim=1) @ text

    def save(self, path: str) -> None:
        from safetensors.torch import save_file
        meta = {"layers": ";".join(f"{n}:{c}" for n, c in self.layers), "method": self.method,
                "clip_name": self.clip_name, "images": str(self.images), "clip_id": self.clip_id}
        tmp = path + ".tmp"
        tensors = {"directions": self.directions.contiguous(), "std": self.std.contiguous()}
        if self.basis is not None:
            tensors["basis"] = self.basis.contiguous()
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "Relevance":
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = f.metadata()
            # Copies in the allocator's own (64-byte aligned) memory: a tensor read from the file
            # need not be aligned, and the matrix products of scores() then take another kernel
            # and round differently from the relevance that was saved.
            directions, std = f.get_tensor("directions").clone(), f.get_tensor("std").clone()
            basis = f.get_tensor("basis").clone() if "basis" in f.keys() else None
        layers = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in meta["layers"].split(";")]
        return cls(layers, directions, std, meta["method"], meta["clip_name"], int(meta["images"]), basis,
                   meta.get("clip_id", ""))


def _style_setup(G, images: int, seed: int, psi: float = 1.0, class_idx: Optional[int] = None):
    """ws of `images` random seeds (a conditional model's: of class_idx), the conv layers with
    their channel counts, and sigma_c."""
    from .latents import seeds_to_ws
    ws = seeds_to_ws(G, list(range(seed, seed + images)), psi, class_idx=class_idx)
    layers = conv_style_layers(G)
    stats = style_statistics(G)
    names = list(layers)
    return ws, [(n, layers[n][1].out_features) for n in names], torch.cat([stats[n] for n in names]).float().cpu()


def relevance_exact(G, clip=None, images: int = 100, alpha: float = 5.0, seed: int = 0, batch: int = 64,
                    progress: Optional[Callable[[int, int], None]] = None, resume: Optional[str] = None) -> Relevance:
    """StyleCLIP's relevance of every conv style channel: over `images` random faces, the channel
    moved by -alpha and +alpha sigma_c; the change of the unit CLIP embedding, normalised per
    image, averaged, normalised. `resume`: a file where finished layers are kept, so a long run
    can stop and go on. progress(done, total) is called as channels finish."""
    clip = model_clip(G, clip)
    ws, layers, std = _style_setup(G, images, seed)
    device = ws.device
    D = clip.encode_texts([""]).shape[1]
    total = sum(n for _, n in layers)
    done_rows: dict = {}
    if resume and os.path.exists(resume):
        done_rows = torch.load(resume, map_location="cpu", weights_only=True)
        if done_rows.get("_clip") != clip.fingerprint:  # made with other CLIP weights: start again
            done_rows = {}
    done_rows["_clip"] = clip.fingerprint
    rows, offset = [], 0
    for name, n in layers:
        if name in done_rows:
            rows.append(done_rows[name])
            offset += n
            if progress:
                progress(offset, total)
            continue
        sigma = std[offset:offset + n]
        # Each batch item is (image, channel, sign): its style gets sign * alpha * sigma_c on channel c.
        pairs = [(i, c) for c in range(n) for i in range(images)]
        per = max(1, batch // 2)
        acc = torch.zeros(n, D)
        with torch.no_grad():
            for k in range(0, len(pairs), per):
                chunk = pairs[k:k + per]
                img = torch.tensor([i for i, _ in chunk] * 2, device=device)
                ch = torch.tensor([c for _, c in chunk] * 2, device=device)
                sign = torch.cat([-torch.ones(len(chunk)), torch.ones(len(chunk))]).to(device)
                delta = torch.zeros(len(img), n, device=device)
                delta[torch.arange(len(img)), ch] = sign * alpha * sigma.to(device)[ch]
                with offset_styles(G, {name: delta}) as Ge:
                    e = clip.encode_images(Ge.synthesis(ws[img], noise_mode="const")).cpu()
                diff = F.normalize(e[len(chunk):] - e[:len(chunk)], dim=1)   # per image, normalised
                acc.index_add_(0, ch[:len(chunk)].cpu(), diff)
        rows.append(F.normalize(acc / images, dim=1))
        done_rows[name] = rows[-1]
        if resume:
            tmp = resume + ".tmp"
            torch.save(done_rows, tmp)
            os.replace(tmp, resume)
        offset += n
        if progress:
            progress(offset, total)
    return Relevance(layers, torch.cat(rows), std, "exact", clip.name, images, clip_id=clip.fingerprint)


def _jacobian_steps(G, clip, ws, layers, std, vectors: torch.Tensor, batch: int,
                    probe_batch: int) -> Iterator[tuple[int, int, Optional[torch.Tensor]]]:
    """For each row v of `vectors` [K, D]: d(mean over images of unit CLIP embedding . v) / d(s_c / sigma_c)
    for every conv style channel c (one shared offset for all images). Yields (done, total, None)
    as backward passes finish and last (total, total, J [K, total channels]).

    Memory stays bounded whatever the model: the graph of `batch` images is held while its K
    backward passes run (`probe_batch` of them at once, as one batched vector-Jacobian product),
    then freed before the next images; nothing is kept across batches but J itself."""
    total = sum(n for _, n in layers)
    out = torch.zeros(len(vectors), total)
    groups = [vectors[k:k + probe_batch] for k in range(0, len(vectors), probe_batch)]
    passes, done = len(groups) * ((len(ws) + batch - 1) // batch), 0
    for i in range(0, len(ws), batch):
        part = ws[i:i + batch]
        offsets = {name: torch.zeros(n, device=ws.device, requires_grad=True) for name, n in layers}
        with offset_styles(G, offsets) as Ge:
            e = clip.encode_images(Ge.synthesis(part, noise_mode="const")).sum(0)   # [D]
        params = list(offsets.values())
        k = 0
        for g, group in enumerate(groups):
            keep = g + 1 < len(groups)
            v = group.to(e.device, e.dtype)
            if len(group) == 1:
                grads = [x.unsqueeze(0) for x in torch.autograd.grad(e @ v[0], params, retain_graph=keep)]
            else:  # one batched backward pass for the group: [P, D] cotangents
                grads = torch.autograd.grad(e, params, grad_outputs=v, retain_graph=keep, is_grads_batched=True)
            out[k:k + len(group)] += torch.cat([x.detach() for x in grads], dim=1).cpu()
            k += len(group)
            done += 1
            yield done, passes, None
        del e, offsets, params
    yield passes, passes, out / len(ws) * std.cpu()  # per sigma_c step


def default_relevance_batch(G) -> int:
    """Images whose graph is held at once by the fast relevance: the whole set for small models,
    one at a time from 512 px up (a 1024 px config-f image holds up to 3.7 GiB for backward)."""
    return max(1, min(32, (256 // G.img_resolution) ** 2 * 8)) if G.img_resolution < 512 else 1


def relevance_fast_steps(G, clip=None, images: int = 32, seed: int = 0, batch: Optional[int] = None,
                         probes: Optional[int] = None, probe_batch: int = 1, class_idx: Optional[int] = None) -> Iterator:
    """relevance_fast with progress: yields (done, total) backward passes, then the Relevance
    (a conditional model's: over faces of class class_idx)."""
    clip = model_clip(G, clip)
    ws, layers, std = _style_setup(G, images, seed, class_idx=class_idx)
    D = clip.encode_texts([""]).shape[1]
    if probes is None or probes >= D:
        basis = torch.eye(D)
    else:
        basis = torch.randn(probes, D, generator=torch.Generator().manual_seed(seed)) / probes ** 0.5
    batch = batch or default_relevance_batch(G)
    for done, total, J in _jacobian_steps(G, clip, ws, layers, std, basis, batch, max(1, int(probe_batch))):
        if J is None:
            yield done, total
    yield Relevance(layers, J.T.contiguous(), std, "fast", clip.name, images, basis, clip.fingerprint)


def relevance_fast(G, clip=None, images: int = 32, seed: int = 0, batch: Optional[int] = None,
                   probes: Optional[int] = None, probe_batch: int = 1,
                   progress: Optional[Callable[[int, int], None]] = None) -> Relevance:
    """The fast relevance: the Jacobian of the mean unit CLIP embedding of `images` faces with
    respect to every conv style channel (in sigma_c units), from one backward pass per probe
    direction of CLIP space: all D axes (probes=None: exact), or `probes` random Gaussian
    directions (a Johnson-Lindenstrauss sketch: cheaper, and measured to agree less with the
    exact relevance, benchmarks/bench_relevance.py). Every text is then linear algebra
    (Relevance.scores). batch: images per forward pass (default_relevance_batch);
    probe_batch: backward passes batched into one (faster on a GPU, that many times the
    backward's memory). progress(done, total) after every backward pass."""
    for item in relevance_fast_steps(G, clip, images, seed, batch, probes, probe_batch):
        if isinstance(item, Relevance):
            return item
        if progress is not None:
            progress(*item)
    raise AssertionError("unreachable")


# --- what a relevance costs, before it runs --------------------------------------------------

@dataclass
class RelevanceCost:
    """The work of relevance_fast, counted on the meta device (nothing is computed or allocated)."""
    forward_flops: float           # one image through G.synthesis and CLIP's image tower
    backward_flops: float          # one backward pass of one image (input gradients only)
    held_bytes: float              # tensors saved for backward per image (an upper bound)
    weight_bytes: float            # G's and CLIP's weights
    images: int
    probes: int
    batch: int

    @property
    def flops(self) -> float:
        return self.images * (self.forward_flops + self.probes * self.backward_flops)

    @property
    def peak_bytes(self) -> float:
        """Weights, the graph of one batch, and the backward's own temporaries (about one more image's)."""
        return self.weight_bytes + (self.batch + 1) * self.held_bytes

    def seconds(self, forward_seconds: float, backward_seconds: Optional[float] = None) -> float:
        """The time, from what one image's forward (and backward) pass takes, measured on the
        device that will run it at this batch size (measured_seconds); without a measured
        backward, from the FLOP ratio."""
        if backward_seconds is None:
            backward_seconds = forward_seconds * self.backward_flops / max(self.forward_flops, 1.0)
        return self.images * (forward_seconds + self.probes * backward_seconds)

    def describe(self, seconds: Optional[float] = None) -> str:
        text = (f"{self.flops / 1e15:.3g} PFLOP ({self.images} images x (1 forward + {self.probes} backward passes)), "
                f"peak {self.peak_bytes / 2 ** 30:.1f} GiB")
        return (f"about {duration(seconds)}: " + text) if seconds is not None else text


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _meta_copy(module: torch.nn.Module) -> dict:
    """Meta stand-ins of a module's parameters and buffers, for torch.func.functional_call (FIR
    filters keep their real separability: ops.upfirdn2d.same_filter_as)."""
    from ops.upfirdn2d import same_filter_as
    out = {k: torch.empty(v.shape, dtype=v.dtype, device="meta")
           for k, v in list(module.named_parameters()) + list(module.named_buffers())}
    for k, v in module.named_buffers():
        if "filter" in k and v.device.type != "meta":
            same_filter_as(out[k], v)
    return out


def relevance_cost(G, clip, images: int = 32, probes: Optional[int] = None, batch: Optional[int] = None) -> RelevanceCost:
    """What relevance_fast(G, clip, images, probes=probes) costs, counted with PyTorch's FLOP
    counter on meta copies of both networks: seconds to count, for any size of model."""
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode
    D = clip.encode_texts([""]).shape[1]
    K = D if probes is None or probes >= D else int(probes)
    g_params, c_params = _meta_copy(G.synthesis), _meta_copy(clip.model)
    ws = torch.zeros(1, G.num_ws, G.w_dim, device="meta", requires_grad=True)
    held = [0]

    def pack(t):
        held[0] += t.numel() * t.element_size()
        return t

    counter = FlopCounterMode(display=False)
    with counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        img = functional_call(G.synthesis, g_params, (ws,), {"noise_mode": "const"})
        e = F.normalize(_image_tower(clip, c_params, img), dim=-1).sum(0)
    forward = counter.get_total_flops()
    counter = FlopCounterMode(display=False)
    with counter:
        torch.autograd.grad(e[0], ws)
    backward = counter.get_total_flops()
    weights = sum(t.numel() * t.element_size() for t in list(G.parameters()) + list(G.buffers()) +
                  list(clip.model.parameters()))
    return RelevanceCost(float(forward), float(backward), float(held[0]), float(weights), int(images), K,
                         int(batch or default_relevance_batch(G)))


class _ImageTower(torch.nn.Module):
    """open_clip's model.encode_image as a module's forward, for torch.func.functional_call."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode_image(x)


def _image_tower(clip, params, img):
    """CLIP's image embedding with the meta parameters."""
    from torch.func import functional_call
    return functional_call(_ImageTower(clip.model), {f"model.{k}": v for k, v in params.items()},
                           (clip.preprocess(img),)).float()


def measured_seconds(G, clip, batch: int = 1) -> tuple[float, float]:
    """(forward, backward) seconds per image through G.synthesis and CLIP at this batch size, on
    their device (after one warm-up pass): what RelevanceCost.seconds scales. The first backward
    pass over a graph costs more than the next ones; that extra counts with the forward."""
    import time
    ws = torch.zeros(batch, G.num_ws, G.w_dim, device=next(G.parameters()).device)
    for _ in range(2):
        offsets = {name: torch.zeros(a.out_features, device=ws.device, requires_grad=True)
                   for name, (_, a) in conv_style_layers(G).items()}
        t0 = time.perf_counter()
        with offset_styles(G, offsets) as Ge:
            e = clip.encode_images(Ge.synthesis(ws, noise_mode="const")).sum(0)
        v = torch.ones_like(e)
        float(e.detach().sum())  # waits for a GPU
        t1 = time.perf_counter()
        torch.autograd.grad(e @ v, list(offsets.values()), retain_graph=True)  # the first pass also sets up
        t2 = time.perf_counter()
        grads = torch.autograd.grad(e @ v, list(offsets.values()))  # what each of the K passes costs
        float(grads[0].sum())
        t3 = time.perf_counter()
    return (t1 - t0 + (t2 - t1) - (t3 - t2)) / batch, (t3 - t2) / batch


def estimate_relevance(G, clip, images: int = 32, probes: Optional[int] = None,
                       batch: Optional[int] = None) -> tuple[RelevanceCost, float]:
    """(the counted cost, the estimated seconds) of relevance_fast on G's device: counted on meta
    copies, timed by one forward and backward pass there at the batch size it will use."""
    cost = relevance_cost(G, clip, images, probes, batch)
    return cost, cost.seconds(*measured_seconds(G, clip, cost.batch))


def style_direction(relevance: Relevance, text: torch.Tensor, beta: float) -> tuple[dict, int]:
    """StyleCLIP's manipulation direction: {layer: [channels]} in style units (sigma_c times the
    score, scaled so the largest is 1; channels scoring below beta are 0), and how many moved."""
    scores = relevance.scores(text)
    keep = scores.abs() >= beta
    ds = torch.where(keep, scores, torch.zeros_like(scores))
    top = ds.abs().max()
    if float(top) > 0:
        ds = ds / top
    return relevance.split(ds * relevance.std.float().cpu()), int(keep.sum())


def global_edit(G, ws: torch.Tensor, prompt: str, neutral: str = "", alpha: float = 4.0, beta: float = 0.2,
                relevance: Union[str, Relevance] = "fast", clip=None, noise_mode: str = "const") -> TextEdit:
    """Move ws's styles along the global direction of `prompt` (from `neutral`) by alpha; channels
    whose relevance is below beta are left alone. relevance: "fast", "exact" (the cached one
    shipped beside G, or computed: slow) or a Relevance."""
    clip = model_clip(G, clip)
    if not isinstance(relevance, Relevance):
        relevance = cached_relevance(G, clip, relevance)
    text = clip.text_direction(prompt, neutral)
    offsets, moved = style_direction(relevance, text, beta)
    device = ws.device
    offsets = {k: (float(alpha) * v).to(device) for k, v in offsets.items()}
    with torch.no_grad(), offset_styles(G, offsets) as Ge:
        images = Ge.synthesis(ws, noise_mode=noise_mode)
    return TextEdit(images, ws, styles={k: v.cpu() for k, v in offsets.items()}, channels=moved, clip_name=clip.name)


_memory = weakref.WeakKeyDictionary()  # G -> {(clip fingerprint, method): Relevance}; gone with G


def relevance_file(G, method: str) -> Optional[str]:
    """Where a model's relevance is shipped: the `relevance` named `method` its companions.json
    declares (the embedded model: styleclip/relevance_<method>.safetensors)."""
    from companions import manifest_of
    manifest = manifest_of(G)
    spec = manifest.get("relevance", method)
    if spec is None or spec.format != "studio-relevance":
        return None
    return manifest.local_path(spec.files["weights"])


def relevance_budget() -> float:
    """Seconds a request may spend computing a fast relevance (STUDIO_RELEVANCE_BUDGET_S); longer
    ones are for the precomputation command (training/precompute_relevance.py)."""
    return float(os.environ.get("STUDIO_RELEVANCE_BUDGET_S", "90"))


def relevance_cache_dir() -> str:
    """Where computed relevances are kept, per (model, CLIP): STUDIO_RELEVANCE_CACHE, default
    ~/.cache/stylegan-studio/relevance (on a Space: the persistent /data when it exists)."""
    explicit = os.environ.get("STUDIO_RELEVANCE_CACHE")
    if explicit:
        return explicit
    base = "/data" if os.path.isdir("/data") and os.access("/data", os.W_OK) else os.path.expanduser("~/.cache")
    return os.path.join(base, "stylegan-studio", "relevance")


_fingerprints = weakref.WeakKeyDictionary()


def model_fingerprint(G) -> str:
    """SHA-256 of G's class, config and every weight: which generator a cached analysis is for
    (computed once per loaded model; a 1024 px config-f takes about a second)."""
    if G in _fingerprints:
        return _fingerprints[G]
    import hashlib
    import json
    h = hashlib.sha256(type(G).__name__.encode())
    config = {k: v for k, v in dict(getattr(G, "config", {}) or {}).items() if not str(k).startswith("_")}
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, t in sorted(G.state_dict().items()):
        h.update(name.encode())
        if t.device.type != "meta":
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    _fingerprints[G] = value = "sha256:" + h.hexdigest()
    return value


def relevance_cache_path(G, clip, probes: Optional[int] = None, images: int = 32, class_idx: Optional[int] = None) -> str:
    model = model_fingerprint(G).split(":")[-1][:20] + (f"c{int(class_idx)}" if G.c_dim and class_idx is not None else "")
    name = "-".join([model, (clip.fingerprint or clip.name).split(":")[-1][:20], f"fast-{probes or 'all'}-{images}"])
    return os.path.join(relevance_cache_dir(), "".join(c if c.isalnum() or c in "-_" else "_" for c in name) + ".safetensors")


def disk_relevance(G, clip, probes: Optional[int] = None, images: int = 32,
                   class_idx: Optional[int] = None) -> Optional[Relevance]:
    """A fast relevance computed earlier for exactly this model and CLIP (the disk cache), or None:
    the one asked for, else (probes=None) any kept for the pair, all CLIP axes first."""
    import glob
    path = relevance_cache_path(G, clip, probes, images, class_idx)
    candidates = [path]
    if probes is None:
        prefix = path.rsplit("-fast-", 1)[0]
        candidates += sorted(glob.glob(glob.escape(prefix) + "-fast-*.safetensors"))
    for candidate in dict.fromkeys(candidates):  # the one asked for first, each file once
        if not os.path.isfile(candidate):
            continue
        try:
            rel = Relevance.load(candidate)
        except Exception:
            continue
        if rel.clip_id == (clip.fingerprint or ""):
            return rel
    return None


def save_to_disk(G, clip, relevance: Relevance, probes: Optional[int] = None,
                 class_idx: Optional[int] = None) -> Optional[str]:
    path = relevance_cache_path(G, clip, probes, relevance.images, class_idx)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        relevance.save(path)
        return path
    except OSError:
        return None


def cached_relevance(G, clip, method: str = "fast") -> Relevance:
    """The model's relevance: shipped beside it, or computed once per process (fast: kept on
    disk too, per model and CLIP; exact: StyleCLIP's full precomputation)."""
    if method not in ("fast", "exact"):
        raise ValueError("relevance must be 'fast' or 'exact'")
    known = _memory.setdefault(G, {})
    key = (clip.fingerprint or clip.name, method)
    if key not in known:
        shipped = shipped_relevance(G, clip, method)
        if shipped is not None:
            known[key] = shipped
        elif method == "fast":
            rel = disk_relevance(G, clip)
            if rel is None:
                rel = relevance_fast(G, clip)
                save_to_disk(G, clip, rel)
            known[key] = rel
        else:
            known[key] = relevance_exact(G, clip)
    return known[key]


def shipped_relevance(G, clip, method: str) -> Optional[Relevance]:
    """The relevance shipped beside G, if it was made with exactly these CLIP weights; else None."""
    path = relevance_file(G, method)
    shipped = Relevance.load(path) if path is not None else None
    if shipped is not None and clip.fingerprint and shipped.clip_id == clip.fingerprint:
        return shipped
    return None


__all__ = ["TextEdit", "optimize", "attribute_keeper", "optimize_steps", "global_edit", "Relevance", "relevance_exact", "relevance_fast",
           "relevance_fast_steps", "relevance_cost", "RelevanceCost", "measured_seconds", "estimate_relevance",
           "disk_relevance",
           "style_direction", "cached_relevance", "shipped_relevance", "clip_loss"]


# --- StyleCLIP's released global directions ----------------------------------------------------

def styleclip_layer_names(num_layers: int) -> list[tuple[str, bool]]:
    """StyleCLIP's style layers in its order, as our layer names with whether each is a ToRGB:
    conv1 and toRGB at 4x4, then conv0, conv1, toRGB per resolution (26 for a 1024 px StyleGAN2)."""
    blocks = (num_layers - 2) / 3
    if num_layers < 2 or blocks != int(blocks):
        raise ValueError(f"{num_layers} style layers is not a StyleGAN2's (2 + 3 per resolution above 4)")
    names = [("b4.conv1", False), ("b4.torgb", True)]
    for k in range(int(blocks)):
        r = 2 ** (k + 3)
        names += [(f"b{r}.conv0", False), (f"b{r}.conv1", False), (f"b{r}.torgb", True)]
    return names


def load_styleclip_global(s_mean_std_path, fs3_path, clip_name: str = "ViT-B-32/openai") -> Relevance:
    """StyleCLIP's released global directions (its authors' hours of GPU time): `S_mean_std`,
    a pickle of [means, stds] per style layer (read with numpy's array rebuilds only), and
    `fs3.npy`, one unit CLIP-space direction per channel of the non-ToRGB layers, in StyleCLIP's
    order (it may stop at a layer boundary: the layers after it get no edit). What global_edit
    takes as relevance= (exact: StyleCLIP's GetBoundary). They were made with OpenAI's
    ViT-B/32, so the text directions must come from that CLIP."""
    import numpy as np

    from stylegan.loaders import read_numpy_pickle

    from .directions import _npy_array
    value = read_numpy_pickle(os.fspath(s_mean_std_path))
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (list, tuple)) for v in value)
            and len(value[0]) == len(value[1])):
        raise ValueError("S_mean_std is not StyleCLIP's [means, stds]: two lists with one array per style layer")
    stds = [np.asarray(s, dtype=np.float32).reshape(-1) for s in value[1]]
    names = styleclip_layer_names(len(stds))
    size = os.path.getsize(fs3_path)
    with open(fs3_path, "rb") as f:
        fs3 = torch.from_numpy(np.asarray(_npy_array(f, "fs3.npy", size), dtype=np.float32))
    if fs3.ndim != 2 or not torch.isfinite(fs3).all():
        raise ValueError("fs3.npy is not a [channels, CLIP width] array of finite numbers")
    layers, std, total = [], [], 0
    for (name, torgb), s in zip(names, stds):
        if torgb:
            continue
        if total == len(fs3):
            break
        total += len(s)
        layers.append((name, len(s)))
        std.append(torch.from_numpy(s))
    if total != len(fs3):
        raise ValueError(f"fs3.npy has {len(fs3)} rows, which do not end at a layer boundary of S_mean_std's layers")
    return Relevance(layers, fs3, torch.cat(std), "exact", clip_name, 0, clip_id=f"styleclip:{clip_name}")
