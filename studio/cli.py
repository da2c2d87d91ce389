"""The command line: `python -m studio <command>`, over the same Studio objects as the page (safe
loading, the registry, Hub ids, local checkpoints, any device). Where NVIDIA's scripts have a twin,
the flags and the output files are theirs, so their READMEs' command lines work with our name:

    python -m studio generate --network=avataaars-64 --seeds=0-7 --trunc=0.7 --outdir=out   # gen_images.py
    python -m studio mix --network=... --rows=85,100 --cols=55,821 --styles=0-6 --outdir=out  # style_mixing.py
    python -m studio video --network=... --seeds=0-31 --grid=4x2 --output=lerp.mp4            # gen_video.py
    python -m studio project --network=... --target=me.png --num-steps=1000 --outdir=out      # projector.py
    python -m studio edit --network=... --seeds=3 --method=sefa --component=1 --outdir=out
    python -m studio convert network.pkl out_folder [--push-to-hub owner/repo]                # stylegan.convert

--network is a registry name, a Hub id (owner/repo, owner/repo/path/file.pkl) or a local file or
folder. Bad input is one line on stderr and exit status 2; nothing is ever executed from a
checkpoint.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Optional

from editing.generate import MAX_IMAGES, parse_seeds

from .errors import StudioError, public_message

MAX_CLI_SEEDS = 100_000


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one line (no usage block) and exit status 2."""

    def error(self, message):
        raise StudioError(f"{self.prog}: {message} (see --help)")


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _pair(text: str) -> tuple[float, float]:
    """'0.3,1' -> (0.3, 1.0), as gen_images.py's --translate."""
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers such as 0.3,1; not {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError("expected finite numbers")
    return x, y


def _grid(text: str) -> tuple[int, int]:
    """'4x2' -> (4 columns, 2 rows), as gen_video.py's --grid."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a grid such as 4x2, not {text!r}") from None
    return w, h


def _seeds(text: str, field: str = "seeds") -> list[int]:
    try:
        return parse_seeds(text, limit=MAX_CLI_SEEDS)
    except ValueError as e:
        raise StudioError(f"--{field}: {e}") from None


def _workspace(args):
    """The Studio's workspace of --network on --device: a local path is the caller's own file."""
    from . import Studio
    from .networks import Networks
    studio = Studio(Networks(size=1, device=args.device or None))
    network = args.network
    if network and os.path.exists(os.path.expanduser(network)):
        return studio.workspace(None, None, os.path.expanduser(network))
    if network and network in studio.networks.registry:
        return studio.workspace(network)
    return studio.workspace(None, network) if network else studio.workspace()


def _outdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def _progress(total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True,
                disable=not sys.stderr.isatty() and os.environ.get("STUDIO_PROGRESS") != "1")


# --- commands ------------------------------------------------------------------------------

def cmd_generate(args) -> None:
    """gen_images.py: seed%04d.png per seed (or proj%02d.png per latent of --projected-w), and
    latents.npz with w, z and the seeds."""
    import torch

    from editing.generate import synthesize
    from ops.images import to_pil
    w = _workspace(args)
    out = _outdir(args.outdir)
    if args.projected_w:
        ws = w.latents(args.projected_w)
        for i, image in enumerate(to_pil(synthesize(w.G, ws, w.noise(args.noise_mode)).clamp(-1, 1))):
            image.save(os.path.join(out, f"proj{i:02d}.png"))
        print(f"wrote {len(ws)} images to {out}")
        return
    seeds = _seeds(args.seeds)
    all_ws, all_z = [], []
    with _progress(len(seeds), "generating") as bar:
        for i in range(0, len(seeds), MAX_IMAGES):  # the page's per-request limit, in chunks
            chunk = seeds[i:i + MAX_IMAGES]
            *_, gallery = w.generate(",".join(map(str, chunk)), args.trunc, args.trunc_cutoff, args.noise_mode,
                                     args.class_idx, args.translate, args.rotate)
            for seed, image in zip(gallery.seeds, gallery.images):
                image.save(os.path.join(out, f"seed{seed:04d}.png"))
            all_ws.append(gallery.ws)
            all_z.append(gallery.z)
            bar.update(len(chunk))
    w.save_latents(os.path.join(out, "latents.npz"), torch.cat(all_ws), torch.cat(all_z), seeds)
    print(f"wrote {len(seeds)} images and latents.npz to {out}")


def _styles(text: str) -> tuple[int, int]:
    """style_mixing.py's --styles ('0-6' or '0,1,2,3') -> first, last (a contiguous range)."""
    try:
        layers = parse_seeds(text, limit=1000)
    except ValueError as e:
        raise StudioError(f"--styles: {e}") from None
    if layers != list(range(layers[0], layers[0] + len(layers))):
        raise StudioError("--styles: a contiguous range of ws such as 0-6")
    return layers[0], layers[-1]


def cmd_mix(args) -> None:
    """style_mixing.py: grid.png and each cell as {row_seed}-{col_seed}.png."""
    from editing.generate import synthesize
    from ops.images import to_pil
    w = _workspace(args)
    out = _outdir(args.outdir)
    first, last = _styles(args.styles)
    rows, cols = _seeds(args.rows, "rows"), _seeds(args.cols, "cols")
    grid, cells, note = w.style_mix(args.rows, args.cols, "custom", first, last, args.trunc, args.noise_mode,
                                    args.class_idx)
    grid.save(os.path.join(out, "grid.png"))
    images = to_pil(synthesize(w.G, cells, w.noise(args.noise_mode)).clamp(-1, 1))
    for k, image in enumerate(images):  # cells are row-major: rows x cols
        image.save(os.path.join(out, f"{rows[k // len(cols)]}-{cols[k % len(cols)]}.png"))
    print(f"wrote grid.png and {len(images)} cells to {out} ({note})")


def cmd_video(args) -> None:
    """gen_video.py: a looping walk through keyframe seeds on a grid (columns x rows)."""
    w = _workspace(args)
    cols, rows = args.grid
    seeds = _seeds(args.seeds)
    if args.num_keyframes is not None:
        need = args.num_keyframes * rows * cols
        if len(seeds) < need:
            raise StudioError(f"--num-keyframes {args.num_keyframes} on a {cols}x{rows} grid needs {need} seeds, "
                              f"not {len(seeds)}")
        seeds = seeds[:need]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    frames = None
    bar = None
    for frame in w.walk(args.output, ",".join(map(str, seeds)), args.w_frames, args.fps, rows, cols, True,
                        args.trunc, args.noise_mode, args.class_idx):
        if bar is None:
            bar = _progress(frame.total, "frames")
        bar.update(frame.count - bar.n)
        frames = frame
    bar.close()
    print(f"wrote {args.output} ({frames.total} frames)")


def cmd_project(args) -> None:
    """projector.py: target.png, proj.png, projected_w.npz (key w) and, with --save-video, proj.mp4."""
    w = _workspace(args)
    out = _outdir(args.outdir)
    video = os.path.join(out, "proj.mp4") if args.save_video else None
    last, bar = None, None
    for update in w.project(args.target, args.recipe, args.num_steps, args.align, args.seed, video,
                            time_limit=float("inf"), class_idx=args.class_idx):
        if bar is None:
            bar = _progress(update.steps, f"projecting ({args.recipe})")
        bar.update(update.step - bar.n)
        last = update
    bar.close()
    last.target.save(os.path.join(out, "target.png"))
    last.preview.save(os.path.join(out, "proj.png"))
    w.save_latents(os.path.join(out, "projected_w.npz"), last.ws, noise=last.noise, tuned=last.tuned)
    print(last.note)
    print(f"wrote target.png, proj.png, projected_w.npz{' and proj.mp4' if video else ''} to {out}")


def cmd_edit(args) -> None:
    """A direction (sefa, ganspace, attribute, declared), a StyleSpace channel or a text prompt on
    each of --seeds, or on --latents: {name}-edit.png (the strip or before | after) and
    {name}-edit.npz."""
    w = _workspace(args)
    out = _outdir(args.outdir)
    starts = [("latents", None)] if args.latents else [(f"seed{s:04d}", s) for s in _seeds(args.seeds)]
    method = args.method.lower()
    for name, seed in starts:
        kwargs = dict(psi=args.trunc, class_idx=args.class_idx)
        ws = None
        if method in ("sefa", "ganspace", "attribute", "declared"):
            label = {"sefa": "SeFa", "ganspace": "GANSpace", "attribute": "Attribute", "declared": "Declared"}[method]
            edit = w.direction(seed or 0, label, args.component, args.attribute, args.strength, args.first, args.last,
                               latents=args.latents, **kwargs)
            image, ws, note = edit.strip, edit.ws, edit.note
        elif method == "stylespace":
            if args.latents:
                raise StudioError("--method stylespace edits seeds, not --latents")
            image = w.stylespace(seed, args.layer, args.channel, args.strength, **kwargs)
            note = f"{args.layer} channel {args.channel}"
        elif method == "text":
            if not args.prompt:
                raise StudioError("--method text needs --prompt")
            *_, last = w.text_edit(args.prompt, args.neutral, args.text_method, args.alpha, args.beta, args.steps,
                                   seed or 0, latents=args.latents, time_limit=float("inf"), **kwargs)
            image, ws, note = last.image, last.ws, last.note
        else:
            raise StudioError(f"--method: one of sefa, ganspace, attribute, declared, stylespace, text; not {args.method!r}")
        image.save(os.path.join(out, f"{name}-edit.png"))
        if ws is not None:
            w.save_latents(os.path.join(out, f"{name}-edit.npz"), ws)
        print(f"{name}: {note}")
    print(f"wrote {len(starts)} edit(s) to {out}")


def cmd_convert(argv) -> int:
    from stylegan.convert import main
    return main(["--push-to-hub" if a == "--push" else a for a in argv])


# --- the parser ------------------------------------------------------------------------------

def _common(p, trunc=True):
    p.add_argument("--network", default=None, help="registry name, Hub id or local checkpoint (default: the embedded model)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda where there is one)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label (conditional models)")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    if trunc:
        p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (NVIDIA's default 1)")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="python -m studio", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="images of seeds (gen_images.py)")
    _common(g)
    g.add_argument("--seeds", default="0-7")
    g.add_argument("--trunc-cutoff", type=int, default=0, help="truncate only the first ws (0: all)")
    g.add_argument("--translate", type=_pair, default=(0.0, 0.0), help="StyleGAN3: x,y (e.g. 0.3,1)")
    g.add_argument("--rotate", type=float, default=0.0, help="StyleGAN3: degrees")
    g.add_argument("--projected-w", "--projected_w", dest="projected_w", default=None,  # NVIDIA's READMEs spell it both ways
                   help="render the latents of this .npz instead of seeds")
    g.add_argument("--outdir", required=True)
    g.set_defaults(run=cmd_generate)

    m = sub.add_parser("mix", help="a style-mixing grid (style_mixing.py)")
    _common(m)
    m.add_argument("--rows", required=True, help="row seeds, e.g. 85,100,75")
    m.add_argument("--cols", required=True, help="column seeds, e.g. 55,821")
    m.add_argument("--styles", default="0-6", help="the ws taken from the columns, e.g. 0-6")
    m.add_argument("--outdir", required=True)
    m.set_defaults(run=cmd_mix)

    v = sub.add_parser("video", help="a looping latent walk (gen_video.py)")
    _common(v)
    v.add_argument("--seeds", required=True, help="keyframe seeds, e.g. 0-31")
    v.add_argument("--grid", type=_grid, default=(1, 1), help="columns x rows, e.g. 4x2")
    v.add_argument("--num-keyframes", type=int, default=None, help="keyframes per cell (default: seeds / cells)")
    v.add_argument("--w-frames", type=int, default=60, help="frames between keyframes")
    v.add_argument("--fps", type=int, default=60)
    v.add_argument("--output", required=True, help="the .mp4 to write")
    v.set_defaults(run=cmd_video)

    pj = sub.add_parser("project", help="project an image (projector.py)")
    _common(pj, trunc=False)
    pj.add_argument("--target", required=True, help="the image file")
    pj.add_argument("--num-steps", type=int, default=None, help="steps (default: the recipe's; nvidia 1000)")
    pj.add_argument("--seed", type=int, default=303, help="NVIDIA's default 303")
    pj.add_argument("--save-video", type=_bool, default=True, help="write proj.mp4 (true/false)")
    pj.add_argument("--recipe", default="nvidia", help="nvidia, image2stylegan, encoder, hybrid or pti")
    pj.add_argument("--align", type=_bool, default=None, help="FFHQ-align the face first (default: face models)")
    pj.add_argument("--outdir", required=True)
    pj.set_defaults(run=cmd_project)

    e = sub.add_parser("edit", help="a direction, a style channel or a text prompt")
    _common(e)
    e.add_argument("--seeds", default="0")
    e.add_argument("--latents", default=None, help="edit this .npz's first latent instead of seeds")
    e.add_argument("--method", default="sefa", help="sefa, ganspace, attribute, declared, stylespace or text")
    e.add_argument("--component", type=int, default=0, help="sefa / ganspace component")
    e.add_argument("--attribute", default=None, help="attribute=value or a declared direction's name")
    e.add_argument("--strength", type=float, default=3.0)
    e.add_argument("--first", type=int, default=0, help="first w edited")
    e.add_argument("--last", type=int, default=-1, help="last w edited (-1: the last)")
    e.add_argument("--layer", default=None, help="stylespace: the layer, e.g. b16.conv1")
    e.add_argument("--channel", type=int, default=0, help="stylespace: the channel")
    e.add_argument("--prompt", default=None, help="text: what the edit should give")
    e.add_argument("--neutral", default="", help="text (global): the neutral prompt")
    e.add_argument("--text-method", default="global (fast)", help="optimization, global (fast), global (exact)")
    e.add_argument("--alpha", type=float, default=4.0)
    e.add_argument("--beta", type=float, default=0.2)
    e.add_argument("--steps", type=int, default=None, help="text optimisation steps")
    e.add_argument("--outdir", required=True)
    e.set_defaults(run=cmd_edit)

    sub.add_parser("convert", help="a checkpoint to a Hub-native folder (stylegan.convert); --push to upload",
                   add_help=False)
    return root


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["convert"]:
        try:
            return cmd_convert(argv[1:])
        except SystemExit as e:
            return int(e.code or 0)
    try:
        args = parser().parse_args(argv)
        args.run(args)
        return 0
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # ours (StudioError, CheckpointError), a file that cannot be read or written
        print(f"error: {str(e).strip() or type(e).__name__}", file=sys.stderr)
        return 2
    except Exception as e:  # anything else is still one line, never a traceback
        print(f"error: {public_message(e)}", file=sys.stderr)
        return 1
