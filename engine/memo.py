"""A bounded, thread-safe memo: the engine's caches of pure computations (one engine serves every
thread of `tuneplan serve`). The oldest entry goes first when it is full."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """At most ``size`` values by key; ``get`` and ``put`` may be called from any thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[Hashable, V] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value kept for ``key``, if any."""
        return self._values.get(key)

    def put(self, key: Hashable, value: V) -> V:
        """Keep ``value`` for ``key`` (dropping the oldest beyond the size) and return it."""
        with self._lock:
            while len(self._values) >= self.size:
                self._values.pop(next(iter(self._values)))
            self._values[key] = value
        return value

    def clear(self) -> None:
        """Forget every value (benchmarks measure the first computation this way)."""
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
