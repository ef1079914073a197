"""Prometheus-compatible label-set fingerprints (FNV-1a 64)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = 0xFF


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Return the fingerprint Prometheus and Alertmanager give ``labels``.

    Labels whose value is empty are dropped first (Prometheus treats them as
    absent). The remaining names are sorted byte-wise, and each name and value
    is fed to FNV-1a 64 followed by the separator byte ``0xFF``.

    Args:
        labels: Label names to values.

    Returns:
        The 64-bit fingerprint as 16 lowercase hex digits, exactly the
        ``fingerprint`` Alertmanager sends in its webhook payloads.
    """
    pairs = tuple(
        sorted(
            ((k.encode(), v.encode()) for k, v in labels.items() if v != ""),
            key=lambda kv: kv[0],
        )
    )
    return _fingerprint_of(pairs)


@lru_cache(maxsize=8192)
def _fingerprint_of(pairs: tuple[tuple[bytes, bytes], ...]) -> str:
    h = _FNV_OFFSET
    for name, value in pairs:
        for byte in name:
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
        for byte in value:
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"
