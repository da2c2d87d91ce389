"""Train a StyleGAN2 generator (the one in stylegan/) on a folder of image shards.

    python -m training.train --data data/avataaars --run runs/avataaars --kimg 600 --minutes 150

Resumable, and exactly so: every random draw of step k (the batch of reals, z, style mixing,
augmentation) comes from generators seeded with (seed, k), and the run folder's `state.pt`
holds the networks, the optimisers, the EMA generator and the step. Stopping (Ctrl-C, SIGTERM,
--minutes) saves the state; running the same command again continues where it stopped and
reaches the same weights as an uninterrupted run.

The run folder gets `grids/` (a sample grid per snapshot), `snapshots/` (the EMA generator at
each snapshot, for the quality curve) and `log.jsonl` (losses, speed, images shown).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch

from ops.images import from_uint8, image_grid
from stylegan.stylegan2 import StyleGAN2Generator

from .discriminator import Discriminator
from .loss import StyleGAN2Loss


@dataclasses.dataclass
class TrainConfig:
    data: str = "data/avataaars"        # Folder of shards (training.avatars) -- or an (N,H,W,3) uint8 .npy.
    run: str = "runs/avataaars"         # Run folder: state, snapshots, grids, log.
    kimg: float = 600                   # Train until this many thousand real images have been shown to D.
    batch: int = 32                     # Images per step.
    seed: int = 0                       # Seed of every random draw.
    # Network size (G and D share channel_base / channel_max).
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    channel_base: int = 4096            # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 128
    # Optimisation (StyleGAN2-ADA's small-resolution settings, scaled to the batch).
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple = (0.0, 0.99)
    r1_gamma: float = 0.05
    r1_interval: int = 16               # Lazy R1: every this many D steps.
    ema_kimg: float = 10.0              # Half-life of the generator EMA, in thousand images.
    ema_rampup: float = 0.05            # EMA half-life at most this fraction of the images shown so far.
    style_mixing_prob: float = 0.9
    init: str = ""                      # Start G and its EMA from this generator (a Hub-native folder of the
                                        # same size, e.g. the shipped model); D starts fresh.
    d_warmup_kimg: float = 0.0          # Train D alone (G and its EMA frozen) for the first this many kimg: a
                                        # fresh D against a trained G otherwise sits at chance while G drifts.
    balance: float = 0.0                # Oversample rare attribute classes: 0 = the data as drawn, 1 = every
                                        # class of the rarest-served attribute equally often (see class_weights).
    boost: str = ""                     # Draw named classes more often on top of the balance, e.g.
                                        # "mouth_type=SMILE:2" (comma-separated): a class the generator under-draws
                                        # though it is common. May change on resume (a row in log.jsonl says when).
    augment: str = ""                   # DiffAugment policy ("color,translation,cutout"); "" = none.
    bf16: bool = False                  # Convolutions in bfloat16 (torch.autocast), weights and optimiser in float32.
    device: str = "cpu"                 # Where the networks train ("cuda" on a GPU). The batch, z, style mixing and
                                        # augmentation are still drawn on the CPU from (seed, step) and moved; G's
                                        # noise is drawn on the device. A run may change device on resume.
    # Bookkeeping.
    snapshot_kimg: float = 20           # Save state, a grid and an EMA snapshot every this many kimg.
    grid_size: int = 8                  # The grid is grid_size x grid_size samples of fixed z.
    threads: int = 0                    # torch threads, 0 = leave as is.

    @classmethod
    def saved(cls, state: dict) -> "TrainConfig":
        """The config a state.pt was trained with (JSON-like: its tuples come back as lists)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()})

    def generator_kwargs(self, resolution: int) -> dict:
        return dict(z_dim=self.z_dim, c_dim=0, w_dim=self.w_dim, img_resolution=resolution, img_channels=3,
                    mapping_kwargs=dict(num_layers=self.mapping_layers),
                    synthesis_kwargs=dict(channel_base=self.channel_base, channel_max=self.channel_max,
                                          num_fp16_res=0, conv_clamp=256, architecture="skip"))


def load_images(path: str) -> tuple[np.ndarray, dict]:
    """Training images as (N, H, W, 3) uint8, and their attribute labels ({} for a .npy)."""
    p = Path(path)
    if p.suffix == ".npy":
        return np.load(p, mmap_mode="r"), {}
    from .avatars import ATTRIBUTES, load_split
    images, labels = load_split(p, "train")
    return images, {a: labels[a] for a in ATTRIBUTES if a in labels}


def class_weights(labels: dict, balance: float) -> np.ndarray:
    """Sampling probabilities of the training images that oversample rare attribute classes.

    For each attribute a with class shares f_a(c) (images where it is not visible, label -1, are
    left out), the tempered shares t_a(c) = f_a(c)^(1 - balance) / sum_c' f_a(c')^(1 - balance)
    say how often class c should be seen; an image's weight is the product over its attributes
    of t_a(c) / f_a(c), so a face with two rare classes is drawn more often still. balance 0
    gives uniform sampling; 0.3 doubles sunglasses (3.7% -> 6.6%) and pink hair (1.6% -> 3.4%)
    with an effective sample of 22,000 of the 50,000 faces (measured; 0.5: 4,500)."""
    n = len(next(iter(labels.values())))
    if balance <= 0:
        return np.full(n, 1.0 / n)
    log_w = np.zeros(n)
    for values in labels.values():
        visible = values >= 0
        classes, counts = np.unique(values[visible], return_counts=True)
        f = counts / counts.sum()
        t = f ** (1 - balance)
        t /= t.sum()
        log_w[visible] += np.log(t / f)[np.searchsorted(classes, values[visible])]
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def boosted(p: np.ndarray, labels: dict, boost: str) -> np.ndarray:
    """Sampling probabilities p with the faces of the classes that `boost` names ("attribute=CLASS:factor",
    comma-separated; class names as training.avatars draws them) weighted by their factor, renormalised."""
    if not boost.strip():
        return p
    from .avatars import attribute_classes
    w = p.copy()
    for item in boost.split(","):
        try:
            attribute, rest = item.strip().split("=")
            name, factor = rest.split(":")
            index, factor = attribute_classes(attribute).index(name), float(factor)
        except (ValueError, KeyError) as e:
            raise SystemExit(f"--boost: cannot read {item.strip()!r} (attribute=CLASS:factor): {e}") from None
        if attribute not in labels or not factor > 0:
            raise SystemExit(f"--boost: {attribute!r} is not among the data's labels, or {factor} is not positive")
        w[labels[attribute] == index] *= factor
    return w / w.sum()


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step]).generate_state(1)[0]))


def batch_indices(n: int, batch: int, seed: int, step: int, p: np.ndarray | None = None) -> np.ndarray:
    """Indices of step `step`'s reals: consecutive slices of one shuffled order per epoch, or with
    sampling probabilities p (class_weights) a draw with replacement seeded by (seed, step)."""
    if p is not None:
        return np.random.default_rng([seed, 1_000_003, step, 7]).choice(n, size=batch, p=p)
    start = step * batch
    out = []
    while len(out) < batch:
        epoch, pos = divmod(start + len(out), n)
        order = np.random.default_rng([seed, 1_000_003, epoch]).permutation(n)
        out.extend(order[pos:pos + batch - len(out)].tolist())
    return np.asarray(out)


def save_grid(G, z: torch.Tensor, path: Path, rows: int) -> None:
    with torch.no_grad():
        img = G(z.to(G.mapping.w_avg.device), None, noise_mode="const")
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(img, rows, len(img) // rows).save(path)


class Trainer:
    def __init__(self, cfg: TrainConfig, images: np.ndarray | None = None):
        self.cfg = cfg
        self.run = Path(cfg.run)
        self.images, labels = load_images(cfg.data) if images is None else (images, {})
        by_labels = cfg.balance > 0 or bool(cfg.boost.strip())
        if by_labels and not labels:
            raise SystemExit("--balance and --boost need attribute labels (a folder of shards from training.avatars)")
        self.p = boosted(class_weights(labels, cfg.balance), labels, cfg.boost) if by_labels else None
        resolution = self.images.shape[1]
        torch.manual_seed(cfg.seed)  # initial weights
        self.G = StyleGAN2Generator(**cfg.generator_kwargs(resolution)).train().requires_grad_(True)
        self.D = Discriminator(resolution, channel_base=cfg.channel_base, channel_max=cfg.channel_max).train()
        if cfg.init:
            from stylegan.loaders import load_folder
            self.G.load_state_dict(load_folder(cfg.init).state_dict())
        self.device = torch.device(cfg.device)
        self.G.to(self.device)
        self.D.to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.loss = StyleGAN2Loss(self.G, self.D, r1_gamma=cfg.r1_gamma, style_mixing_prob=cfg.style_mixing_prob,
                                  augment_policy=cfg.augment)
        ratio = cfg.r1_interval / (cfg.r1_interval + 1)  # lazy regularisation: StyleGAN2 appendix B
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.g_lr, betas=cfg.betas, eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.d_lr * ratio,
                                      betas=tuple(b ** ratio for b in cfg.betas), eps=1e-8)
        self.step = 0
        self.grid_z = torch.from_numpy(np.random.RandomState(cfg.seed + 123).randn(cfg.grid_size ** 2, cfg.z_dim)).float()
        self.seconds = 0.0  # training time over all sessions

    # -- state --------------------------------------------------------------------------------
    @property
    def nimg(self) -> int:
        return self.step * self.cfg.batch

    def state_dict(self) -> dict:
        return {"config": dataclasses.asdict(self.cfg), "step": self.step, "seconds": self.seconds,
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        # The learning rates are the config's, not the saved optimiser's: a run resumed with
        # another --g-lr / --d-lr trains at what it says (the moments carry over).
        ratio = self.cfg.r1_interval / (self.cfg.r1_interval + 1)
        for opt, lr in ((self.opt_G, self.cfg.g_lr), (self.opt_D, self.cfg.d_lr * ratio)):
            for group in opt.param_groups:
                group["lr"] = lr
        self.step = state["step"]
        self.seconds = state["seconds"]

    def save(self) -> Path:
        self.run.mkdir(parents=True, exist_ok=True)
        path = self.run / "state.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)  # never a half-written state
        return path

    def resume(self) -> bool:
        path = self.run / "state.pt"
        if not path.exists():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)  # load_state_dict moves it to the device
        saved = dataclasses.asdict(TrainConfig.saved(state))
        mine = dataclasses.asdict(self.cfg)
        differs = [k for k in ("batch", "seed", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                                "balance")
                   if saved.get(k) != mine.get(k)]
        if differs:
            raise SystemExit(f"{path} was trained with other settings ({', '.join(differs)}); use another --run")
        self.load_state_dict(state)
        if saved.get("boost", "") != self.cfg.boost:  # the sampling changed from here on: say so in the log
            self.run.mkdir(parents=True, exist_ok=True)
            with open(self.run / "log.jsonl", "a") as log:
                log.write(json.dumps({"event": "boost", "from": saved.get("boost", ""), "to": self.cfg.boost,
                                      "step": self.step, "kimg": self.nimg / 1000, "hours": self.seconds / 3600}) + "\n")
        return True

    def autocast(self):
        return torch.autocast(self.device.type if self.device.type == "cuda" else "cpu", dtype=torch.bfloat16,
                              enabled=self.cfg.bf16)

    # -- one step -----------------------------------------------------------------------------
    def train_step(self) -> dict:
        cfg, step = self.cfg, self.step
        gen = _step_generator(cfg.seed, step)
        torch.manual_seed(int(torch.randint(2**62, (), generator=gen)))  # draws we do not make ourselves (G's noise)
        real = from_uint8(self.images[np.sort(batch_indices(len(self.images), cfg.batch, cfg.seed, step, self.p))])
        real = real.to(self.device)
        stats = {}

        # G: non-saturating loss through D (D's weights get no update here). During D's warm-up the
        # loss is only measured.
        warmup = self.nimg < cfg.d_warmup_kimg * 1000
        self.D.requires_grad_(False)
        z = torch.randn([cfg.batch, cfg.z_dim], generator=gen).to(self.device)
        with self.autocast(), torch.set_grad_enabled(not warmup):
            loss_G, _ = self.loss.generator_loss(z, gen)
        if not warmup:
            self.opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            self.opt_G.step()
        self.D.requires_grad_(True)

        # D: logistic loss, with lazy R1 every r1_interval steps.
        z = torch.randn([cfg.batch, cfg.z_dim], generator=gen).to(self.device)
        r1_weight = cfg.r1_interval if cfg.r1_gamma > 0 and step % cfg.r1_interval == 0 else 0
        with self.autocast():
            loss_D, d_stats = self.loss.discriminator_loss(z, real, gen, r1_weight=r1_weight)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()

        # EMA of G (buffers such as w_avg are copied).
        self.step += 1
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        stats.update(loss_G=float(loss_G.detach()), loss_D=float(loss_D.detach()), **{k: float(v) for k, v in d_stats.items()})
        if not r1_weight:
            stats.pop("R1")
        return stats

    # -- the loop -----------------------------------------------------------------------------
    def snapshot(self) -> None:
        kimg = self.nimg // 1000
        save_grid(self.G_ema, self.grid_z, self.run / "grids" / f"fakes{kimg:06d}.png", self.cfg.grid_size)
        snap = self.run / "snapshots" / f"G_ema-{kimg:06d}"
        self.G_ema.save_pretrained(snap)  # safetensors copies device tensors to the host
        self.save()

    def fit(self, minutes: float | None = None, progress: bool = True) -> None:
        from tqdm import tqdm
        cfg = self.cfg
        total_steps = math.ceil(cfg.kimg * 1000 / cfg.batch)
        snapshot_steps = max(1, round(cfg.snapshot_kimg * 1000 / cfg.batch))
        deadline = time.monotonic() + minutes * 60 if minutes else None
        stop = {"now": False}

        def request_stop(*_):
            stop["now"] = True
        old = signal.signal(signal.SIGTERM, request_stop) if hasattr(signal, "SIGTERM") else None
        self.run.mkdir(parents=True, exist_ok=True)
        if self.step == 0:
            save_grid(self.G_ema, self.grid_z, self.run / "grids" / "fakes000000.png", cfg.grid_size)
            from PIL import Image
            g = cfg.grid_size
            reals = np.asarray(self.images[: g * g])
            h, w = reals.shape[1:3]
            grid = reals.reshape(g, g, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(g * h, g * w, 3)
            Image.fromarray(grid).save(self.run / "grids" / "reals.png")
        bar = tqdm(total=total_steps, initial=self.step, unit="step", disable=not progress, dynamic_ncols=True)
        log = open(self.run / "log.jsonl", "a")
        window = []
        try:
            while self.step < total_steps and not stop["now"]:
                if deadline is not None and time.monotonic() > deadline:
                    break
                t0 = time.perf_counter()
                stats = self.train_step()
                self.seconds += time.perf_counter() - t0
                window.append(stats)
                bar.update()
                if self.step % 50 == 0 or self.step == total_steps:
                    mean = {k: float(np.mean([s[k] for s in window if k in s])) for k in window[-1]}
                    mean.update(step=self.step, kimg=self.nimg / 1000, hours=self.seconds / 3600,
                                img_per_s=self.nimg / max(self.seconds, 1e-9))
                    log.write(json.dumps(mean) + "\n")
                    log.flush()
                    bar.set_postfix(kimg=f"{self.nimg / 1000:.1f}", G=f"{mean['loss_G']:.3f}", D=f"{mean['loss_D']:.3f}")
                    window = []
                if self.step % snapshot_steps == 0 or self.step == total_steps:
                    self.snapshot()
        except KeyboardInterrupt:
            pass
        finally:
            bar.close()
            log.close()
            self.save()
            if old is not None:
                signal.signal(signal.SIGTERM, old)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(TrainConfig):
        if f.name == "betas":
            continue
        if isinstance(f.default, bool):
            p.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=f.default)
            continue
        kind = {"float": float, "int": int, "str": str}.get(str(f.type), type(f.default))  # `kimg: float = 600`
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default)
    p.add_argument("--minutes", type=float, default=None, help="stop (and save) after this many minutes")
    a = vars(p.parse_args(argv))
    minutes = a.pop("minutes")
    cfg = TrainConfig(**a)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg)
    if trainer.resume():
        print(f"resumed {cfg.run} at {trainer.nimg / 1000:.1f} kimg")
    trainer.fit(minutes)
    print(f"{trainer.nimg / 1000:.1f} kimg, {trainer.seconds / 3600:.2f} h of training; state in {cfg.run}/state.pt")


if __name__ == "__main__":
    main()
