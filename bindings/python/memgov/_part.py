"""The common life cycle of a configuration or monitor object: a governor's (borrowed: closes with the governor)
or a standalone one (owned: close() frees it; also a context manager and on garbage collection)."""
from __future__ import annotations

from typing import Any, Callable, List

from .errors import StateError


class Part:
    """Base of Config and Monitor. ``_free`` is the C destroy function of an owned handle."""

    _what = "object"

    def __init__(self, handle: int, gstate: Any, owned: bool, free: Callable[[int], None]) -> None:
        self._h = handle
        self._g = gstate
        self._owned = owned
        self._free = free
        self._closed = False
        self._keep: List[Any] = []  # C callback objects referenced while registered

    def _check(self) -> int:
        if self._closed or (self._g is not None and self._g.closed):
            raise StateError(f"the {self._what} is closed" + (" (its governor was closed)" if self._g else ""))
        return self._h

    def _keep_ref(self, obj: Any) -> None:
        self._keep.append(obj)
        if self._g is not None:
            self._g.keep.append(obj)  # the governor's part may call it as long as the governor lives

    def close(self) -> None:
        """Frees a standalone object; a no-op for a governor's own (it goes with the governor). Idempotent."""
        if self._owned and not self._closed:
            self._closed = True
            self._free(self._h)
            self._keep.clear()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter teardown
            pass
