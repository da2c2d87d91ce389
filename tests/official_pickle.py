"""Write checkpoints in NVIDIA's pickle format, as `torch_utils.persistence` does, for tests:
every network is pickled as a call to `torch_utils.persistence._reconstruct_persistent_obj`
with its class name, source text, constructor arguments and __dict__-like state."""
import collections
import pickle
import sys
import types


def _persistence_module():
    if "torch_utils.persistence" not in sys.modules:
        pkg = types.ModuleType("torch_utils")
        mod = types.ModuleType("torch_utils.persistence")

        def _reconstruct_persistent_obj(meta):
            raise RuntimeError("tests only write these pickles")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
        pkg.persistence = mod
        sys.modules["torch_utils"] = pkg
        sys.modules["torch_utils.persistence"] = mod
    return sys.modules["torch_utils.persistence"]


class Persistent:
    def __init__(self, class_name, state, module_src="# omitted\n"):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return (_persistence_module()._reconstruct_persistent_obj, (self.meta,))


def persistent_state(module, init_kwargs=None):
    state = {
        "training": False,
        "_parameters": collections.OrderedDict(module._parameters),
        "_buffers": collections.OrderedDict(module._buffers),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict(
            (name, Persistent(type(child).__name__, persistent_state(child)) if child is not None else None)
            for name, child in module._modules.items()),
    }
    if init_kwargs is not None:
        state["_init_args"] = ()
        state["_init_kwargs"] = init_kwargs
    return state


def official_pickle_bytes(G, init_kwargs, module_src="# omitted\n", extra=None):
    top = {"G_ema": Persistent("Generator", persistent_state(G, init_kwargs), module_src=module_src),
           "training_set_kwargs": {"resolution": G.img_resolution}}
    top.update(extra or {})
    return pickle.dumps(top, protocol=4)
