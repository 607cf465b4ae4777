"""The fallback machine: NORMAL -> LIGHT -> MINIMAL and back, driven by pressure and refusals; pinning;
subscriptions; and running a function that retries in a lighter mode when it runs out of memory."""
from __future__ import annotations

import ctypes
import dataclasses
import enum
from typing import Any, Callable, List, Optional, Tuple

from . import _lib
from ._lib import LIB
from .budget import report_callback_error
from .errors import InvalidArgumentError, RangeError, StateError, check, error_for


class Mode(enum.IntEnum):
    """How hard the job must economise (memgov_mode). The configuration's [mode.light] / [mode.minimal]
    overlays apply in LIGHT and MINIMAL."""
    NORMAL = 0
    LIGHT = 1
    MINIMAL = 2

    @classmethod
    def of(cls, value: Any) -> "Mode":
        """A Mode from a Mode, an int or a name ("light", case-insensitive)."""
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise InvalidArgumentError(f"unknown mode '{value}' (normal, light, minimal)") from None
        try:
            return cls(int(value))
        except ValueError:
            raise InvalidArgumentError(f"unknown mode {value!r} (0 normal, 1 light, 2 minimal)") from None

    def __str__(self) -> str:
        return self.name.lower()


REASONS = {1: "pressure", 2: "recovery", 3: "refusal", 4: "pin", 5: "job"}


@dataclasses.dataclass(frozen=True)
class Transition:
    """One mode change: sequence number, the machine's clock (ns), from and to, the reason ("pressure",
    "recovery", "refusal", "pin", "job") and the last observed pressure (-1 if none)."""
    seq: int
    time_ns: int
    from_mode: Mode
    to_mode: Mode
    reason: str
    pressure: float


@dataclasses.dataclass(frozen=True)
class FallbackStats:
    """The machine's counters: mode, pinned, last and peak pressure (-1 if none), observations, transitions,
    history_kept, refusals, emergencies, and seconds spent in each mode."""
    mode: Mode
    pinned: bool
    pressure: float
    peak_pressure: float
    observations: int
    transitions: int
    history_kept: int
    refusals: int
    emergencies: int
    time_in_mode: Tuple[float, float, float]


def _transition(t: Any) -> Transition:
    return Transition(int(t.seq), int(t.time_ns), Mode(t.from_), Mode(t.to), REASONS.get(t.reason, str(t.reason)),
                      float(t.pressure))


class Fallback:
    """A governor's fallback machine (``gov.fallback``). Thread-safe. Callbacks run outside the machine's lock
    on the thread whose call caused the event (with a started monitor: the sampler thread)."""

    def __init__(self, handle: int, gstate: Any) -> None:
        self._h = handle
        self._g = gstate

    def _check(self) -> int:
        if self._g.closed:
            raise StateError("the fallback machine's governor is closed")
        return self._h

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return Mode(LIB.memgov_fallback_mode(self._check()))

    def pin(self, mode: Any) -> None:
        """Pins the machine in `mode` until unpin(): pressure and refusals move nothing meanwhile."""
        check(LIB.memgov_fallback_pin(self._check(), int(Mode.of(mode))))

    def unpin(self) -> None:
        """Lets the rules move the machine again; StateError when not pinned."""
        check(LIB.memgov_fallback_unpin(self._check()))

    def update(self, pressure: float) -> None:
        """Feeds a pressure ratio (1.0 = full) computed by the caller."""
        check(LIB.memgov_fallback_update_ratio(self._check(), float(pressure)))

    def evaluate(self) -> None:
        """Polls the governor's pressure source (root use / limit, memory in use) once and applies the rules."""
        check(LIB.memgov_fallback_evaluate(self._check()))

    def notify_refusal(self) -> None:
        """Reports a hard refusal: one mode down at once (unless MINIMAL or pinned). The governor does this
        itself for every refusal of its budgets."""
        check(LIB.memgov_fallback_notify_refusal(self._check()))

    def history(self) -> List[Transition]:
        """The kept transitions, oldest first."""
        h = self._check()
        out = []
        i = 0
        while True:
            t = _lib.FallbackTransition.new()
            if LIB.memgov_fallback_history(h, i, ctypes.byref(t)) != 0:
                return out
            out.append(_transition(t))
            i += 1

    def stats(self) -> FallbackStats:
        """The counters and state."""
        s = _lib.FallbackStats.new()
        check(LIB.memgov_fallback_get_stats(self._check(), ctypes.byref(s)))
        return FallbackStats(Mode(s.mode), bool(s.pinned), s.pressure, s.peak_pressure, s.observations,
                             s.transitions, s.history_kept, s.refusals, s.emergencies,
                             tuple(t / 1e9 for t in s.time_in_mode_ns))  # type: ignore[arg-type]

    def _subscribe(self, add: Callable[..., Tuple[Any, Any]], remove: Callable[[int, Any], int],
                   call: Callable[..., None]) -> Callable[[], None]:
        with self._g.lock:
            h = self._check()
            token, cfunc = add(h, call)
            self._g.keep.append(cfunc)  # referenced while the governor lives (delivery may be in flight)
        done = [False]

        def unsubscribe() -> None:
            with self._g.lock:
                if done[0] or self._g.closed:
                    return
                done[0] = True
                check(remove(h, token))
                self._g.keep.remove(cfunc)  # removed: C no longer calls it
        return unsubscribe

    def on_transition(self, fn: Callable[[Transition], None]) -> Callable[[], None]:
        """Calls fn(Transition) after every mode change. Exceptions go to the callback error hook. Returns a
        function that unsubscribes (when it returns, fn is not running and will not be called again)."""
        def call(t: Any) -> None:
            try:
                fn(_transition(t))
            except BaseException as e:  # noqa: BLE001
                report_callback_error("fallback transition listener", e)
        return self._subscribe(_lib.fallback_add_listener, _lib.fallback_remove_listener, call)

    def on_emergency(self, fn: Callable[[float], None]) -> Callable[[], None]:
        """Calls fn(pressure) once per emergency episode (pressure at or above the critical threshold): save a
        checkpoint, drop caches. Returns a function that unsubscribes."""
        def call(pressure: float) -> None:
            try:
                fn(float(pressure))
            except BaseException as e:  # noqa: BLE001
                report_callback_error("fallback emergency listener", e)
        return self._subscribe(_lib.fallback_add_emergency, _lib.fallback_remove_emergency, call)

    def __repr__(self) -> str:
        return "<memgov.Fallback (closed)>" if self._g.closed else f"<memgov.Fallback mode={self.mode}>"


def run_with_fallback(fb: Fallback, fn: Callable[[Mode], Any], retries: int, backoff: float, backoff_max: float,
                      runner: Callable[[Any, Any, Any], int]) -> Any:
    """The engine of Governor.run_with_fallback: runs fn through memgov_run_with_fallback (runner), mapping a
    MemoryError to MEMGOV_ENOMEM (retry lighter) and any other exception to a stop."""
    if not 0 <= retries < _lib.FALLBACK_MAX_ATTEMPTS:
        raise RangeError(f"retries={retries}: allowed 0..{_lib.FALLBACK_MAX_ATTEMPTS - 1}")
    if backoff < 0 or backoff_max < 0:
        raise RangeError(f"backoff={backoff}, backoff_max={backoff_max}: must be >= 0")
    state: dict = {"result": None, "error": None, "memory": None}

    def job(mode: int, user: Any) -> int:
        try:
            state["result"] = fn(Mode(mode))
            state["memory"] = None
            return 0
        except MemoryError as e:  # Python's, numpy's (_ArrayMemoryError) or memgov's BudgetExceededError
            state["memory"] = e
            return 2  # MEMGOV_ENOMEM: retry in a lighter mode
        except BaseException as e:  # noqa: BLE001 - re-raised below, after C has returned
            state["error"] = e
            return 14  # MEMGOV_ECANCELED: stop

    cjob = _lib.JOB_FN(job)
    opts = _lib.FallbackRunOptions.new()
    LIB.memgov_fallback_run_options_init(ctypes.byref(opts))
    opts.max_attempts = retries + 1
    opts.backoff_ns = max(1, int(backoff * 1e9))  # 0 would mean the default (100 ms)
    opts.backoff_max_ns = max(1, int(backoff_max * 1e9))
    res = _lib.FallbackRunResult.new()
    fb._check()
    st = runner(cjob, ctypes.byref(opts), ctypes.byref(res))
    if state["error"] is not None:
        raise state["error"]
    if st == 0:
        return state["result"]
    if st == 2 and state["memory"] is not None:
        err = state["memory"]
        note = _lib.last_error()
        if note and hasattr(err, "add_note"):
            err.add_note(f"memgov: {note}")
        raise err
    raise error_for(st)


_ = Optional
