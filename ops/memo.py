"""Compute once per key, for requests that run at once: the one cache mechanism of the project,
behind the generator cache (stylegan.load), the companion networks' cache (companions) and each
model's cached analyses (studio)."""
import threading
from collections import OrderedDict
from typing import Callable, Hashable, Optional


class Memo:
    """memo.get(key, compute): compute() once per key. Callers asking for a key that is being
    computed wait for it; callers for other keys do not. A compute that fails keeps nothing.
    With a limit, the `limit` most recently used values are kept; on_drop() runs (outside the
    locks) after values were evicted or a compute failed, e.g. to hand memory back."""

    def __init__(self, limit: Optional[int] = None, on_drop: Optional[Callable[[], None]] = None):
        self.limit = limit
        self.on_drop = on_drop
        self._values: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict = {}

    def _hit(self, key):
        if key in self._values:
            self._values.move_to_end(key)
            return True
        return False

    def get(self, key: Hashable, compute: Callable[[], object]):
        with self._lock:
            if self._hit(key):
                return self._values[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if self._hit(key):
                    return self._values[key]
            try:
                value = compute()
            except BaseException:
                if self.on_drop is not None:
                    self.on_drop()
                raise
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)
            with self._lock:
                self._values[key] = value
                evicted = 0
                while self.limit is not None and len(self._values) > max(1, self.limit):
                    self._values.popitem(last=False)  # the least recently used
                    evicted += 1
            if evicted and self.on_drop is not None:
                self.on_drop()
            return value

    def __contains__(self, key) -> bool:
        return key in self._values

    def keys(self) -> list:
        with self._lock:
            return list(self._values)

    def items(self) -> list:
        with self._lock:
            return list(self._values.items())

    def put(self, key: Hashable, value) -> None:
        """Keep a value computed elsewhere (another process), unless the key has one already;
        the limit holds as for get()."""
        with self._lock:
            if key in self._values:
                return
            self._values[key] = value
            evicted = 0
            while self.limit is not None and len(self._values) > max(1, self.limit):
                self._values.popitem(last=False)
                evicted += 1
        if evicted and self.on_drop is not None:
            self.on_drop()

    def peek(self, key: Hashable, default=None):
        """The value kept for key (now the most recently used), or default; computes nothing."""
        with self._lock:
            return self._values[key] if self._hit(key) else default

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
        if self.on_drop is not None:
            self.on_drop()
