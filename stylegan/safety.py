"""Bounds for reading untrusted checkpoints: every check here runs before the thing it guards
is allocated, so a small hostile file cannot make the process allocate much.

- Declared architecture: the parameter and buffer memory of a generator is computed from its
  constructor arguments (on PyTorch's "meta" device, which allocates nothing) and refused
  beyond a budget, with the number in the message.
- Pickles: scanned opcode by opcode before they are unpickled (op count, memo size, stack
  depth, time), and read through a reader that refuses to read past the end of the file (a
  1 KB pickle cannot declare a 4 GB bytes object and have it allocated).
- Zip archives (`torch.save` files, `.npz`): members' declared sizes are checked before any is
  inflated; the zip reader allocates what the header declares.

Limits come from the environment (read at call time) so an operator can set them:
STYLEGAN_MAX_MODEL_MB (default 2048; the largest official generators need about 120 MB).
"""
import io
import os
import pickletools
import time
import warnings
import zipfile

import numpy as np
import torch

from .errors import CheckpointError

MAX_PICKLE_OPS = 20_000_000     # a 1024 px official pickle has about 60,000
MAX_PICKLE_MEMO = 2_000_000     # memo entries
MAX_PICKLE_STACK = 10_000       # items on the unpickler's stack at once (nesting, in effect)
MAX_PICKLE_SECONDS = 60.0
MAX_KWARGS_NODES = 10_000       # values in a network's constructor arguments, counted with repeats
MAX_NESTING = 64                # dicts in dicts in a checkpoint's arguments or module tree
MAX_INT_ARGUMENT = 1 << 24      # no official constructor argument comes near this
MAX_DIM = 1 << 16               # z_dim, w_dim, c_dim, channels
MAX_RESOLUTION = 8192


def max_model_bytes() -> int:
    return int(float(os.environ.get("STYLEGAN_MAX_MODEL_MB", "2048")) * (1 << 20))


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


# --------------------------------------------------------------------------------------
# Declared architecture.

def _check_numbers(obj, path="", depth=0):
    """Every number in the constructor arguments is finite and far below what allocates much."""
    if depth > MAX_NESTING:
        raise CheckpointError("the checkpoint's constructor arguments are nested too deeply")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_numbers(v, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_numbers(v, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    elif isinstance(obj, int):
        if abs(obj) > MAX_INT_ARGUMENT:
            raise CheckpointError(f"the checkpoint declares {path} = {obj}, far beyond any StyleGAN network; refused")
    elif isinstance(obj, float):
        if obj != obj or abs(obj) == float("inf"):
            raise CheckpointError(f"the checkpoint declares {path} = {obj}; refused")
        if abs(obj) > MAX_INT_ARGUMENT:
            raise CheckpointError(f"the checkpoint declares {path} = {obj:g}, far beyond any StyleGAN network; refused")


def _dim(kwargs, name, lo=0, hi=MAX_DIM):
    v = kwargs.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CheckpointError(f"the checkpoint declares {name} = {v!r}; a StyleGAN generator needs an integer from {lo} to {hi}")
    return v


def plain_arguments(obj, budget=None, depth=0):
    """EasyDicts and OrderedDicts to dicts, numpy scalars to Python numbers, recursively. Counts
    every value it visits (repeats included) against a budget, so a pickle that refers to one
    list a billion times over ("billion laughs") is refused instead of expanded."""
    budget = [MAX_KWARGS_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise CheckpointError(f"the checkpoint's constructor arguments hold more than {MAX_KWARGS_NODES:,} values "
                              "(counting repeats); refused")
    if depth > MAX_NESTING:
        raise CheckpointError("the checkpoint's constructor arguments are nested too deeply; refused")
    if isinstance(obj, dict):
        return {str(k): plain_arguments(v, budget, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_arguments(v, budget, depth + 1) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def build_on_meta(cls, init_kwargs: dict):
    """cls(**init_kwargs) built on the meta device, which allocates nothing: its parameters and
    buffers say how many bytes the real network would take. Raises CheckpointError for
    arguments no StyleGAN generator has (and for anything the constructor refuses)."""
    if not isinstance(init_kwargs, dict):
        raise CheckpointError(f"the checkpoint's constructor arguments are a {type(init_kwargs).__name__}, not a dict")
    _check_numbers(init_kwargs)
    for name in ("z_dim", "w_dim"):
        _dim(init_kwargs, name, 1)
    _dim(init_kwargs, "c_dim", 0)
    _dim(init_kwargs, "img_channels", 1, 16)
    res = _dim(init_kwargs, "img_resolution", 4, MAX_RESOLUTION)
    if res & (res - 1):
        raise CheckpointError(f"the checkpoint declares img_resolution = {res}; it must be a power of two")
    nested = {**(init_kwargs.get("synthesis_kwargs") or {}), **(init_kwargs.get("mapping_kwargs") or {}), **init_kwargs}
    for name in ("channel_max", "layer_features", "embed_features"):
        if nested.get(name) is not None:
            _dim(nested, name, 1)
    for name in ("num_layers",):
        if nested.get(name) is not None:
            _dim(nested, name, 0, 64)
    channels = (init_kwargs.get("synthesis_kwargs") or {}).get("channels")
    if channels is not None:
        if not isinstance(channels, dict) or len(channels) > 16:
            raise CheckpointError("the checkpoint's channel table is not a small {resolution: channels} table")
        for k, v in channels.items():
            if not isinstance(v, int) or not 1 <= v <= MAX_DIM:
                raise CheckpointError(f"the checkpoint declares {v!r} channels at resolution {k}; refused")
    try:
        with torch.device("meta"), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = cls(**init_kwargs)
    except CheckpointError:
        raise
    except Exception as e:  # wrong names, wrong types, impossible sizes
        raise CheckpointError(f"the checkpoint's constructor arguments do not fit {cls.__name__}: "
                              f"{type(e).__name__}: {str(e)[:200]}") from None
    empty = [name for name, t in G.named_parameters() if t.numel() == 0]
    if empty:
        raise CheckpointError(f"the checkpoint declares a network with empty layers ({empty[0]} has no weights): "
                              "its channel settings make no sense")
    return G


def check_architecture(cls, init_kwargs: dict, state_dict: dict = None):
    """Refuse a declared network beyond the memory budget, before anything is allocated; with
    the checkpoint's state dict, also refuse one whose tensors do not match the declared
    network name for name and shape (so what is then allocated is what the file holds).
    Returns the network built on the meta device."""
    G = build_on_meta(cls, init_kwargs)
    need, budget = sum(t.numel() * t.element_size() for t in list(G.parameters()) + list(G.buffers())), max_model_bytes()
    if need > budget:
        raise CheckpointError(f"this checkpoint declares a {cls.__name__} whose weights and buffers take "
                              f"{human_bytes(need)}; this server loads networks of at most {human_bytes(budget)} "
                              f"(STYLEGAN_MAX_MODEL_MB). Nothing was allocated.")
    if state_dict is not None:
        check_weights_fit(G, state_dict)
    return G


def check_weights_fit(G, state_dict: dict) -> None:
    """Refuse a state dict whose tensors do not match G (built on the meta device by
    check_architecture) name for name and shape."""
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    wrong = [f"{k} {list(got[k])} (the network needs {list(expected[k])})" for k in expected
             if k in got and got[k] != expected[k]]
    if missing or extra or wrong:
        parts = [f"missing {', '.join(missing[:3])}" + (" …" if len(missing) > 3 else "")] if missing else []
        parts += [f"unexpected {', '.join(extra[:3])}" + (" …" if len(extra) > 3 else "")] if extra else []
        parts += [f"wrong shape: {'; '.join(wrong[:2])}" + (" …" if len(wrong) > 2 else "")] if wrong else []
        raise CheckpointError(f"the checkpoint's weights do not fit the {type(G).__name__} it declares: "
                              + "; ".join(parts) + ". Nothing was allocated.")


# --------------------------------------------------------------------------------------
# Pickles.

class BoundedReader(io.RawIOBase):
    """A read-only view of a file that refuses any single read asking for more bytes than
    are left: Python's readers allocate what is asked before they read it."""

    def __init__(self, f, size=None):
        self.f = f
        start = f.tell()
        if size is None:
            f.seek(0, os.SEEK_END)
            size = f.tell() - start
            f.seek(start)
        self.end = start + size

    def readable(self):
        return True

    def _check(self, n):
        left = self.end - self.f.tell()
        if n is not None and n > left:
            raise CheckpointError(f"not a readable checkpoint: it declares an object of {human_bytes(n)} where only "
                                  f"{human_bytes(max(left, 0))} remain (a truncated or hostile file); nothing was allocated")

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.end - self.f.tell()
        self._check(n)
        return self.f.read(n)

    def readinto(self, b):
        self._check(len(b))
        return self.f.readinto(b)

    def readline(self, limit=-1):
        return self.f.readline(min(limit, 1 << 20) if limit and limit > 0 else 1 << 20)

    def tell(self):
        return self.f.tell()

    def seek(self, pos, whence=os.SEEK_SET):
        return self.f.seek(pos, whence)

    def seekable(self):
        return True


def scan_pickle(f, max_ops=MAX_PICKLE_OPS, max_memo=MAX_PICKLE_MEMO, max_stack=MAX_PICKLE_STACK,
                max_seconds=MAX_PICKLE_SECONDS) -> dict:
    """Walk one pickle's opcodes without building anything; refuse one beyond the bounds.
    Leaves f after the pickle's STOP. Returns {"ops", "memo", "stack"} (the maxima seen)."""
    start = time.monotonic()
    stack, marks, memo, ops, deepest = 0, [], 0, 0, 0
    mark = pickletools.markobject
    try:
        for op, _, _ in pickletools.genops(BoundedReader(f) if not isinstance(f, BoundedReader) else f):
            ops += 1
            before, after = op.stack_before, op.stack_after
            if mark in before:
                if not marks:
                    raise CheckpointError("not a readable pickle (a mark is missing)")
                stack = marks.pop()
                before = before[:before.index(mark)]
            stack = max(0, stack - len(before))
            if mark in after:
                marks.append(stack)
            stack += len([a for a in after if a is not mark])
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo += 1
            deepest = max(deepest, stack + len(marks))
            if deepest > max_stack:
                raise CheckpointError(f"this pickle nests more than {max_stack} levels deep; refused (no checkpoint does)")
            if memo > max_memo:
                raise CheckpointError(f"this pickle stores more than {max_memo:,} objects; refused")
            if ops > max_ops:
                raise CheckpointError(f"this pickle has more than {max_ops:,} instructions; refused")
            if ops % 10_000 == 0 and time.monotonic() - start > max_seconds:
                raise CheckpointError(f"reading this pickle took more than {max_seconds:.0f} s; refused")
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"not a readable pickle: {type(e).__name__}: {str(e)[:200]}") from None
    return {"ops": ops, "memo": memo, "stack": deepest}


# --------------------------------------------------------------------------------------
# Zip archives.

def check_zip(path, budget=None, what="archive", compressed_ok=True) -> dict:
    """Refuse a zip whose members would inflate beyond the budget (declared sizes, read from
    the central directory before anything is inflated), or (compressed_ok=False) one with a
    large compressed member. Returns {member name: size}."""
    budget = max_model_bytes() if budget is None else budget
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"this {what} is not a readable zip archive ({type(e).__name__})") from None
    if len(infos) > 100_000:
        raise CheckpointError(f"this {what} has {len(infos):,} members; refused")
    total = sum(i.file_size for i in infos)
    if total > budget:
        raise CheckpointError(f"this {what} would inflate to {human_bytes(total)} ({total:,} bytes); this server reads "
                              f"at most {human_bytes(budget)} ({budget:,} bytes). Nothing was inflated.")
    for i in infos:
        if not compressed_ok and i.compress_type != zipfile.ZIP_STORED and i.file_size > 1 << 20:
            raise CheckpointError(f"this {what} holds a compressed member of {human_bytes(i.file_size)}, which torch.save "
                                  "never writes (a zip bomb?); refused. Nothing was inflated.")
        if i.compress_type != zipfile.ZIP_STORED and i.file_size > 1 << 20 and i.file_size / max(i.compress_size, 1) > 200:
            raise CheckpointError(f"a member of this {what} would inflate {i.file_size / i.compress_size:,.0f}-fold "
                                  "(a zip bomb); refused. Nothing was inflated.")
    return {i.filename: i.file_size for i in infos}


# --------------------------------------------------------------------------------------
# Legacy (pre-1.6) torch.save files: pickles, then each storage's element count and data.

_ELEMENT_SIZES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
                  "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "Untyped": 1}


class _Anything:
    """Stands in for every global a legacy file names, while its sizes are read: nothing the
    file names is ever resolved or run."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


def check_torch_legacy(path) -> None:
    """Refuse a legacy torch.save file whose storages declare more data than the file holds
    (PyTorch allocates what a storage declares before reading it)."""
    import pickle
    sizes = {}

    class SizeReader(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name.endswith("Storage"):
                return ("storage", _ELEMENT_SIZES.get(name[:-len("Storage")], 16))
            return _Anything

        def persistent_load(self, pid):
            if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
                kind = pid[1]
                elsize = kind[1] if isinstance(kind, tuple) else 16
                sizes[str(pid[2])] = elsize
            return _Anything()

    with open(path, "rb") as raw:
        f = BoundedReader(raw)
        for _ in range(3):  # magic number, protocol version, system info
            scan_pickle(f, max_ops=100_000, max_stack=1000)
        start = f.tell()
        scan_pickle(f)
        f.seek(start)
        try:
            SizeReader(f).load()
            keys_start = f.tell()
            scan_pickle(f, max_ops=1_000_000)
            f.seek(keys_start)
            keys = SizeReader(f).load()
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"not a readable PyTorch checkpoint ({type(e).__name__}: {str(e)[:100]})") from None
        if not isinstance(keys, list):
            raise CheckpointError("not a readable PyTorch checkpoint (no storage list)")
        for key in keys:
            head = f.read(8)
            numel = int.from_bytes(head, "little", signed=True)
            nbytes = numel * sizes.get(str(key), 16)
            left = f.end - f.tell()
            if len(head) < 8 or numel < 0 or nbytes > left:
                raise CheckpointError(f"a tensor in this checkpoint declares {human_bytes(max(nbytes, 0))} where only "
                                      f"{human_bytes(max(left, 0))} remain: a corrupt or hostile file; nothing was allocated")
            f.seek(nbytes, os.SEEK_CUR)
