"""A bounded, thread-safe LRU of vectors by text: the query and sentence caches share it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

Compute = Callable[[list[str]], Sequence[np.ndarray]]


class VectorLRU:
    """Vectors keyed by their text, the least recently used dropped beyond ``size``.

    The lock only guards the dictionary: computing missing vectors (a model call) runs
    outside it, so two threads may embed the same new text once each, never wrongly.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str], compute: Compute) -> list[np.ndarray]:
        """The vectors of ``keys``, computing only the missing ones (once each).

        Args:
            keys: Texts, duplicates allowed.
            compute: Embeds a list of distinct texts, one vector per text, in order.

        Returns:
            One vector per key, in the order of ``keys``.
        """
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                if key in self._data:
                    self._data.move_to_end(key)
                    found[key] = self._data[key]
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            vectors = compute(missing)
            found.update(zip(missing, vectors, strict=True))
            with self._lock:
                for key in missing:
                    self._data[key] = found[key]
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
        return [found[k] for k in keys]

    def clear(self) -> None:
        """Forget every vector (a benchmark times a question as if it were new)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
