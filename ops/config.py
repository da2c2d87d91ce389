"""Which implementation the ops run: the plain reference definitions or the fast paths.

The fast paths are the default. The reference definitions are the ground truth every fast
path is tested against (tests/test_ops.py) and benchmarked against (benchmarks/).
"""
import contextlib

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
