"""Handlers that need a GPU lent per call (Hugging Face ZeroGPU), with the caches kept in the
main process.

On ZeroGPU a function decorated with `spaces.GPU(duration=...)` runs in a forked worker that holds
the GPU for at most `duration` seconds of the visitor's daily quota; its arguments and its result
are pickled across, so what it caches (a loaded model, SeFa directions, a channel relevance) is
lost with the worker. `GpuCalls.wrap` therefore:

- loads the call's workspace in the main process first (the worker, forked from it, finds it in
  the inherited cache, and so does every later call);
- runs the work inside the decorator, with a duration computed from the call's own arguments
  (steps, frames, images);
- hands the analyses the call computed back with its result (tensors on the CPU) and keeps them
  in the main process's workspace.

Off ZeroGPU `spaces.GPU` returns the function unchanged and the same code runs in one process.
Handlers that need no GPU (model info, presets) are not wrapped: each decorated call spends the
visitor's quota.
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass
from typing import Callable, Optional, Union


@dataclass
class _Done:
    """The result of a call run inside the GPU decorator, with the analyses it computed."""
    value: object
    analyses: dict


def spaces_gpu() -> Optional[Callable]:
    """spaces.GPU where the `spaces` package is installed (a no-op off ZeroGPU), else None."""
    try:
        import spaces
    except ImportError:
        return None
    return spaces.GPU


def on_zero_gpu() -> bool:
    """Whether calls really run in ZeroGPU's workers (SPACES_ZERO_GPU, as the `spaces` package reads it)."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes")


class GpuCalls:
    """Wraps handlers whose first three arguments name a model (registry name, Hub id, upload)."""

    def __init__(self, studio, decorator: Optional[Callable] = None, forked: bool = False):
        self.studio = studio
        self.decorator = decorator          # spaces.GPU, or None: no decorator at all
        self.forked = forked                # calls run in another process (ZeroGPU): prepare in this one
        self.durations: dict = {}           # handler name -> its duration (seconds or a callable)

    def wrap(self, fn: Callable, duration: Union[int, float, Callable], prepare: Optional[Callable] = None) -> Callable:
        """fn to run on the GPU for `duration` seconds; prepare(workspace, *args), if given, runs
        first in the main process when calls are forked (a task's companion networks, loaded where
        they stay); in one process the task loads them itself, after its arguments are checked."""
        studio = self.studio
        self.durations[fn.__name__] = duration

        def load(args):
            w = studio.workspace(*args[:3])  # loaded here, kept here
            if prepare is not None and self.forked:
                prepare(w, *args)
            return w

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def task(*args, **kwargs):
                w = studio.workspace(*args[:3])
                known = w.analysis_keys()
                yield from fn(*args, **kwargs)
                yield _Done(None, w.analyses_since(known))

            run = self._decorate(task, duration)

            @functools.wraps(fn)
            def main_gen(*args, **kwargs):
                w = load(args)
                for out in run(*args, **kwargs):
                    if isinstance(out, _Done):
                        w.keep_analyses(out.analyses)
                    else:
                        yield out
            return main_gen

        @functools.wraps(fn)
        def task(*args, **kwargs):
            w = studio.workspace(*args[:3])
            known = w.analysis_keys()
            value = fn(*args, **kwargs)
            return _Done(value, w.analyses_since(known))

        run = self._decorate(task, duration)

        @functools.wraps(fn)
        def main(*args, **kwargs):
            w = load(args)
            done = run(*args, **kwargs)
            w.keep_analyses(done.analyses)
            return done.value
        return main

    def _decorate(self, task, duration):
        if self.decorator is None:
            return task
        seconds = duration
        if callable(duration):
            def seconds(*args, **kwargs):  # never fails: a bad argument gets its message from the handler
                try:
                    return max(1, int(duration(*args, **kwargs)))
                except Exception:
                    return 60
        return self.decorator(duration=seconds)(task)


# Seconds of a lent GPU per unit of work at 1024 px, on the generous side (a call that outruns
# its duration is cut off, one that asks for much more waits longer in ZeroGPU's queue), scaled
# by (resolution / 1024)^2 but not below 1/16: small models are bound by overheads, not pixels.
SETUP_S = 15.0      # the model's weights onto the lent GPU, first-use loads
IMAGE_S = 0.06      # one image rendered, moved to the host and saved
STEP_S = 0.2        # one optimisation step (projection or text): forward, VGG16 or CLIP, backward
MAX_S = 900.0       # no call asks for more


def gpu_seconds(studio, model_args, images: float = 0, steps: float = 0) -> float:
    """The duration to ask ZeroGPU for: a call on the model named by model_args (choice, text,
    upload) rendering `images` images and running `steps` optimisation steps."""
    try:
        resolution = studio.workspace(*model_args).G.img_resolution
    except Exception:  # the handler will give the message; ask for the least
        return SETUP_S
    scale = max(1 / 16, (resolution / 1024) ** 2)
    return min(MAX_S, SETUP_S + scale * (images * IMAGE_S + steps * STEP_S))
