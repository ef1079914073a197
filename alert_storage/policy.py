"""The storage policy: windows, limits and input bounds shared by every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass

from alert_storage.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """How long alerts deduplicate, how fast a source may create them, and more.

    Attributes:
        dedup_window: Seconds a firing alert absorbs duplicates after it was
            last seen; past that it is resolved by timeout.
        rate_limit: New alerts a source may create per ``rate_window``.
        rate_window: Length in seconds of the sliding rate-limit window.
        retention: Seconds a resolved alert stays readable with ``get``.
        max_message_bytes: Largest message, and annotation value, in UTF-8 bytes.
        max_labels: Most labels (and most annotations) one alert may carry.
        max_name_bytes: Largest name, source, label name or label value.

    Raises:
        ConfigurationError: a value is not a positive finite number (``retention``
            may be zero) or a count is not an integer.
    """

    dedup_window: float = 300.0
    rate_limit: int = 100
    rate_window: float = 60.0
    retention: float = 86400.0
    max_message_bytes: int = 16384
    max_labels: int = 64
    max_name_bytes: int = 1024

    def __post_init__(self) -> None:
        for name in ("dedup_window", "rate_window"):
            _positive(name, getattr(self, name))
        _positive("retention", self.retention, allow_zero=True)
        for name in ("rate_limit", "max_message_bytes", "max_labels", "max_name_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer")


def _positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and math.isfinite(float(value)):  # type: ignore[arg-type]
        number = float(value)  # type: ignore[arg-type]
        if number > 0 or (allow_zero and number == 0):
            return
    raise ConfigurationError(f"{name} must be a positive finite number of seconds")
