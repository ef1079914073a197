"""The alert model's helpers that backends rely on."""

from __future__ import annotations

import dataclasses

import pytest

from alert_storage import Alert, StoreResult, StoreStatus
from alert_storage.model import store_result, text_profile


def test_store_result_builds_the_same_frozen_object() -> None:
    """store_result sets every field StoreResult declares, and stays frozen."""
    values = {
        "status": StoreStatus.RATE_LIMITED,
        "alert_id": None,
        "fingerprint": "0123456789abcdef",
        "count": 0,
        "retry_after": 1.5,
        "backend": "memory",
    }
    assert [f.name for f in dataclasses.fields(StoreResult)] == list(values)
    fast = store_result(**values)
    assert fast == StoreResult(**values)
    assert hash(fast) == hash(StoreResult(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.count = 3  # type: ignore[misc]


def test_text_profile_bounds_names_and_texts_separately() -> None:
    """Annotation names count with names, annotation values with messages."""
    alert = Alert(
        "N",
        "info",
        "src",
        "m" * 7,
        labels={"k" * 5: "v"},
        annotations={"a" * 9: "t" * 11, "b": "c"},
    )
    assert text_profile(alert) == (9, 11, 2)
