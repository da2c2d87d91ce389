"""Run `stylegan.load` on a list of sources in a fresh process (so HF_ENDPOINT, HF_HOME and
HF_HUB_OFFLINE take effect as they do for users) and print one JSON line per source. The
argument --offline switches the rest of the list to offline mode, so a test can download and
then read the cache offline in one process (each process costs ~4 s of imports)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import stylegan  # noqa: E402
from stylegan.registry import ModelEntry  # noqa: E402


def main():
    z = torch.randn([2, int(os.environ.get("Z_DIM", "64"))], generator=torch.Generator().manual_seed(0))
    prefix = ""
    for source in sys.argv[1:]:
        if source == "--offline":  # from here on as with HF_HUB_OFFLINE=1 (huggingface_hub reads the constant per call)
            import huggingface_hub
            huggingface_hub.constants.HF_HUB_OFFLINE = True
            stylegan.clear_cache()
            prefix = "offline:"
            continue
        t0, started = time.monotonic(), time.time()
        try:
            if source.startswith("clip:"):  # a CLIP through open_clip's own Hub path ("clip:hf-hub:org/repo")
                from companions.clip import load_clip
                try:
                    clip = load_clip(source[len("clip:"):])
                    e = clip.encode_texts(["a cartoon face with sunglasses"])
                    out = {"ok": True, "checksum": float(e.double().sum()), "templates": clip.templates}
                except Exception as e:  # open_clip's own errors
                    out = {"ok": False, "error": type(e).__name__, "message": str(e)[:500]}
                print(json.dumps(dict(out, source=prefix + source)), flush=True)
                continue
            if source.startswith("from_pretrained:"):  # diffusers' own Hub path
                G = stylegan.StyleGAN3Generator.from_pretrained(source[len("from_pretrained:"):], low_cpu_mem_usage=False)
            elif source.startswith("registry:"):
                repo, file = source[len("registry:"):].split("|")
                entry = ModelEntry(name="t", repo=repo, file=file or None, format="nvidia-pkl" if file else "hub-native",
                                   network="stylegan2", resolution=0, license="x", description="x")
                G = stylegan.load_entry(entry)
            else:
                G = stylegan.load(source, device="cpu")
            with torch.no_grad():
                img = G(z[:, :G.z_dim], None, noise_mode="const")
            result = {"ok": True, "checksum": float(img.double().sum()), "class": type(G).__name__}
        except stylegan.CheckpointError as e:
            result = {"ok": False, "error": type(e).__name__, "message": str(e)}
        result.update(source=prefix + source, seconds=time.monotonic() - t0, started=started)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
