"""Widen a training run's networks without changing what they compute (Net2Net, Chen et al. 2016,
in its zero-padding form), so a run that needs more capacity goes on from where it is instead of
starting over.

New channels are appended to every layer that grows. Their incoming weights start as a fresh
network's would. Their outgoing weights start at zero, so at first they change nothing
downstream. Old weights are rescaled where the layer's equalized-learning-rate gain depends on
its number of inputs (1/sqrt(fan_in): convolutions, fully connected layers, ToRGB). The
demodulated synthesis convolutions need no rescaling: zero columns leave their norms as they
were. So G(z) and D(x) are the same before and after, up to float rounding.

The optimisers carry over. Old moments are copied with the same rescaling, new first moments
start at zero, and new second moments start at the mean of the tensor's old ones. With zero
there, Adam's bias correction, which assumes many steps of history, would turn the first update
of a new weight into 10 learning rates.

    python -m training.widen --run runs/avataaars64-v3 --out runs/avataaars64-v3w --channel-max 128

The new run folder gets the widened state and keeps the old run's log; train it with the same
command and the new size.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

import torch

from stylegan.stylegan2 import StyleGAN2Generator

from .discriminator import Discriminator, DiscriminatorEpilogue


def _networks(cfg, resolution: int):
    torch.manual_seed(cfg.seed)  # the new channels start as a fresh run's would
    G = StyleGAN2Generator(**cfg.generator_kwargs(resolution))
    D = Discriminator(resolution, channel_base=cfg.channel_base, channel_max=cfg.channel_max)
    return G, D


def _input_index(module_name: str, epilogue_names: set, old_in: int, new_in: int) -> torch.Tensor:
    """Where each old input channel lands among the new ones. In D's epilogue conv the last input
    is the minibatch-std channel, which stays last; everywhere else old channels keep their place."""
    if module_name in epilogue_names:
        return torch.cat([torch.arange(old_in - 1), torch.tensor([new_in - 1])])
    return torch.arange(old_in)


def _widen(old: torch.Tensor, new: torch.Tensor, in_index: torch.Tensor | None, scale: float, fill_in: float = 0.0):
    """`new` with `old * scale` in its leading output slice, at `in_index` along the input
    dimension (dim 1). Every new input, of old outputs and new ones, is set to `fill_in`; the rest
    of the new outputs keep `new`'s values."""
    out = new.clone()
    o = old.shape[0]
    if in_index is None or old.ndim < 2:
        out[:o] = old * scale
        return out
    grown = torch.ones(new.shape[1], dtype=torch.bool)
    grown[in_index] = False
    out[:, grown] = fill_in
    out[:o, in_index] = old * scale
    return out


def _plan(old_net: torch.nn.Module, new_net: torch.nn.Module):
    """For each parameter and buffer name: (input index or None, scale of its old values)."""
    old_modules, new_modules = dict(old_net.named_modules()), dict(new_net.named_modules())
    epilogue_convs = {f"{n}.conv" for n, m in old_modules.items() if isinstance(m, DiscriminatorEpilogue)}
    epilogue_fcs = {f"{n}.fc" for n, m in old_modules.items() if isinstance(m, DiscriminatorEpilogue)}
    new_tensors = {**dict(new_net.named_parameters()), **dict(new_net.named_buffers())}
    plan = {}
    for name, old in list(old_net.named_parameters()) + list(old_net.named_buffers()):
        module_name, _, leaf = name.rpartition(".")
        new = new_tensors.get(name)
        if new is None or new.shape == old.shape:
            plan[name] = None
            continue
        om, nm = old_modules[module_name], new_modules[module_name]
        scale = 1.0
        if leaf == "weight" and hasattr(om, "weight_gain"):
            scale = float(om.weight_gain / nm.weight_gain)
        if leaf != "weight" or old.ndim < 2:
            plan[name] = (None, scale)
        elif module_name in epilogue_fcs:
            plan[name] = ("flat", scale)
        else:
            plan[name] = (_input_index(module_name, epilogue_convs, old.shape[1], new.shape[1]), scale)
    return plan


def _apply(plan_entry, old: torch.Tensor, new: torch.Tensor, scale_power: int = 1, fill_in: float = 0.0):
    if plan_entry is None:
        return old.clone()
    index, scale = plan_entry
    scale = scale ** scale_power
    if isinstance(index, str):  # D's epilogue fc: inputs are (C, 4, 4) flattened
        o_out, o_flat = old.shape
        n_out, n_flat = new.shape
        area = 16  # the epilogue works at 4x4
        widened = _widen(old.reshape(o_out, o_flat // area, area), new.reshape(n_out, n_flat // area, area),
                         torch.arange(o_flat // area), scale, fill_in)
        return widened.reshape(n_out, n_flat)
    return _widen(old, new, index, scale, fill_in)


# D's minibatch-std feature is the mean over all channels entering the epilogue, so new channels
# there would change it. They start nearly silent instead (incoming weights at this fraction of a
# fresh network's; Adam moves them at its usual rate all the same, its steps do not scale with the
# gradient), and the feature's weight in the epilogue conv is raised by C_new / C_old, which the
# mean over more channels divides it by.
QUIET = 1e-3


def widen_module(old_net: torch.nn.Module, new_net: torch.nn.Module) -> dict:
    """new_net's state dict carrying old_net's function."""
    plan = _plan(old_net, new_net)
    new_state = new_net.state_dict()
    old_state = old_net.state_dict()
    out = {name: _apply(plan.get(name), old_state[name], new_state[name]) if name in old_state else new_state[name]
           for name in new_state}
    if isinstance(new_net, Discriminator):
        last = f"b{new_net.block_resolutions[-1]}"
        c_old, c_new = old_state["b4.fc.weight"].shape[0], new_state["b4.fc.weight"].shape[0]
        if c_new != c_old:
            for name in (f"{last}.conv1.weight", f"{last}.skip.weight"):
                if name in out:
                    out[name][c_old:] *= QUIET
            out["b4.conv.weight"][:, -1] *= c_new / c_old
    return out


def widen_adam(opt_state: dict, old_net: torch.nn.Module, new_net: torch.nn.Module) -> dict:
    """An Adam state dict for new_net's parameters, carried over from old_net's."""
    plan = _plan(old_net, new_net)
    names = [n for n, _ in old_net.named_parameters()]
    new_params = dict(new_net.named_parameters())
    state = {}
    for i, name in enumerate(names):
        s = opt_state["state"].get(i)
        if s is None:
            continue
        param = new_params[name]
        out = {"step": s["step"].clone()}
        out["exp_avg"] = _apply(plan[name], s["exp_avg"], torch.zeros_like(param), 1, 0.0)
        mean_sq = float(s["exp_avg_sq"].mean()) * (plan[name][1] ** 2 if plan[name] else 1.0)
        out["exp_avg_sq"] = _apply(plan[name], s["exp_avg_sq"], torch.full_like(param, mean_sq), 2, mean_sq)
        state[i] = out
    return {"state": state, "param_groups": opt_state["param_groups"]}


def widen_state(state: dict, resolution: int, **changes) -> dict:
    """A trainer state (training.train.Trainer.state_dict) with its networks widened by `changes`
    (channel_base / channel_max); everything else as it was."""
    from .train import TrainConfig
    old_cfg = TrainConfig.saved(state)
    new_cfg = dataclasses.replace(old_cfg, **changes)
    old_G, old_D = _networks(old_cfg, resolution)
    old_G.load_state_dict(state["G"])
    old_D.load_state_dict(state["D"])
    new_G, new_D = _networks(new_cfg, resolution)
    out = dict(state, config=dataclasses.asdict(new_cfg))
    out["G"] = widen_module(old_G, new_G)
    out["D"] = widen_module(old_D, new_D)
    old_G.load_state_dict(state["G_ema"])
    out["G_ema"] = widen_module(old_G, new_G)
    out["opt_G"] = widen_adam(state["opt_G"], old_G, new_G)
    out["opt_D"] = widen_adam(state["opt_D"], old_D, new_D)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="the run folder whose state.pt is widened")
    p.add_argument("--out", required=True, help="the new run folder")
    p.add_argument("--channel-max", type=int)
    p.add_argument("--channel-base", type=int)
    p.add_argument("--resolution", type=int, default=64)
    a = p.parse_args(argv)
    changes = {k: v for k, v in (("channel_max", a.channel_max), ("channel_base", a.channel_base)) if v}
    state = torch.load(Path(a.run) / "state.pt", map_location="cpu", weights_only=True)
    widened = widen_state(state, a.resolution, **changes)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(widened, out / "state.pt")
    if (Path(a.run) / "log.jsonl").exists():
        shutil.copy(Path(a.run) / "log.jsonl", out / "log.jsonl")
    g = sum(v.numel() for v in widened["G"].values())
    print(f"{out}/state.pt: step {widened['step']}, G {g:,} numbers ({sum(v.numel() for v in state['G'].values()):,} before)")


if __name__ == "__main__":
    main()
