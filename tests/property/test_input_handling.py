"""Arbitrary text either round-trips exactly through a backend or changes nothing.

Alerts are built from any text hypothesis can make (Unicode, control
characters, lone surrogates, ``{}``, ``:``, ``*``, empty and very long
strings) and from label names that may be invalid or reserved. Each attempt
either fails with ``InvalidAlertError`` naming a field and leaving the
storage as it was, or stores an alert whose fields read back identical.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alert_storage import (
    Alert,
    AlertStorage,
    InvalidAlertError,
    Severity,
    StoragePolicy,
    StoreStatus,
)
from alert_storage.testing import ManualClock

from .backends import SINGLE_KINDS
from .model import fnv1a_fingerprint, identity_of

POLICY = StoragePolicy(
    dedup_window=10.0,
    rate_limit=1,
    rate_window=10.0,
    retention=10.0,
    max_message_bytes=2048,
    max_labels=4,
    max_name_bytes=256,
)
#: A clock step after which every earlier alert has expired, left its rate
#: window and passed its retention: each example starts from an empty state.
RESET = POLICY.dedup_window + POLICY.retention + POLICY.rate_window + 1.0

FIELDS = {
    "alert",
    "name",
    "severity",
    "source",
    "message",
    "labels",
    "annotations",
    "timestamp",
}

#: Valid but awkward text: separators of Redis keys and paths, control and
#: invisible characters, and strings exactly at or one byte over a limit.
AWKWARD = (
    " ",
    ":",
    "{}",
    "{",
    "}",
    "*",
    "\n",
    "\r\n",
    "\x00",
    "\x7f",
    "\u2028",
    "\ufeff",
    "\U0001f525",
    "as:{ns}:alert:1",
    "../../etc/passwd",
    "a\x00b:{c}*\n",
    "é" * 128,
    "é" * 128 + "a",
    "x" * 2048,
    "x" * 2049,
)

#: Values no field accepts, or only some fields do.
BAD_TEXT = ("", "\ud800", "a\udfffb")
BAD_LABEL_NAMES = ("alertname", "source", "severity", "__name__", "1x", "a-b", "")


def texts() -> st.SearchStrategy[str]:
    """Return non-empty text of any code points, or awkward text."""
    return st.one_of(st.text(min_size=1), st.sampled_from(AWKWARD))


def long_texts() -> st.SearchStrategy[str]:
    """Return text from about a hundred characters to a few thousand bytes."""
    return st.builds(
        operator.mul, st.text(min_size=1, max_size=4), st.integers(60, 1500)
    )


def label_dicts(max_size: int = POLICY.max_labels) -> st.SearchStrategy[dict[str, str]]:
    """Return label or annotation mappings with valid names (values: any text)."""
    names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
    values = st.one_of(texts(), st.just(""))
    valid_names = names.filter(lambda n: not n.startswith("__"))
    return st.dictionaries(valid_names, values, max_size=max_size)


def valid_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Return keyword arguments ``Alert`` and the test policy accept."""
    severities = st.one_of(
        st.sampled_from(list(Severity)),
        st.sampled_from(("CRITICAL", " info ", "Warning", "error\n")),
    )
    timestamps = st.one_of(
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(2**53), 2**53),
        st.sampled_from((0.0, -0.0, 5e-324, 1e308, 1_700_000_000.123456789)),
    )
    return st.fixed_dictionaries(
        {
            "name": texts(),
            "severity": severities,
            "source": texts(),
            "message": texts(),
            "labels": label_dicts(),
            "annotations": label_dicts(),
            "timestamp": timestamps,
        }
    )


def stretches() -> st.SearchStrategy[tuple[str, Any]]:
    """Return a field and a value near or past a policy limit, or very long."""
    return st.one_of(
        st.tuples(st.sampled_from(("name", "source", "message")), long_texts()),
        st.tuples(
            st.sampled_from(("labels", "annotations")),
            st.one_of(
                label_dicts(POLICY.max_labels + 2),
                st.builds(lambda v: {"big": v}, long_texts()),
            ),
        ),
    )


def breakages() -> st.SearchStrategy[tuple[str, Any]]:
    """Return a field and a value that ``Alert`` must refuse for it."""
    bad_pairs = st.one_of(
        st.builds(lambda n: {n: "v"}, st.sampled_from(BAD_LABEL_NAMES)),
        st.builds(lambda v: {"ok": v}, st.sampled_from(BAD_TEXT[1:])),
        st.just({"ok": 1}),
    )
    return st.one_of(
        st.tuples(
            st.sampled_from(("name", "source", "message")), st.sampled_from(BAD_TEXT)
        ),
        st.tuples(st.just("severity"), st.sampled_from(("fatal", "", "warn", None))),
        st.tuples(st.sampled_from(("labels", "annotations")), bad_pairs),
        st.tuples(
            st.just("timestamp"),
            st.sampled_from((math.nan, math.inf, -math.inf, "1700000000", True)),
        ),
    )


def _sometimes(
    changes: st.SearchStrategy[tuple[str, Any]],
) -> st.SearchStrategy[tuple[str, Any] | None]:
    """Return a change one time in three, else None."""
    return st.tuples(st.integers(0, 2), changes).map(
        lambda pick: pick[1] if pick[0] == 2 else None
    )


def alert_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Return ``Alert`` arguments: valid, stretched, broken, or both."""
    return st.builds(
        _apply, valid_fields(), _sometimes(stretches()), _sometimes(breakages())
    )


def _apply(fields: dict[str, Any], *changes: tuple[str, Any] | None) -> dict[str, Any]:
    changed = dict(fields)
    for change in changes:
        if change is not None:
            changed[change[0]] = change[1]
    return changed


@pytest.fixture(
    params=[
        *(pytest.param(k, marks=getattr(pytest.mark, k)) for k in SINGLE_KINDS),
        pytest.param("cascade", marks=[pytest.mark.cascade, pytest.mark.redis]),
    ]
)
def storage_and_clock(
    request: pytest.FixtureRequest, make_storage: Callable[..., AlertStorage]
) -> tuple[AlertStorage, ManualClock]:
    """One storage per test, shared by its examples (each first moves the clock)."""
    clock = ManualClock()
    return make_storage(request.param, policy=POLICY, clock=clock), clock


def _over_policy(alert: Alert) -> set[str]:
    """Return the fields of ``alert`` that break ``POLICY``'s size limits.

    Names, sources, label names and values are bounded by ``max_name_bytes``;
    messages and annotation values by ``max_message_bytes`` (UTF-8 bytes);
    labels and annotations by ``max_labels`` entries each.
    """

    def size(text: str) -> int:
        return len(text.encode("utf-8"))

    name_max, text_max = POLICY.max_name_bytes, POLICY.max_message_bytes
    over = {f for f in ("name", "source") if size(getattr(alert, f)) > name_max}
    if size(alert.message) > text_max:
        over.add("message")
    for field, value_max in (("labels", name_max), ("annotations", text_max)):
        pairs = getattr(alert, field)
        too_big = any(
            size(k) > name_max or size(v) > value_max for k, v in pairs.items()
        )
        if too_big or len(pairs) > POLICY.max_labels:
            over.add(field)
    return over


def _snapshot(storage: AlertStorage, ids: list[str]) -> list[Any]:
    return [
        storage.count_active(),
        [a.to_dict() for a in storage.get_active(limit=10_000)],
        [a.to_dict() if (a := storage.get(i)) else None for i in ids],
    ]


def _readable(alert: Alert, now: float) -> dict[str, Any]:
    fields = ("name", "severity", "source", "message", "labels", "annotations")
    out = {k: v for k, v in alert.to_dict().items() if k in fields}
    out["timestamp"] = now if alert.timestamp is None else alert.timestamp
    return out


def _check_source_still_admits(storage: AlertStorage, source: str) -> None:
    """A rejected store must not use up its source's rate limit (limit 1)."""
    try:
        probe = Alert("probe", Severity.INFO, source, "probe")
        result = storage.store(probe)
    except InvalidAlertError:
        return
    assert result.status is StoreStatus.STORED, result


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=alert_fields(), batched=st.booleans())
def test_any_text_round_trips_or_is_rejected_cleanly(
    storage_and_clock: tuple[AlertStorage, ManualClock],
    fields: dict[str, Any],
    batched: bool,
) -> None:
    """Each alert is stored and read back identical, or rejected with no effect.

    A companion alert stored before the attempt must stay as it was, and a
    batch holding a rejected alert stores nothing at all.
    """
    storage, clock = storage_and_clock
    clock.advance(RESET)
    companion = storage.store(Alert("companion", Severity.INFO, "companion", "here"))
    ids = [str(companion.alert_id)]
    try:
        alert = Alert(**fields)
    except InvalidAlertError as exc:
        assert exc.field in FIELDS
        event(f"rejected by Alert(): {exc.field}")
        return

    over = _over_policy(alert)
    before = _snapshot(storage, ids)
    extra = Alert("batch_mate", Severity.INFO, "companion", "here")
    try:
        if batched:
            result = storage.store_many([extra, alert])[1]
        else:
            result = storage.store(alert)
    except InvalidAlertError as exc:
        assert exc.field in over, f"refused {exc.field}, over the limits: {over}"
        event(f"rejected by store: {exc.field}")
        assert _snapshot(storage, ids) == before
        _check_source_still_admits(storage, alert.source)
        return

    event("stored")
    assert not over, f"stored an alert over the limits in {over}"
    assert result.status is StoreStatus.STORED, result
    assert result.fingerprint == fnv1a_fingerprint(identity_of(alert))
    stored = storage.get(str(result.alert_id))
    assert stored is not None
    assert _readable(stored, clock()) == _readable(alert, clock())
    assert stored.fingerprint == result.fingerprint
