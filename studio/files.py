"""Files written for visitors (latents, videos): each in a folder of its own under one root,
deleted once older than max_age, by every new request and by a sweeper every few minutes."""
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
        self._sweeper = None
        if sweep_every:
            self._stop = threading.Event()

            def loop():
                while not self._stop.wait(sweep_every):
                    self.sweep()
            self._sweeper = threading.Thread(target=loop, name="result-file sweeper", daemon=True)
            self._sweeper.start()

    def path(self, name: str) -> str:
        """A fresh path for a result file called `name` (old results are swept first)."""
        self.sweep()
        return os.path.join(tempfile.mkdtemp(dir=self.root), os.path.basename(name))

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
