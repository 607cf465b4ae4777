"""The configuration: memgov's keys (and the application's), from defaults, a file, the environment and the API,
with per-mode overlays, validation, history, dumps and recommendations. docs/config.md lists the keys."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import _lib
from ._lib import LIB
from ._part import Part
from .budget import report_callback_error
from .errors import ConfigTypeError, InvalidArgumentError, check, error_for
from .sizes import SizeLike, parse_size

Value = Union[bool, int, float, str]


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """What loading or validating a configuration found: messages of each severity ("FILE:LINE: key 'K' value
    'V' ...: allowed MIN..MAX"). ``ok`` is True when there is no error."""
    errors: Tuple[str, ...]
    warnings: Tuple[str, ...]
    corrections: Tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No error."""
        return not self.errors


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """One entry of the history: key ("mode" for a mode change), old and new value as text, source
    ("default", "FILE:LINE", "env MEMGOV_X", "api"), reason, time (CLOCK_REALTIME, ns)."""
    key: str
    old_value: str
    new_value: str
    source: str
    reason: str
    time_ns: int


class _Result:
    """A memgov_config_result owned for one call."""

    def __enter__(self) -> int:
        h = ctypes.c_void_p()
        check(LIB.memgov_config_result_create(ctypes.byref(h)))
        self.h = h.value
        return self.h  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        LIB.memgov_config_result_destroy(self.h)

    def read(self) -> ValidationResult:
        return read_result(self.h)


def read_result(h: Optional[int]) -> ValidationResult:
    """The messages of a memgov_config_result (NULL: none), grouped by severity."""
    groups: List[List[str]] = [[], [], []]
    sev = ctypes.c_int()
    for i in range(LIB.memgov_config_result_size(h) if h else 0):
        msg = LIB.memgov_config_result_message(h, i, ctypes.byref(sev))
        groups[sev.value if 0 <= sev.value < 3 else 0].append(_lib.text(msg))
    return ValidationResult(tuple(groups[0]), tuple(groups[1]), tuple(groups[2]))


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Config(Part):
    """A memgov configuration. ``gov.config`` is the governor's (do not close it); ``Config()`` makes a standalone
    one with memgov's keys at their defaults (close() it, or use it as a context manager).

    ``config[key]`` reads the current mode's value as a Python value: sizes as int bytes (percentages resolved),
    durations as float seconds, bools, ints, floats, strings and enum choices as str. ``config[key] = v`` and
    set() set it (source "api", strict bounds). Thread-safe."""

    _what = "configuration"

    def __init__(self, handle: Optional[int] = None, gstate: Any = None) -> None:
        owned = handle is None
        if handle is None:
            h = ctypes.c_void_p()
            check(LIB.memgov_config_create(ctypes.byref(h)))
            handle = h.value or 0
        super().__init__(handle, gstate, owned, LIB.memgov_config_destroy)
        self._listeners: Dict[int, Any] = {}

    # -- reading ----------------------------------------------------------------------------------------------
    def get_text(self, key: str) -> str:
        """The key's current value as text; NotFoundError (with a "did you mean") for an unknown key."""
        return self._text(key)[0]

    def source(self, key: str) -> str:
        """Where the key's value came from: "default", "file", "env" or "api"."""
        return _lib.CONFIG_SOURCES[self._text(key)[1]]

    def _text(self, key: str) -> Tuple[str, int]:
        h = self._check()
        k = key.encode()
        need = ctypes.c_size_t()
        src = ctypes.c_int()
        buf = ctypes.create_string_buffer(256)
        st = LIB.memgov_config_get_text(h, k, buf, len(buf), ctypes.byref(need), ctypes.byref(src))
        if st == 7 and need.value >= len(buf):  # MEMGOV_ERANGE: cut; ask again with room
            buf = ctypes.create_string_buffer(need.value + 1)
            st = LIB.memgov_config_get_text(h, k, buf, len(buf), ctypes.byref(need), ctypes.byref(src))
        check(st)
        return _lib.text(buf.value), src.value

    def get(self, key: str, default: Any = None) -> Any:
        """config[key], or `default` for an unknown key."""
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> Value:
        h = self._check()
        k = key.encode()
        getters: List[Tuple[Any, Any, Callable[[Any], Value]]] = [
            (LIB.memgov_config_get_size, ctypes.c_uint64, int),
            (LIB.memgov_config_get_duration, ctypes.c_uint64, lambda ns: ns / 1e9),
            (LIB.memgov_config_get_unsigned, ctypes.c_uint64, int),
            (LIB.memgov_config_get_int, ctypes.c_int64, int),
            (LIB.memgov_config_get_double, ctypes.c_double, float),
            (LIB.memgov_config_get_bool, ctypes.c_int, bool),
        ]
        for fn, ctype, conv in getters:
            out = ctype()
            st = fn(h, k, ctypes.byref(out))
            if st == 0:
                return conv(out.value)
            if st != 8:  # anything but MEMGOV_ETYPE (another type): unknown key or error
                err = error_for(st)
                if st == 5:
                    raise KeyError(err.message) from err
                raise err
        return self._text(key)[0]  # string or enum

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self._text(key)
            return True
        except LookupError:
            return False

    def keys(self) -> List[str]:
        """Every key (from the JSON dump)."""
        return [k["key"] for k in self.as_dict()["keys"]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    # -- changing ---------------------------------------------------------------------------------------------
    def set(self, key: str, value: Any, mode: Optional[Any] = None) -> None:
        """Sets a key (source "api"; out-of-bounds values are refused, not clamped). value: text in the key's
        syntax or a Python bool/int/float. mode: set the overlay of that mode ("light", "minimal", a Mode)
        instead of the base value. Errors: NotFoundError (unknown key), ParseError, ConfigTypeError, RangeError
        (the message gives the allowed range)."""
        h = self._check()
        if mode is None:
            check(LIB.memgov_config_set(h, key.encode(), _to_text(value).encode()))
        else:
            from .fallback import Mode
            check(LIB.memgov_config_set_for_mode(h, int(Mode.of(mode)), key.encode(), _to_text(value).encode()))

    def load(self, path: Union[str, "os.PathLike[str]"], strict: bool = False) -> ValidationResult:
        """Loads a configuration file (docs/config.md's syntax) as source "file". Non-strict: valid values are
        applied, out-of-bounds ones clamped (corrections), wrong ones skipped (errors in the result). strict: any
        error applies nothing and raises. Raises NotFoundError / MemgovIOError when the file cannot be read."""
        h = self._check()
        r = _Result()
        with r as res:
            st = LIB.memgov_config_load_file(h, os.fsencode(path), _lib.CONFIG_STRICT if strict else 0, res)
            out = r.read()
        if st != 0 and (strict or st in (5, 10, 2, 1)):
            raise error_for(st)
        return out

    def load_string(self, text: str, origin: str = "<string>", strict: bool = False) -> ValidationResult:
        """Like load() for configuration text; origin names it in messages."""
        h = self._check()
        data = text.encode()
        r = _Result()
        with r as res:
            st = LIB.memgov_config_load_string(h, data, len(data), origin.encode(),
                                               _lib.CONFIG_STRICT if strict else 0, res)
            out = r.read()
        if st != 0 and strict:
            raise error_for(st)
        return out

    def load_env(self, strict: bool = False) -> ValidationResult:
        """Applies the MEMGOV_<KEY> environment variables (after registering application keys)."""
        h = self._check()
        r = _Result()
        with r as res:
            st = LIB.memgov_config_load_env(h, _lib.CONFIG_STRICT if strict else 0, res)
            out = r.read()
        if st != 0 and strict:
            raise error_for(st)
        return out

    def validate(self, path: Union[str, "os.PathLike[str]"], strict: bool = False) -> ValidationResult:
        """Checks a configuration file without applying it (loads it into a scratch configuration): the errors,
        warnings (unknown keys with a "did you mean") and corrections (clamped values) it would give. Raises
        only when the file cannot be read."""
        with Config() as scratch:
            r = _Result()
            with r as res:
                st = LIB.memgov_config_load_file(scratch._h, os.fsencode(path),
                                                 _lib.CONFIG_STRICT if strict else 0, res)
                out = r.read()
        if st in (5, 10):
            raise error_for(st)
        return out

    def register(self, name: str, type: str, default: Any, min: Any = None, max: Any = None,
                 choices: Optional[List[str]] = None, doc: str = "") -> None:
        """Registers an application key: type one of "bool", "int", "unsigned", "double", "size", "duration",
        "string", "enum" (with choices); bounds in the type's syntax. Errors: ExistsError, ParseError,
        RangeError, InvalidArgumentError."""
        h = self._check()
        if type not in _lib.CONFIG_TYPES:
            raise InvalidArgumentError(f"config key '{name}': unknown type '{type}' "
                                       f"(one of {', '.join(_lib.CONFIG_TYPES)})")
        key = _lib.ConfigKey.new()
        LIB.memgov_config_key_init(ctypes.byref(key))
        enc = lambda v: None if v is None else _to_text(v).encode()  # noqa: E731
        key.name, key.type, key.default_value = name.encode(), _lib.CONFIG_TYPES[type], enc(default)
        key.min, key.max, key.doc = enc(min), enc(max), doc.encode()
        key.choices = "|".join(choices).encode() if choices else None
        check(LIB.memgov_config_register(h, ctypes.byref(key)))

    @property
    def mode(self) -> Any:
        """The mode whose overlays are read (the governor's fallback machine switches it)."""
        from .fallback import Mode
        return Mode(LIB.memgov_config_mode(self._check()))

    # -- listeners --------------------------------------------------------------------------------------------
    def on_change(self, fn: Callable[[Optional[str]], None]) -> Callable[[], None]:
        """Calls fn(key) after every change (key None after a load; "mode" after a mode change), on the thread
        that made it. Exceptions go to the callback error hook. Returns a function that removes the listener."""
        h = self._check()

        def call(cfg: Any, key: Optional[bytes], user: Any) -> None:
            try:
                fn(None if key is None else key.decode())
            except BaseException as e:  # noqa: BLE001
                report_callback_error("configuration listener", e)

        cfunc = _lib.CONFIG_LISTENER_FN(call)
        reg = _lib.config_add_listener(h, cfunc)
        self._listeners[id(cfunc)] = cfunc
        self._keep_ref(cfunc)

        def remove() -> None:
            if self._listeners.pop(id(cfunc), None) is not None and not self._closed and \
                    not (self._g is not None and self._g.closed):
                check(_lib.config_remove_listener(h, reg))
        return remove

    # -- dumps, history, recommendations ----------------------------------------------------------------------
    def dump(self, format: str = "text", docs: bool = False) -> str:
        """The effective configuration (every key, value, source, overlays and the mode) as "text" or "json";
        docs adds each key's type, default, bounds and doc line."""
        if format not in ("text", "json"):
            raise InvalidArgumentError(f"dump: format '{format}' is not 'text' or 'json'")
        h = self._check()
        flags = (_lib.CONFIG_DUMP_JSON if format == "json" else 0) | (_lib.CONFIG_DUMP_DOCS if docs else 0)
        need = ctypes.c_size_t()
        st = LIB.memgov_config_dump(h, flags, None, 0, ctypes.byref(need))
        if st not in (0, 7):
            check(st)
        buf = ctypes.create_string_buffer(need.value + 1)
        check(LIB.memgov_config_dump(h, flags, buf, len(buf), ctypes.byref(need)))
        return _lib.text(buf.value)

    def as_dict(self) -> Dict[str, Any]:
        """The JSON dump, parsed."""
        return dict(json.loads(self.dump("json")))

    def history(self) -> List[ConfigChange]:
        """The recorded changes, oldest first (at most 1024)."""
        h = self._check()
        out = []
        for i in range(LIB.memgov_config_history_count(h)):
            c = _lib.ConfigChange.new()
            if LIB.memgov_config_history_get(h, i, ctypes.byref(c)) != 0:
                break
            out.append(ConfigChange(_lib.text(c.key), _lib.text(c.old_value), _lib.text(c.new_value),
                                    _lib.text(c.source), _lib.text(c.reason), int(c.time_ns)))
        return out

    def recommend(self, data_bytes: SizeLike = 0, row_bytes: SizeLike = 0) -> Dict[str, Any]:
        """Recommended settings for the data on this machine (memgov_config_recommend): memory_fraction,
        memory_limit (bytes), threads, batch_size, chunk_rows, and "reasons": a dict of one-line explanations
        with the same keys (but memory_limit)."""
        h = self._check()
        r = _lib.Recommendation.new()
        check(LIB.memgov_config_recommend(h, None, parse_size(data_bytes, "data_bytes"),
                                          parse_size(row_bytes, "row_bytes"), ctypes.byref(r)))
        return {"memory_fraction": float(r.memory_fraction), "memory_limit": int(r.memory_limit),
                "threads": int(r.threads), "batch_size": int(r.batch_size), "chunk_rows": int(r.chunk_rows),
                "reasons": {"memory_fraction": _lib.text(r.memory_fraction_why),
                            "threads": _lib.text(r.threads_why), "batch_size": _lib.text(r.batch_size_why),
                            "chunk_rows": _lib.text(r.chunk_rows_why)}}

    def __repr__(self) -> str:
        return "<memgov.Config (closed)>" if self._closed else f"<memgov.Config mode={self.mode.name}>"


_ = ConfigTypeError  # re-exported through memgov.errors
