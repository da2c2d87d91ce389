"""Values derived from a weight, kept until the weight changes: at inference the same kernels and
filters come back every call, and what is computed from them (a transposed copy, a squared sum,
whether a filter is separable) need not be computed again -- on a GPU, a decision read back to
the host (a sync) would otherwise stall every call."""
import weakref

import torch

_weight_caches = {}  # id(weight) -> (weakref to it, {key: derived tensor})


def weight_cache(weight, name, fn):
    """fn(weight), remembered until the weight changes (its version counter or storage) or
    is freed: at inference the same kernels come back every call, and their derived forms
    (a transposed, channels-last or squared copy) need not be rebuilt. Nothing is kept
    while gradients flow. Kept beside the tensor, not on it, so nothing leaks into pickles."""
    if torch.is_grad_enabled() and weight.requires_grad:
        return fn(weight)
    entry = _weight_caches.get(id(weight))
    if entry is None or entry[0]() is not weight:
        entry = (weakref.ref(weight), {})
        _weight_caches[id(weight)] = entry
        weakref.finalize(weight, _weight_caches.pop, id(weight), None)
    cache = entry[1]
    key = (name, weight._version, weight.data_ptr(), weight.dtype, weight.device)
    value = cache.get(key)  # one lookup: another thread may clear the cache between two
    if value is None:
        value = fn(weight)
        if len(cache) > 8:
            cache.clear()
        cache[key] = value
    return value
