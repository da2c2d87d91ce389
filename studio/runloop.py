"""The loop every long job of the page runs in (projection, text-edit optimisation, drag next):
a step generator driven under a time limit, previews at most one a second, an optional video
of the steps, and Stop.

    loop = RunLoop(steps, limit=projection_time_limit(), video=writer, frame=lambda s: ...)
    for state, show in loop:          # the unfinished steps; show: time for a preview
        yield Update(state.step, ..., preview=state.image if show else None)
    loop.state, loop.note             # the last state; "stopped after 600 s at step 312 of 1000"

A visitor's Stop closes the caller's generator, which closes the loop (`with` or close()):
the step generator is closed and a half-written video dropped.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional

PREVIEW_SECONDS = 1.0  # at most one preview image a second (progress comes every step)


def projection_time_limit() -> float:
    """Seconds one long job may run before it stops and returns what it has (STUDIO_PROJECT_MAX_S)."""
    return float(os.environ.get("STUDIO_PROJECT_MAX_S", "600"))


class RunLoop:
    """Drives `steps` (states with .step, .steps, .done). Iterating yields (state, show) for each
    unfinished state; after the loop, `state` is the last one and `note` says why it stopped
    early (the time limit), if it did. With `video` (editing.video.Mp4Writer), `frame(state)`
    is written every `video_every` steps and at the end; the video is closed when the run
    completes, dropped when it is stopped or fails."""

    def __init__(self, steps, limit: Optional[float] = None, video=None, frame: Optional[Callable] = None,
                 video_every: int = 1):
        self.steps = steps
        self.limit = projection_time_limit() if limit is None else float(limit)
        self.video, self.frame, self.video_every = video, frame, max(1, int(video_every))
        self.state = None
        self.note = ""
        self.completed = False

    def __iter__(self):
        start = last_preview = time.monotonic()
        try:
            for state in self.steps:
                self.state = state
                now = time.monotonic()
                if self.video is not None and (state.done or state.step % self.video_every == 0):
                    self.video.write(self.frame(state))
                if state.done:
                    break
                if now - start > self.limit:
                    total = getattr(state, "total", None) or state.steps
                    self.note = f"stopped after {self.limit:.0f} s at step {state.step} of {total}"
                    break
                show = now - last_preview >= PREVIEW_SECONDS or state.step == 1
                if show:
                    last_preview = now
                yield state, show
            self.completed = True
        finally:
            self.close()

    def close(self) -> None:
        self.steps.close()
        if self.video is not None:
            if self.completed:
                self.video.close()
            else:  # stopped by the visitor, or failed: drop the video
                self.video.abandon()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
