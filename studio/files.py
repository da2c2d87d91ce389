"""Files written for visitors (latents, videos, images): each in a folder of its own under one
root, deleted once older than max_age, by every new result (the oldest folders first, without
listing the root: a gallery writes 64 files) and by a sweeper every few minutes."""
import collections
import os
import shutil
import tempfile
import threading
import time
from typing import Optional


class ResultFiles:
    def __init__(self, root: Optional[str] = None, max_age: float = 3600.0, sweep_every: float = 300.0):
        self.root = root or tempfile.mkdtemp(prefix="stylegan-studio-")
        os.makedirs(self.root, exist_ok=True)
        self.max_age = max_age
        self._made = collections.deque()  # folders made here, oldest first
        self._lock = threading.Lock()
        self._sweeper = None
        if sweep_every:
            self._stop = threading.Event()

            def loop():
                while not self._stop.wait(sweep_every):
                    self.sweep()
            self._sweeper = threading.Thread(target=loop, name="result-file sweeper", daemon=True)
            self._sweeper.start()

    def path(self, name: str) -> str:
        """A fresh path for a result file called `name` (expired results go first)."""
        self._expire_oldest()
        folder = tempfile.mkdtemp(dir=self.root)
        with self._lock:
            self._made.append(folder)
        return os.path.join(folder, os.path.basename(name))

    def _expire_oldest(self, now: Optional[float] = None) -> None:
        """Delete the folders made here that are older than max_age, oldest first, stopping at
        the first that is not: O(1) per call, where sweep() lists the whole root."""
        now = time.time() if now is None else now
        while True:
            with self._lock:
                if not self._made:
                    return
                folder = self._made[0]
                try:
                    expired = now - os.stat(folder).st_mtime > self.max_age
                except OSError:  # already gone (the sweeper)
                    expired = True
                if not expired:
                    return
                self._made.popleft()
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self, now: Optional[float] = None) -> int:
        """Delete every result folder older than max_age; returns how many went."""
        now = time.time() if now is None else now
        gone = 0
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return 0
        for entry in entries:
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > self.max_age:
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.remove(entry.path)
                    gone += 1
            except OSError:
                pass
        return gone

    def close(self) -> None:
        if self._sweeper is not None:
            self._stop.set()
