"""Which implementation the ops run: the plain reference definitions or the fast paths.

The fast paths are the default. The reference definitions are the ground truth every fast
path is tested against (tests/test_ops.py) and benchmarked against (benchmarks/).
"""
import contextlib
import ctypes

_use_reference = False


def reference_enabled() -> bool:
    return _use_reference


@contextlib.contextmanager
def reference(enabled: bool = True):
    """Run the ops through their plain definitions inside this block."""
    global _use_reference
    previous, _use_reference = _use_reference, bool(enabled)
    try:
        yield
    finally:
        _use_reference = previous


def reuse_freed_memory(trim_threshold: int = 1 << 30) -> bool:
    """Make the process keep freed CPU memory for the next tensors (glibc malloc, Linux).

    By default glibc serves every large tensor with a fresh mmap and returns it to the
    system when freed, so the next image touches brand-new pages: about 245,000 page
    faults, ~0.25 s, per 1024x1024 StyleGAN2 image on the 2-core machines. With mmap off,
    one arena for all threads and a high trim threshold, the memory is reused instead.
    Process-wide, so call it once at start-up (before worker threads allocate); the cost is
    that up to `trim_threshold` bytes of freed memory stay with the process. Returns
    whether it was applied (False where the C library has no mallopt)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # from glibc's malloc.h
    return all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, int(trim_threshold)), (M_ARENA_MAX, 1)))


def release_freed_memory() -> bool:
    """Hand freed CPU memory back to the system now (glibc's malloc_trim). reuse_freed_memory
    keeps up to its threshold for the next tensors; after a failed load or an evicted model
    that memory should go back instead. Returns whether anything was released."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def release_memory() -> None:
    """After a model or a tuned copy was dropped: collect it, hand the freed CPU memory back
    (release_freed_memory) and the GPU's cached blocks to the driver, for other models."""
    import gc

    import torch
    gc.collect()
    release_freed_memory()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
