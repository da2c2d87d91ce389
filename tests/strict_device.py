"""CUDA's same-device rule, enforced on PyTorch's `meta` device: the proof, without a GPU, that
every network and every tensor of a request sits on the model's device.

On a GPU an op whose tensor arguments live on two devices raises ("Expected all tensors to be on
the same device"), except a 0-dim CPU tensor, which CUDA takes as a scalar. The meta device checks
that for some ops but not for matmul or convolution, so `SameDevice` (a TorchDispatchMode) checks
every op itself. It also answers what meta cannot do:

- a value read back to the host (`.item()`, `float(t)`, `bool(t)`: aten._local_scalar_dense)
  gets a plausible number (True, 1, 0.5), and is counted: `syncs` lists where they happened, so
  a test can ask that the generator makes none;
- a copy out of meta onto the CPU (`.cpu()`, `.to("cpu")`, `copy_` into a CPU tensor) gets
  seeded random values of the right shape and dtype, so PIL, PyAV and numpy code downstream runs.

Random generators are checked too: a CPU torch.Generator handed to a factory on the device
raises, as it does on CUDA.
"""
from __future__ import annotations

import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten

DEVICE = torch.device("meta")

# Ops whose purpose is to cross devices.
_COPIES = {aten._to_copy.default, aten.copy_.default, aten._copy_from.default, aten._copy_from_and_resize.default,
           aten.lift_fresh.default, aten.lift_fresh_copy.default}
# Ops that answer with a Python value read from the device (a host sync, as .item() is).
_READS = {aten.allclose.default, aten.equal.default, aten.is_nonzero.default}
# CUDA's advanced indexing takes index tensors on the CPU as well (it moves them itself).
_INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}


class DeviceMismatch(RuntimeError):
    pass


def _fill(like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Seeded stand-in values for a tensor copied out of meta."""
    shape, dtype = like.shape, like.dtype
    if dtype == torch.bool:
        return torch.rand(shape, generator=gen) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return torch.rand(shape, generator=gen).to(dtype)
    return torch.randint(0, 2, shape, generator=gen).to(dtype)


def _where() -> str:
    """The innermost frame of the project's own code that led here."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        if "/torch/" not in frame.filename and "strict_device" not in frame.filename:
            return f"{frame.filename.rsplit('/', 2)[-2:][-1]}:{frame.lineno} {frame.name}"
    return "?"


class SameDevice(TorchDispatchMode):
    """Inside `with SameDevice() as mode:` any op that mixes devices raises DeviceMismatch.
    mode.syncs: [(op, where)] of every value read back from the device to the host."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.gen = torch.Generator().manual_seed(seed)
        self.syncs: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is aten._local_scalar_dense.default and args[0].device.type == "meta":
            self.syncs.append((str(func), _where()))
            x = args[0]
            if x.dtype == torch.bool:
                return True
            return 1 if not (x.dtype.is_floating_point or x.dtype.is_complex) else 0.5
        if func in _READS and any(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in args):
            self.syncs.append((str(func), _where()))
            return True
        if func in _COPIES:
            return self._copy(func, args, kwargs)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if func in _INDEXING:  # index tensors may be on the CPU
            indices = args[1] if len(args) > 1 else kwargs.get("indices", [])
            skip = {id(t) for t in indices if isinstance(t, torch.Tensor) and t.device.type == "cpu"}
            tensors = [t for t in tensors if id(t) not in skip]
        devices = {t.device for t in tensors if not (t.device.type == "cpu" and t.dim() == 0)}
        device = kwargs.get("device")
        generator = kwargs.get("generator")
        if generator is not None:
            target = torch.device(device) if device is not None else (next(iter(devices)) if devices else torch.device("cpu"))
            if generator.device.type != target.type:
                raise DeviceMismatch(f"{func}: a {generator.device.type} generator for a tensor on {target}"
                                     f" (at {_where()})")
        if len(devices) > 1:
            shapes = ", ".join(f"{t.device.type}{list(t.shape)}" for t in tensors)
            raise DeviceMismatch(f"{func} mixes devices: {shapes} (at {_where()})")
        return func(*args, **kwargs)

    def _copy(self, func, args, kwargs):
        if func is aten._to_copy.default:
            x = args[0]
            device = kwargs.get("device")
            if x.device.type == "meta" and device is not None and torch.device(device).type == "cpu":
                out = _fill(x, self.gen)
                dtype = kwargs.get("dtype")
                return out.to(dtype) if dtype is not None else out
            return func(*args, **kwargs)
        if func is aten.copy_.default:
            dst, src = args[0], args[1]
            if src.device.type == "meta" and dst.device.type == "cpu":
                with torch.no_grad():
                    dst.copy_(_fill(src, self.gen).expand_as(dst) if src.dim() else _fill(dst, self.gen))
                return dst
        return func(*args, **kwargs)

    def syncs_in(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) and the host syncs it made: (result, [(op, where)])."""
        before = len(self.syncs)
        result = fn(*args, **kwargs)
        return result, self.syncs[before:]


def devices_of(module: torch.nn.Module) -> set:
    return {t.device.type for t in list(module.parameters()) + list(module.buffers())}
