"""Convert any checkpoint `stylegan.load` reads into the Hub-native format
(config.json + safetensors + a model card), so people can stop sharing pickles.

    python -m stylegan.convert SOURCE OUT_FOLDER [--fp16] [--push-to-hub OWNER/REPO] [--private]

SOURCE is anything `stylegan.load` takes: a local NVIDIA .pkl, a rosinality .pt, a
Hub-native folder, a registry name or a Hub id. Nothing in SOURCE is executed.
"""
import argparse
import copy
import os
import sys

import torch

from . import CheckpointError, load

CARD_TEMPLATE = """---
library_name: stylegan-studio
tags:
- stylegan
- {network}
- image-generation
license: {license}
---

# {title}

A {network_title} generator converted to the Hub-native format (`config.json` + safetensors)
by StyleGAN Studio's `python -m stylegan.convert`, from `{source}`. The conversion reads
the weights as data and never executes code from the original file.

| | |
|---|---|
| network | {network_title} (`{class_name}`) |
| resolution | {res}x{res}, {img_channels} channels |
| latent | z {z_dim}, w {w_dim}, {num_ws} ws, {c_dim} label dims |
| parameters | {params:,} |
| dtype | {dtype} |

```python
import torch, stylegan
G = stylegan.load("{repo_hint}")
img = G(torch.randn(1, G.z_dim), None, truncation_psi=0.7, noise_mode="const")  # [1, {img_channels}, {res}, {res}] in about [-1, 1]
```

The licence of these weights is the licence of the original checkpoint; the conversion
changes the file format only.
"""


def model_card(G, source, repo_hint, license="other"):
    network = "stylegan3" if type(G).__name__ == "StyleGAN3Generator" else "stylegan2"
    return CARD_TEMPLATE.format(
        network=network, network_title=network.replace("stylegan", "StyleGAN"), license=license,
        title=os.path.basename(str(repo_hint).rstrip("/")) or "StyleGAN generator",
        source=source, class_name=type(G).__name__, res=G.img_resolution, img_channels=G.img_channels,
        z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws, c_dim=G.c_dim,
        params=sum(p.numel() for p in G.parameters()), dtype=str(next(G.parameters()).dtype).replace("torch.", ""),
        repo_hint=repo_hint)


def convert(source, out_folder, fp16=False, push_to_hub=None, private=False, license="other"):
    """Write the Hub-native folder for `source`; optionally upload it. Returns the folder."""
    G = load(source, device="cpu")
    if fp16:
        G = torch.nn.Module.to(copy.deepcopy(G), torch.float16)  # a copy: the loaded model is shared through load()'s cache
    G.save_pretrained(out_folder)
    with open(os.path.join(out_folder, "README.md"), "w") as f:
        f.write(model_card(G, source, push_to_hub or out_folder, license=license))
    if push_to_hub:
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(push_to_hub, private=private, exist_ok=True)
        api.upload_folder(repo_id=push_to_hub, folder_path=out_folder,
                          commit_message=f"Convert {os.path.basename(str(source))} with stylegan.convert")
    return out_folder


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m stylegan.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="checkpoint: local .pkl/.pt/folder, registry name or Hub id")
    parser.add_argument("out_folder", help="where to write config.json, the safetensors weights and README.md")
    parser.add_argument("--fp16", action="store_true", help="store the weights in float16 (half the size)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="also upload the folder to this Hub repo (needs HF_TOKEN)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--license", default="other", help="licence tag for the model card (that of the original weights)")
    args = parser.parse_args(argv)
    try:
        convert(args.source, args.out_folder, fp16=args.fp16, push_to_hub=args.push_to_hub, private=args.private, license=args.license)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a folder that cannot be written, an upload the Hub refused: one line, no traceback
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"error: {first}", file=sys.stderr)
        return 1
    print(f"wrote {args.out_folder}" + (f" and uploaded it to {args.push_to_hub}" if args.push_to_hub else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
