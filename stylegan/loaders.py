"""Read StyleGAN checkpoints in the formats people publish and convert them into our
generator classes. Loaders read data; they never execute code from the file.

- NVIDIA pickles (`network-snapshot-*.pkl`, the official model zoo). These embed the
  Python source of the networks, and the official loader runs it. Here a restricted
  unpickler allows only the functions that rebuild tensors, storages, arrays and plain
  containers; the persistence hook `_reconstruct_persistent_obj` is replaced by one that
  only records the class name, constructor arguments and state (the embedded source is
  ignored). Anything else the pickle asks for is refused, naming what it asked for.
- TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2, the TensorFlow stylegan2-ada): the same
  unpickler maps `dnnlib.tflib.network.Network` to a record of its state (tf_pickles.py), and
  the moving-average generator `Gs` is converted from its TensorFlow variables. The TensorFlow
  source the file embeds is never executed.
- rosinality `.pt` files: `{"g_ema", "latent_avg"}` or training checkpoints that also
  hold `"args"` (an `argparse.Namespace`). Read with `torch.load(weights_only=True)`,
  allowing exactly `argparse.Namespace` besides what that loader allows anyway.
- Hub-native folders (`config.json` + safetensors), read by diffusers' `from_pretrained`.
"""
import argparse
import collections
import io
import json
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import CheckpointError, UnsafePickleError
from .safety import (
    MAX_NESTING,
    BoundedReader,
    check_architecture,
    check_torch_legacy,
    check_weights_fit,
    check_zip,
    human_bytes,
    plain_arguments,
    scan_pickle,
)
from .stylegan2 import StyleGAN2Generator
from .stylegan3 import StyleGAN3Generator
from .tf_pickles import TFNetwork, convert_weights, is_tf_pickle, read_gs

log = logging.getLogger("stylegan.loaders")

GENERATOR_CLASSES = {cls.__name__: cls for cls in (StyleGAN2Generator, StyleGAN3Generator)}
__all__ = ["CheckpointError", "UnsafePickleError", "load_file", "load_folder", "load_nvidia_pickle", "load_rosinality"]




# --------------------------------------------------------------------------------------
# NVIDIA pickles.

@dataclass
class PersistentObject:
    """What `torch_utils.persistence` stored for one network: no code, only data."""
    class_name: str
    state: dict = field(default_factory=dict)
    module_src_ignored: bool = True


def _record_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise UnsafePickleError("unexpected persistent object in the pickle (not a pickled network class)")
    return PersistentObject(class_name=str(meta.get("class_name")), state=meta.get("state") or {})


class EasyDict(dict):
    """Stands in for `dnnlib.util.EasyDict` (a dict with attribute access) when unpickling."""


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage):
        raise UnsafePickleError(f"refused a tensor built on a {type(storage).__name__}")
    return torch._utils._rebuild_tensor(storage, storage_offset, tuple(size), tuple(stride))  # hooks and metadata dropped


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, *state):
    return torch.nn.Parameter(data, requires_grad=requires_grad)


def _check_storage_bytes(b):
    """The legacy `torch.save` of one storage (what NVIDIA pickles embed): four small pickles,
    the storage's element count, then its data. PyTorch allocates what the count declares
    before it reads, so the count must describe exactly the bytes that are there."""
    f = io.BytesIO(b)
    for _ in range(5):  # magic number, protocol, system info, the storage record, its keys
        scan_pickle(f, max_ops=10_000, max_stack=100)
    left = len(b) - f.tell() - 8
    numel = int.from_bytes(f.read(8), "little", signed=True) if left >= 0 else -1
    if numel < 0 or (numel == 0 and left != 0) or (numel > 0 and (left % numel or left // numel not in (1, 2, 4, 8))):
        raise CheckpointError(f"a tensor in this pickle declares {numel} elements in {human_bytes(max(left, 0))} of data: "
                              "a corrupt or hostile file; nothing was allocated")


def _load_storage_from_bytes(b):
    """A storage pickled by `torch.save` inside the pickle: checked (above), then read with
    PyTorch's own weights-only loader, which itself refuses code."""
    if not isinstance(b, (bytes, bytearray)):
        raise UnsafePickleError("refused a storage that is not stored as bytes")
    _check_storage_bytes(b)
    return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")


def _numpy_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"refused numpy array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_frombuffer(buf, dtype, shape, order):
    if dtype.hasobject:
        raise UnsafePickleError("refused numpy object array")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _numpy_scalar(dtype, data=None):
    if dtype.hasobject:
        raise UnsafePickleError("refused numpy object scalar")
    return np.frombuffer(data, dtype=dtype)[0] if data is not None else dtype.type(0)


def _codecs_encode(obj, encoding="utf-8"):
    if not isinstance(obj, str) or encoding != "latin1":
        raise UnsafePickleError("refused _codecs.encode with unexpected arguments")
    return obj.encode(encoding)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_persistent_obj,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `_ALLOWED_GLOBALS`; refuses everything else."""

    def __init__(self, f):
        super().__init__(f)
        # A class of its own for this load, so a pickle that sets attributes on it
        # cannot change how later loads behave.
        self._easydict = type("EasyDict", (EasyDict,), {})
        self._tf_network = type("Network", (TFNetwork,), {})

    def find_class(self, module, name):
        if (module, name) == ("dnnlib.util", "EasyDict"):
            return self._easydict
        if (module, name) == ("dnnlib.tflib.network", "Network"):  # a TensorFlow-era pickle: kept as data
            return self._tf_network
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise UnsafePickleError(
                f"Refused to load this pickle: it asks for `{module}.{name}`, which a StyleGAN checkpoint never needs "
                f"(loading it could run code from the file). Nothing from it was executed.")
        return target

    def persistent_load(self, pid):
        raise UnsafePickleError("Refused to load this pickle: it uses persistent ids (it is not an official network pickle)")


_NUMPY_GLOBALS = {
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}


class NumpyUnpickler(pickle.Unpickler):
    """For pickles of plain numpy arrays in lists, tuples and dicts (StyleCLIP's S_mean_std):
    numpy's array rebuild functions only, everything else refused."""

    def find_class(self, module, name):
        target = _NUMPY_GLOBALS.get((module, name))
        if target is None:
            raise UnsafePickleError(f"Refused to load this pickle: it asks for `{module}.{name}`, which a file of "
                                    "numpy arrays never needs. Nothing from it was executed.")
        return target

    def persistent_load(self, pid):
        raise UnsafePickleError("Refused to load this pickle: it uses persistent ids")


def read_numpy_pickle(path):
    """A pickle of numpy arrays (in lists, tuples, dicts), its bounds checked first; object arrays refused."""
    with open(path, "rb") as f:
        scan_pickle(f)
        f.seek(0)
        try:
            value = NumpyUnpickler(f).load()
        except UnsafePickleError:
            raise
        except Exception as e:
            raise CheckpointError(f"not a readable pickle of arrays: {type(e).__name__}") from None

    def check(v, depth=0):
        if depth > 8:
            raise UnsafePickleError("refused a pickle nested deeper than a file of arrays is")
        if isinstance(v, np.ndarray) and v.dtype.hasobject:
            raise UnsafePickleError("refused a numpy object array")
        for item in (v.values() if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else ()):
            check(item, depth + 1)
    check(value)
    return value


def _state_dict(obj: PersistentObject, prefix="", seen=None):
    """The module's state dict under the official names, from the recorded __dict__. A module
    tree deeper than any network, or one module recorded twice, is refused."""
    seen = set() if seen is None else seen
    if id(obj) in seen or prefix.count(".") > MAX_NESTING or len(seen) > 10_000:
        raise CheckpointError("the network's module tree repeats itself or is far deeper than a StyleGAN's; refused")
    seen.add(id(obj))
    st = obj.state if isinstance(obj.state, dict) else {}
    out = {}
    for name, p in (st.get("_parameters") or {}).items():
        if p is not None:
            out[prefix + name] = p.detach() if isinstance(p, torch.Tensor) else p
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for name, b in (st.get("_buffers") or {}).items():
        if b is not None and name not in skip:
            out[prefix + name] = b
    for name, m in (st.get("_modules") or {}).items():
        if m is None:
            continue
        if not isinstance(m, PersistentObject):
            raise CheckpointError(f"unexpected submodule {prefix + name} of type {type(m).__name__}")
        out.update(_state_dict(m, prefix + name + ".", seen))
    for k, v in out.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"entry {k} of the checkpoint is not a tensor")
    return out


def read_nvidia_pickle(f):
    """Unpickle an official network pickle without running code. Returns the top-level
    object with every network replaced by a PersistentObject record."""
    try:
        start = f.tell()
        scan_pickle(f)  # bounded op count, memo, nesting and time, before anything is built
        f.seek(start)
        return RestrictedUnpickler(BoundedReader(f)).load()
    except CheckpointError:
        raise
    except Exception as e:  # untrusted bytes: any failure is "not a checkpoint", never a crash
        raise CheckpointError(f"not a readable StyleGAN pickle: {type(e).__name__}: {str(e)[:300]}") from e


def _pick_generator(top):
    if isinstance(top, PersistentObject):
        return top
    if isinstance(top, dict):
        for key in ("G_ema", "G"):
            if isinstance(top.get(key), PersistentObject):
                return top[key]
        raise CheckpointError(f"this pickle holds no generator (found keys: {', '.join(map(str, top)) or 'none'}); "
                              "expected 'G_ema' or 'G'")
    raise CheckpointError(f"this pickle holds a {type(top).__name__}, not a StyleGAN network")


def generator_from_record(rec: PersistentObject):
    if rec.class_name != "Generator":
        raise CheckpointError(f"the network in this pickle is a {rec.class_name}, not a Generator")
    init_kwargs = plain_arguments(rec.state.get("_init_kwargs") or {})
    if rec.state.get("_init_args"):
        raise CheckpointError("this generator was built with positional arguments, which official checkpoints never use")
    sd = _state_dict(rec)
    if "synthesis.input.freqs" in sd:
        cls = StyleGAN3Generator
    elif "synthesis.b4.const" in sd:
        cls = StyleGAN2Generator
    else:
        raise CheckpointError("this Generator is neither StyleGAN2 nor StyleGAN3 (no synthesis.b4.const or synthesis.input.freqs)")
    return build_generator(cls, init_kwargs, sd)


def build_generator(cls, init_kwargs, state_dict):
    check_architecture(cls, init_kwargs, state_dict)  # a declared giant, or weights that do not fit: refused unallocated
    try:
        G = cls(**init_kwargs)
    except Exception as e:  # wrong names, wrong types, impossible sizes
        raise CheckpointError(f"the checkpoint's constructor arguments do not fit {cls.__name__}: {type(e).__name__}: {e}") from e
    try:
        G.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the checkpoint's weights do not fit {cls.__name__}: {str(e)[:500]}") from e
    return G.eval().requires_grad_(False)


def generator_from_tf(top):
    """The StyleGAN2Generator of a TensorFlow-era pickle's Gs (see tf_pickles.py)."""
    init_kwargs, variables = read_gs(top)
    meta = check_architecture(StyleGAN2Generator, init_kwargs)  # a declared giant is refused unallocated
    expected = meta.state_dict()
    sd = convert_weights(variables, expected)
    filters = {k: v for k, v in expected.items() if k not in sd}  # resample filters: made by the constructor
    check_weights_fit(meta, {**filters, **sd})
    G = StyleGAN2Generator(**init_kwargs)
    sd.update({k: v for k, v in G.state_dict().items() if k in filters})
    G.load_state_dict(sd, strict=True)
    return G.eval().requires_grad_(False)


def load_nvidia_pickle(path):
    """An NVIDIA network pickle (PyTorch, or TensorFlow-era StyleGAN2) -> our generator."""
    with open(path, "rb") as f:
        top = read_nvidia_pickle(f)
    if is_tf_pickle(top):
        return generator_from_tf(top)
    return generator_from_record(_pick_generator(top))


# --------------------------------------------------------------------------------------
# rosinality/stylegan2-pytorch checkpoints.

def _check_torch_zip(path):
    """A torch.save zip archive: members' declared sizes within the budget (checked before
    anything is inflated), and its pickle within the pickle bounds."""
    sizes = check_zip(path, what="PyTorch checkpoint", compressed_ok=False)
    pkl = [name for name in sizes if name.endswith("data.pkl")]
    if len(pkl) != 1 or sizes[pkl[0]] > 64 << 20:
        raise CheckpointError("not a PyTorch checkpoint (a torch.save archive has one small data.pkl)")
    with zipfile.ZipFile(path) as z:
        scan_pickle(io.BytesIO(z.read(pkl[0])))


def read_torch_checkpoint(path, safe_globals=(argparse.Namespace,)):
    """A torch.save file (zip or legacy), read without running anything in it: the archive's
    declared sizes and its pickle's bounds are checked first, then torch.load(weights_only=True)
    with the CPU as the map location (release files are often tagged cuda:0)."""
    with open(path, "rb") as f:
        is_zip = f.read(2) == b"PK"
    if is_zip:
        _check_torch_zip(path)
    else:
        check_torch_legacy(path)
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafePickleError(f"Refused to load {os.path.basename(path)}: {str(e).splitlines()[0]}") from e
    except Exception as e:
        raise CheckpointError(f"not a readable PyTorch checkpoint: {type(e).__name__}: {str(e)[:300]}") from e
    return ckpt


def read_rosinality(path):
    ckpt = read_torch_checkpoint(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        keys = ", ".join(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"not a rosinality StyleGAN2 checkpoint: expected a 'g_ema' entry (found: {keys})")
    return ckpt


def convert_rosinality_state(g):
    """rosinality g_ema state dict -> (init_kwargs, official state dict)."""
    if "input.input" not in g or "conv1.conv.weight" not in g:
        raise CheckpointError("the 'g_ema' entry is not a rosinality StyleGAN2 generator")
    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in g:
        n_mlp += 1
    style_dim = g["style.1.weight"].shape[1]
    n_blocks = 0
    while f"to_rgbs.{n_blocks}.conv.weight" in g:
        n_blocks += 1
    img_resolution = 4 * 2 ** n_blocks
    img_channels = g["to_rgb1.conv.weight"].shape[1]

    channels = {4: g["input.input"].shape[1]}
    sd = {}
    for i in range(n_mlp):
        sd[f"mapping.fc{i}.weight"] = g[f"style.{i + 1}.weight"]
        sd[f"mapping.fc{i}.bias"] = g[f"style.{i + 1}.bias"]
    sd["synthesis.b4.const"] = g["input.input"][0]

    def styled_conv(src, dst, noise_idx):
        sd[f"{dst}.weight"] = g[f"{src}.conv.weight"][0]
        sd[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        sd[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        sd[f"{dst}.noise_strength"] = g[f"{src}.noise.weight"].reshape([])
        sd[f"{dst}.bias"] = g[f"{src}.activate.bias"]
        if f"noises.noise_{noise_idx}" in g:  # older checkpoints drew their noise afresh: keep ours
            sd[f"{dst}.noise_const"] = g[f"noises.noise_{noise_idx}"][0, 0]

    def to_rgb(src, dst):
        sd[f"{dst}.weight"] = g[f"{src}.conv.weight"][0]
        sd[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        sd[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        sd[f"{dst}.bias"] = g[f"{src}.bias"].reshape(-1)

    styled_conv("conv1", "synthesis.b4.conv1", 0)
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for k in range(n_blocks):
        res = 2 ** (k + 3)
        channels[res] = g[f"convs.{2 * k}.conv.weight"].shape[1]
        styled_conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        styled_conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
        # rosinality stores the upsampling FIR filters pre-multiplied by the gain up**2 = 4.
        if f"convs.{2 * k}.conv.blur.kernel" in g:
            sd[f"synthesis.b{res}.conv0.resample_filter"] = g[f"convs.{2 * k}.conv.blur.kernel"] / 4
        if f"to_rgbs.{k}.upsample.kernel" in g:
            sd[f"synthesis.b{res}.resample_filter"] = g[f"to_rgbs.{k}.upsample.kernel"] / 4

    init_kwargs = dict(
        z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=img_resolution, img_channels=img_channels,
        mapping_kwargs=dict(num_layers=n_mlp, lr_multiplier=0.01),
        synthesis_kwargs=dict(channels={str(r): int(c) for r, c in channels.items()}, architecture="skip", conv_clamp=None),
    )
    return init_kwargs, sd


def load_rosinality(path, w_avg_samples=10_000):
    ckpt = read_rosinality(path)
    return generator_from_rosinality(ckpt["g_ema"], ckpt.get("latent_avg"), w_avg_samples)


def generator_from_rosinality(g_ema: dict, latent_avg=None, w_avg_samples=10_000):
    """Our generator from a rosinality g_ema state dict (and its latent_avg, where known): the
    rosinality files, and the decoders inside pSp / e4e / ReStyle files."""
    try:
        init_kwargs, sd = convert_rosinality_state(g_ema)
    except (KeyError, IndexError, AttributeError, TypeError) as e:
        raise CheckpointError(f"the 'g_ema' entry is not a complete rosinality StyleGAN2 generator (missing or odd {e})") from e
    check_architecture(StyleGAN2Generator, init_kwargs)
    G = StyleGAN2Generator(**init_kwargs)
    if latent_avg is not None:
        sd["mapping.w_avg"] = latent_avg.reshape(-1).float()
    else:
        sd["mapping.w_avg"] = torch.zeros(G.w_dim)  # filled in below from the mapping network
    sd = {**{k: v for k, v in G.state_dict().items() if k.endswith(("resample_filter", "noise_const"))}, **sd}
    try:
        G.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the rosinality checkpoint does not convert cleanly: {e}") from e
    G.eval().requires_grad_(False)
    if latent_avg is None:
        # Training checkpoints carry no average w; estimate it the way rosinality's
        # generate.py does (the mean of mapped random z), with a fixed seed.
        with torch.no_grad():
            z = torch.randn([w_avg_samples, G.z_dim], generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(0))
    return G


# --------------------------------------------------------------------------------------
# Hub-native folders.

def read_config(config_path) -> dict:
    """A Hub-native config.json, read with bounds: a small JSON object naming one of our classes."""
    if os.path.getsize(config_path) > 1 << 20:
        raise CheckpointError("config.json is larger than 1 MB: not a StyleGAN config")
    try:
        with open(config_path, "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"config.json is not valid JSON ({type(e).__name__})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"config.json holds a {type(config).__name__}, not an object of constructor arguments")
    return config


def generator_class_for_config(config: dict):
    name = config.get("_class_name")
    if name not in GENERATOR_CLASSES:
        raise CheckpointError(f"config.json does not describe a StyleGAN generator (its _class_name must be one of "
                              f"{', '.join(sorted(GENERATOR_CLASSES))})")
    return GENERATOR_CLASSES[name]


def load_folder(path, **kwargs):
    config_path = os.path.join(path, kwargs.get("subfolder") or "", "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError("this folder has no config.json: not a Hub-native StyleGAN folder")
    config = read_config(config_path)
    cls = generator_class_for_config(config)
    known, ignored = split_config(cls, config)
    if ignored:  # as diffusers' from_pretrained does: ignored, with a warning
        log.warning("config.json keys that %s does not take were ignored: %s", cls.__name__, ", ".join(ignored))
    check_architecture(cls, known)
    failure = None
    try:
        G = cls.from_pretrained(path, low_cpu_mem_usage=False, **kwargs)
    except CheckpointError:
        raise
    except Exception as e:  # a corrupt or mismatched safetensors file, a config that does not fit
        failure = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    if failure is not None:  # raised here, not in the except block, so the half-built network can be freed
        raise CheckpointError(f"the Hub-native model could not be read: {failure}")
    G.ignored_config_keys = ignored
    return G.eval().requires_grad_(False)


def split_config(cls, config: dict) -> tuple[dict, list]:
    """A Hub-native config's constructor arguments for cls, and the names of the keys cls does not
    take. diffusers' from_pretrained passes only the keys the constructor names and warns about
    the rest; the size checks see exactly what it will pass."""
    import inspect
    names = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    known = {k: v for k, v in config.items() if k in names}
    ignored = sorted(str(k)[:40] for k in config if not str(k).startswith("_") and k not in names)[:20]
    return known, ignored


def load_file(path):
    """Any supported checkpoint file or folder on disk -> an eval-mode generator on the CPU."""
    if os.path.isdir(path):
        return load_folder(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no such file or folder: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":                       # torch.save zip archive
        return load_rosinality(path)
    if head[:1] == b"\x80":                     # a pickle: NVIDIA's format, or a legacy torch.save
        try:
            return load_nvidia_pickle(path)
        except UnsafePickleError:
            raise
        except CheckpointError:
            if path.endswith((".pt", ".pth")):
                return load_rosinality(path)
            raise
    raise CheckpointError(f"{os.path.basename(path)} is neither a StyleGAN pickle, a PyTorch checkpoint nor a Hub-native folder")
