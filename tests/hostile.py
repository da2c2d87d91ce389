"""Hostile files of the kinds strangers send a public Space, built small: checkpoints that
declare giant networks, zip bombs, billion-laughs and deeply nested pickles, pickles that lie
about their sizes, latents that inflate to gigabytes, broken Hub-native folders."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import torch
from official_pickle import Persistent

SG2_SMALL = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                 mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=128, channel_max=16))


def declared_network_pickle(**overrides) -> bytes:
    """A ~1 KB NVIDIA-format pickle whose constructor arguments declare any network; its state
    holds one tiny tensor under the name that marks a StyleGAN2 generator."""
    kwargs = json.loads(json.dumps(SG2_SMALL))
    for key, value in overrides.items():
        if key in ("channel_base", "channel_max"):
            kwargs["synthesis_kwargs"][key] = value
        elif key in ("layer_features", "num_layers"):
            kwargs["mapping_kwargs"][key] = value
        else:
            kwargs[key] = value
    b4 = Persistent("SynthesisBlock", {"_parameters": {"const": torch.zeros(1)}, "_buffers": {}, "_modules": {}})
    syn = Persistent("SynthesisNetwork", {"_parameters": {}, "_buffers": {}, "_modules": {"b4": b4}})
    G = Persistent("Generator", {"_parameters": {}, "_buffers": {}, "_modules": {"synthesis": syn},
                                 "_init_args": (), "_init_kwargs": kwargs})
    return pickle.dumps({"G_ema": G}, protocol=4)


def billion_laughs_pickle(levels=10, width=10) -> bytes:
    """Constructor arguments that refer to one list width**levels times (a few hundred bytes)."""
    lol = ["lol"] * width
    for _ in range(levels):
        lol = [lol] * width
    kwargs = json.loads(json.dumps(SG2_SMALL))
    kwargs["mapping_kwargs"]["laughs"] = lol
    G = Persistent("Generator", {"_parameters": {}, "_buffers": {}, "_modules": {}, "_init_args": (), "_init_kwargs": kwargs})
    return pickle.dumps({"G_ema": G}, protocol=4)


def nested_pickle(depth=200_000) -> bytes:
    """[[[[...]]]] 200,000 deep: EMPTY_LIST pushed again and again, then appended into each other."""
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


def nested_marks_pickle(depth=200_000) -> bytes:
    """(((( ... )))) by MARK and TUPLE."""
    return b"\x80\x04" + b"(" * depth + b"t" * depth + b"."


def huge_bytes_pickle(n=1 << 40) -> bytes:
    """A BINBYTES8 that declares a terabyte and holds one byte."""
    return b"\x80\x04\x8e" + n.to_bytes(8, "little") + b"x."


def lying_storage_pickle(numel=1 << 40) -> bytes:
    """An embedded storage (as NVIDIA pickles hold them) whose element count claims a terabyte."""
    buf = io.BytesIO()
    torch.save(torch.zeros(4).untyped_storage(), buf, _use_new_zipfile_serialization=False)
    data = bytearray(buf.getvalue())
    data[-24:-16] = numel.to_bytes(8, "little")  # the count before the 16 bytes of data
    b = bytes(data)
    return b"\x80\x04ctorch.storage\n_load_from_bytes\n" + _binbytes(b) + b"\x85R."


def _binbytes(b: bytes) -> bytes:
    return b"B" + len(b).to_bytes(4, "little") + b


def os_system_pickle(marker) -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    return pickle.dumps({"G_ema": Evil()}, protocol=4)


def zip_bomb_pt(path, inflated=2 << 30):
    """A torch.save-shaped archive whose one storage inflates to `inflated` bytes (deflate of zeros)."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"g_ema": {}}, protocol=2))
        with z.open("archive/data/0", "w", force_zip64=True) as f:
            for _ in range(inflated // len(chunk)):
                f.write(chunk)
    return path


def npz_bomb(path, inflated=2 << 30):
    """A latents .npz whose 'w' declares [N, 10, 128] float32 and inflates to `inflated` bytes."""
    n = inflated // (10 * 128 * 4)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (n, 10, 128)})
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("w.npy", "w", force_zip64=True) as f:
            f.write(b"\x93NUMPY\x01\x00")
            f.write(header.getvalue())
            for _ in range(inflated // len(chunk)):
                f.write(chunk)
    return path


def hub_native_folders(root, config_source):
    """Broken Hub-native folders beside a good config: corrupt weights, config not JSON, a list,
    a giant declared network. Returns {name: folder}."""
    with open(config_source) as f:
        good = json.load(f)
    folders = {}

    def make(name, config_text, weights=b"not safetensors at all"):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config_text)
        with open(os.path.join(d, "diffusion_pytorch_model.safetensors"), "wb") as f:
            f.write(weights)
        folders[name] = d
    make("corrupt-safetensors", json.dumps(good))
    make("config-not-json", "{ this is not json")
    make("config-a-list", json.dumps([1, 2, 3]))
    make("config-giant", json.dumps({**good, "img_resolution": 65536}))
    make("safetensors-lying-header", json.dumps(good), (1 << 40).to_bytes(8, "little") + b"{}")
    big = {**good, "img_resolution": 1024, "synthesis_kwargs": {**good["synthesis_kwargs"], "channel_base": 32768, "channel_max": 512}}
    make("big-corrupt-safetensors", json.dumps(big))  # a real ~120 MB network is built, then its weights fail
    return folders


def tf_declared_pickle(evil_marker=None, **static_kwargs) -> bytes:
    """A ~1 KB TensorFlow-era pickle (G, D, Gs) declaring any generator, with no variables; with
    evil_marker, its static_kwargs also hold a call of os.system that would create that file
    (NVIDIA's loader runs it and still returns a network)."""
    from tf_pickle import _network_class
    Network = _network_class()

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {evil_marker}",))
    if evil_marker is not None:
        static_kwargs["nonlinearity"] = Evil()

    def net(name, func, components=None):
        return Network({"version": 4, "name": name, "static_kwargs": static_kwargs, "components": components or {},
                        "build_module_src": "", "build_func_name": func, "variables": []})
    gs = net("Gs", "G_main", {"mapping": net("G_mapping", "G_mapping"),
                              "synthesis": net("G_synthesis", "G_synthesis_stylegan2")})
    return pickle.dumps((gs, net("D", "D_stylegan2"), gs), protocol=4)
