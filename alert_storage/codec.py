"""Compact JSON encoding, with orjson when it is installed (the ``fast`` extra)."""

from __future__ import annotations

import importlib
import json
from typing import Any

_orjson: Any
try:
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text."""
    if _orjson is not None:
        return str(_orjson.dumps(value).decode())
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_line(value: Any) -> bytes:
    """Encode ``value`` as one line of compact UTF-8 JSON, newline included."""
    if _orjson is not None:
        data: bytes = _orjson.dumps(value)
        return data + b"\n"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def loads(data: str | bytes) -> Any:
    """Decode JSON text or bytes."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)
