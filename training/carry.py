"""Carry a training run to the next session: its state, log and latest grid, copied into a folder
that is committed (training/resume/<run>/), since a session's machine may not keep runs/.

The networks (G, D, G_ema) are kept in float32, as they are. The Adam moments are kept in
bfloat16, which has float32's range (a float16 second moment under 6e-8 would become zero, and
Adam's step would blow up) and a third of the file's bytes. The trainer's own state.pt stays
exact for resumes inside a session; a carried run resumes at its step with moments rounded to
3 significant digits, which Optimizer.load_state_dict casts back to float32.

    python -m training.carry --run runs/avataaars64-v3w --out training/resume/avataaars64-v3

Resume next session: `mkdir -p RUN && cp OUT/* RUN/`, then the training command.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch


def compact(state: dict) -> dict:
    """The trainer state with its optimisers' floating-point moments in bfloat16."""
    out = dict(state)
    for key in ("opt_G", "opt_D"):
        opt = state[key]
        out[key] = {"param_groups": opt["param_groups"],
                    "state": {i: {k: v.to(torch.bfloat16) if k != "step" and v.is_floating_point() else v
                                  for k, v in s.items()} for i, s in opt["state"].items()}}
    return out


def carry(run: str | Path, out: str | Path) -> Path:
    run, out = Path(run), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = torch.load(run / "state.pt", map_location="cpu", weights_only=True)
    tmp = out / "state.tmp"
    torch.save(compact(state), tmp)
    tmp.replace(out / "state.pt")
    if (run / "log.jsonl").exists():
        shutil.copy(run / "log.jsonl", out / "log.jsonl")
    grids = sorted((run / "grids").glob("fakes*.png"))
    if grids:
        for old in out.glob("fakes*.png"):
            old.unlink()
        shutil.copy(grids[-1], out / grids[-1].name)
    return out / "state.pt"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    path = carry(a.run, a.out)
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
