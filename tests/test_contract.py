"""One behaviour suite, run against every backend: the semantics of issue 2."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alert_storage import (
    Alert,
    AlertStatus,
    AlertStorage,
    AlertStorageError,
    InvalidAlertError,
    InvalidQueryError,
    MemoryStorage,
    StoragePolicy,
    StoreStatus,
)
from alert_storage.testing import ManualClock
from conftest import BACKENDS

WINDOW = 10.0
RATE_WINDOW = 60.0
TINY = 1e-3

Make = Callable[..., AlertStorage]


@pytest.fixture(
    params=[
        pytest.param(kind, marks=getattr(pytest.mark, kind), id=kind)
        for kind in BACKENDS
    ]
)
def kind(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def storage(kind: str, make_storage: Make, manual_clock: ManualClock) -> AlertStorage:
    """A storage with a short dedup window, a limit of 3 per minute and a test clock."""
    policy = StoragePolicy(
        dedup_window=WINDOW, rate_limit=3, rate_window=RATE_WINDOW, retention=100.0
    )
    return make_storage(kind, policy=policy, clock=manual_clock)


def alert(name: str = "HighCPU", source: str = "api", **fields: object) -> Alert:
    """An alert with sensible defaults."""
    return Alert(
        name=name,
        severity=fields.pop("severity", "critical"),  # type: ignore[arg-type]
        source=source,
        message=fields.pop("message", "cpu above 90%"),  # type: ignore[arg-type]
        labels=fields.pop("labels", {"instance": "web-1"}),  # type: ignore[arg-type]
        annotations=fields.pop("annotations", {}),  # type: ignore[arg-type]
        timestamp=fields.pop("timestamp", None),  # type: ignore[arg-type]
    )


def state(storage: AlertStorage) -> list[tuple[str | None, int]]:
    """What a reader sees: active alerts as (id, count)."""
    return [(a.id, a.count) for a in storage.get_active(limit=1000)]


# -- store and dedup -----------------------------------------------------------


def test_store_then_get_round_trips_every_field(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """A stored alert reads back with every field it was given, plus stored fields."""
    original = Alert(
        "Disk:Full{*}",
        "Warning",
        "node\n7 ü",
        "disk at 99% — «critical» {}",
        {"mount": "/var:{x}*", "zone": "ü\n"},
        {"runbook": "https://example.invalid/r?a=b"},
        1234.5,
    )
    result = storage.store(original)
    assert result.status is StoreStatus.STORED
    assert result.count == 1
    assert result.backend == storage.backend_name or storage.backend_name == "cascade"
    got = storage.get(result.alert_id or "")
    assert got is not None
    assert (got.name, got.severity, got.source, got.message) == (
        original.name,
        original.severity,
        original.source,
        original.message,
    )
    assert dict(got.labels) == dict(original.labels)
    assert dict(got.annotations) == dict(original.annotations)
    assert got.timestamp == 1234.5
    assert got.fingerprint == original.fingerprint == result.fingerprint
    assert got.first_seen == got.last_seen == manual_clock()
    assert got.status is AlertStatus.FIRING
    assert got.resolved_at is None


def test_timestamp_defaults_to_store_time(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """An alert without a timestamp gets the clock's time when stored."""
    result = storage.store(alert())
    got = storage.get(result.alert_id or "")
    assert got is not None and got.timestamp == manual_clock()


def test_duplicate_increments_count_and_takes_newest_text(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Inside the window a store is a DUPLICATE: count+1, newest message/annotations."""
    first = storage.store(alert(message="one", annotations={"a": "1"}, timestamp=5.0))
    manual_clock.advance(3)
    second = storage.store(alert(message="two", annotations={"b": "2"}, timestamp=9.0))
    assert second.status is StoreStatus.DUPLICATE
    assert second.alert_id == first.alert_id
    assert second.count == 2
    got = storage.get(first.alert_id or "")
    assert got is not None
    assert got.count == 2
    assert got.message == "two"
    assert dict(got.annotations) == {"b": "2"}
    assert got.last_seen == manual_clock()
    assert got.first_seen == manual_clock() - 3
    assert got.timestamp == 5.0


def test_dedup_window_edge_is_exclusive(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Just before last_seen + window: duplicate; exactly at it: a new alert."""
    first = storage.store(alert())
    manual_clock.advance(WINDOW - TINY)
    assert storage.store(alert()).status is StoreStatus.DUPLICATE
    manual_clock.advance(WINDOW - TINY)  # the window restarted at the duplicate
    assert storage.store(alert()).count == 3
    manual_clock.advance(WINDOW)
    fresh = storage.store(alert())
    assert fresh.status is StoreStatus.STORED
    assert fresh.count == 1
    assert fresh.alert_id != first.alert_id


def test_expired_alert_is_resolved_by_timeout(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Not seen for the window: resolved at last_seen + window, not active."""
    result = storage.store(alert())
    stored_at = manual_clock()
    manual_clock.advance(WINDOW - TINY)
    assert storage.count_active() == 1
    manual_clock.advance(TINY)
    assert storage.count_active() == 0
    assert storage.get_active() == []
    got = storage.get(result.alert_id or "")
    assert got is not None
    assert got.status is AlertStatus.RESOLVED
    assert got.resolved_at == stored_at + WINDOW


def test_different_labels_are_different_alerts(storage: AlertStorage) -> None:
    """Alerts whose identity labels differ do not deduplicate."""
    a = storage.store(alert(labels={"instance": "a"}))
    b = storage.store(alert(labels={"instance": "b"}))
    c = storage.store(alert(severity="warning", labels={"instance": "a"}))
    assert {a.status, b.status, c.status} == {StoreStatus.STORED}
    assert len({a.alert_id, b.alert_id, c.alert_id}) == 3


# -- rate limiting -------------------------------------------------------------


def test_rate_limit_rejects_and_reports_retry_after(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """The 4th new alert in the window is RATE_LIMITED and nothing is stored."""
    start = manual_clock()
    for i in range(3):
        assert storage.store(alert(f"A{i}")).status is StoreStatus.STORED
        manual_clock.advance(1)
    before = state(storage)
    limited = storage.store(alert("A3"))
    assert limited.status is StoreStatus.RATE_LIMITED
    assert limited.alert_id is None
    assert limited.count == 0
    assert limited.retry_after == pytest.approx(start + RATE_WINDOW - manual_clock())
    assert limited.retry_after == start + RATE_WINDOW - manual_clock()
    assert state(storage) == before


def test_rate_window_edge_and_rejections_not_counted(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """Admissions leave the window exactly rate_window later; rejections don't count."""
    policy = StoragePolicy(dedup_window=1000, rate_limit=3, rate_window=RATE_WINDOW)
    storage = make_storage(kind, policy=policy, clock=manual_clock)
    start = manual_clock()
    for i in range(3):
        storage.store(alert(f"A{i}"))
    for i in range(5):
        assert storage.store(alert(f"R{i}")).status is StoreStatus.RATE_LIMITED
    manual_clock.set(start + RATE_WINDOW - TINY)
    assert storage.store(alert("B")).status is StoreStatus.RATE_LIMITED
    manual_clock.set(start + RATE_WINDOW)
    assert storage.store(alert("B")).status is StoreStatus.STORED
    assert storage.store(alert("C")).status is StoreStatus.STORED
    assert storage.store(alert("D")).status is StoreStatus.STORED
    assert storage.store(alert("E")).status is StoreStatus.RATE_LIMITED


def test_duplicates_are_never_rate_limited(storage: AlertStorage) -> None:
    """With the source at its limit, duplicates of its alerts still count."""
    for i in range(3):
        storage.store(alert(f"A{i}"))
    for expected in range(2, 12):
        result = storage.store(alert("A0"))
        assert result.status is StoreStatus.DUPLICATE
        assert result.count == expected


def test_rate_limit_is_per_source(storage: AlertStorage) -> None:
    """One source at its limit does not hold back another."""
    for i in range(3):
        storage.store(alert(f"A{i}", source="noisy"))
    assert storage.store(alert("X", source="noisy")).status is StoreStatus.RATE_LIMITED
    assert storage.store(alert("X", source="quiet")).status is StoreStatus.STORED


# -- resolve and retention -----------------------------------------------------


def test_resolve_marks_resolved_and_keeps_it_readable(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """resolve() is True once, False after; the alert stays readable for retention."""
    result = storage.store(alert())
    manual_clock.advance(2)
    assert storage.resolve(result.fingerprint) is True
    assert storage.resolve(result.fingerprint) is False
    assert storage.count_active() == 0
    assert storage.get_active() == []
    got = storage.get(result.alert_id or "")
    assert got is not None
    assert got.status is AlertStatus.RESOLVED
    assert got.resolved_at == manual_clock()
    manual_clock.advance(100 - TINY)
    assert storage.get(result.alert_id or "") is not None
    manual_clock.advance(TINY)
    assert storage.get(result.alert_id or "") is None


def test_store_after_resolve_creates_a_new_alert(storage: AlertStorage) -> None:
    """A resolved alert absorbs no duplicates: the next store is a new alert."""
    first = storage.store(alert())
    storage.resolve(first.fingerprint)
    again = storage.store(alert())
    assert again.status is StoreStatus.STORED
    assert again.alert_id != first.alert_id
    assert again.count == 1


def test_resolve_unknown_or_expired_is_false(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Nothing firing with the fingerprint: resolve() returns False."""
    result = storage.store(alert())
    assert storage.resolve("0123456789abcdef") is False
    manual_clock.advance(WINDOW)
    assert storage.resolve(result.fingerprint) is False


def test_timed_out_alert_is_deleted_after_retention(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Expired alerts count retention from last_seen + window."""
    result = storage.store(alert())
    manual_clock.advance(WINDOW + 100 - TINY)
    assert storage.get(result.alert_id or "") is not None
    manual_clock.advance(TINY)
    assert storage.get(result.alert_id or "") is None


# -- reading -------------------------------------------------------------------


def test_get_active_newest_first_with_filters(
    storage: AlertStorage, manual_clock: ManualClock
) -> None:
    """Ordering by last_seen descending; severity, source, since, until, limit."""
    t0 = manual_clock()
    a = storage.store(alert("A", source="s1", severity="critical"))
    manual_clock.advance(1)
    b = storage.store(alert("B", source="s2", severity="warning"))
    manual_clock.advance(1)
    c = storage.store(alert("C", source="s1", severity="warning"))
    manual_clock.advance(1)
    storage.store(alert("A", source="s1", severity="critical"))  # A seen last now

    def ids(**query: object) -> list[str | None]:
        return [x.id for x in storage.get_active(**query)]  # type: ignore[arg-type]

    assert ids() == [a.alert_id, c.alert_id, b.alert_id]
    assert ids(severity="WARNING") == [c.alert_id, b.alert_id]
    assert ids(source="s1") == [a.alert_id, c.alert_id]
    assert ids(source="s1", severity="warning") == [c.alert_id]
    assert ids(since=t0 + 1) == [a.alert_id, c.alert_id, b.alert_id]
    assert ids(since=t0 + 1.5) == [a.alert_id, c.alert_id]
    assert ids(until=t0 + 2) == [c.alert_id, b.alert_id]
    assert ids(since=t0 + 1, until=t0 + 1) == [b.alert_id]
    assert ids(limit=2) == [a.alert_id, c.alert_id]
    assert ids(source="nobody") == []


def test_get_active_ties_are_ordered_by_id_descending(storage: AlertStorage) -> None:
    """Alerts seen at the same instant come in descending id order."""
    results = [storage.store(alert(f"T{i}", source=f"s{i}")) for i in range(6)]
    expected = sorted((r.alert_id or "" for r in results), reverse=True)
    assert [x.id for x in storage.get_active()] == expected


def test_store_many_equals_one_by_one(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """A batch gives the same statuses and counts as storing one by one."""
    policy = StoragePolicy(dedup_window=WINDOW, rate_limit=4, rate_window=RATE_WINDOW)
    batch_storage = make_storage(kind, policy=policy, clock=manual_clock)
    reference = MemoryStorage(policy=policy, clock=manual_clock)
    alerts = [alert(f"N{i % 7}", source=f"s{i % 2}") for i in range(30)]
    got = batch_storage.store_many(alerts)
    want = [reference.store(a) for a in alerts]
    assert [(r.status, r.count, r.retry_after) for r in got] == [
        (r.status, r.count, r.retry_after) for r in want
    ]
    assert batch_storage.count_active() == reference.count_active()


def test_store_many_of_nothing(storage: AlertStorage) -> None:
    """An empty batch stores nothing and returns no results."""
    assert storage.store_many([]) == []
    assert storage.count_active() == 0


# -- bad input -----------------------------------------------------------------

BAD_ALERTS: list[tuple[str, Callable[[], Alert], str]] = [
    ("empty-name", lambda: alert(""), "name"),
    ("empty-message", lambda: alert(message=""), "message"),
    ("empty-source", lambda: alert(source=""), "source"),
    ("unknown-severity", lambda: alert(severity="fatal"), "severity"),
    ("non-str-label", lambda: alert(labels={"a": 1}), "labels"),
    ("non-str-label-key", lambda: alert(labels={1: "a"}), "labels"),
    ("invalid-label-name", lambda: alert(labels={"bad-name": "x"}), "labels"),
    ("double-underscore", lambda: alert(labels={"__name__": "x"}), "labels"),
    ("reserved-alertname", lambda: alert(labels={"alertname": "x"}), "labels"),
    ("reserved-source", lambda: alert(labels={"source": "x"}), "labels"),
    ("reserved-severity", lambda: alert(labels={"severity": "x"}), "labels"),
    ("nan-timestamp", lambda: alert(timestamp=float("nan")), "timestamp"),
    ("inf-timestamp", lambda: alert(timestamp=float("inf")), "timestamp"),
    ("bool-timestamp", lambda: alert(timestamp=True), "timestamp"),
    ("surrogate", lambda: alert(message="\ud800"), "message"),
    ("labels-not-mapping", lambda: alert(labels=["a"]), "labels"),
]


@pytest.mark.parametrize(
    ("build", "field"),
    [pytest.param(b, f, id=name) for name, b, f in BAD_ALERTS],
)
def test_invalid_alerts_are_rejected_by_construction(
    build: Callable[[], Alert], field: str
) -> None:
    """Malformed alerts cannot be built: InvalidAlertError names the field."""
    with pytest.raises(InvalidAlertError) as info:
        build()
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AlertStorageError)


POLICY_BREAKERS: list[tuple[str, Callable[[], object], str]] = [
    ("oversized-message", lambda: alert(message="x" * 101), "message"),
    ("oversized-multibyte", lambda: alert(message="ü" * 51), "message"),
    ("oversized-name", lambda: alert("n" * 65), "name"),
    (
        "too-many-labels",
        lambda: alert(labels={f"l{i}": "v" for i in range(5)}),
        "labels",
    ),
    (
        "too-many-annotations",
        lambda: alert(annotations={f"a{i}": "" for i in range(5)}),
        "annotations",
    ),
    ("oversized-label", lambda: alert(labels={"a": "v" * 65}), "labels"),
    ("not-an-alert", lambda: {"name": "x"}, "alert"),
]


@pytest.mark.parametrize(
    ("build", "field"),
    [pytest.param(b, f, id=name) for name, b, f in POLICY_BREAKERS],
)
def test_policy_breakers_are_rejected_and_change_nothing(
    kind: str,
    make_storage: Make,
    manual_clock: ManualClock,
    build: Callable[[], object],
    field: str,
) -> None:
    """Alerts over the policy's bounds raise InvalidAlertError; storage unchanged."""
    policy = StoragePolicy(max_message_bytes=100, max_labels=4, max_name_bytes=64)
    storage = make_storage(kind, policy=policy, clock=manual_clock)
    kept = storage.store(alert("Kept", labels={}))
    before = state(storage)
    with pytest.raises(InvalidAlertError) as info:
        storage.store(build())  # type: ignore[arg-type]
    assert info.value.field == field
    batch: list = [alert("Fine", labels={}), build()]
    with pytest.raises(InvalidAlertError):
        storage.store_many(batch)
    assert state(storage) == before
    assert storage.store(alert("Kept", labels={})).alert_id == kept.alert_id


def test_annotation_names_are_bounded_like_label_names(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """An annotation name longer than max_name_bytes is refused, message short.

    Pins a fixed bug: the quick length check compared annotation names with
    the (larger) message bound, so such an alert was accepted unless its
    message was long too.
    """
    policy = StoragePolicy(max_message_bytes=4096, max_name_bytes=64)
    storage = make_storage(kind, policy=policy, clock=manual_clock)
    with pytest.raises(InvalidAlertError) as info:
        storage.store(alert(annotations={"k" * 65: "v"}))
    assert info.value.field == "annotations"
    assert storage.count_active() == 0
    longest = storage.store(alert(annotations={"k" * 64: "v"}))
    assert longest.status is StoreStatus.STORED


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.get(""), id="empty-id"),
        pytest.param(lambda s: s.get("a:b"), id="id-with-colon"),
        pytest.param(lambda s: s.get("x" * 65), id="long-id"),
        pytest.param(lambda s: s.get(None), id="none-id"),
        pytest.param(lambda s: s.resolve("XYZ"), id="bad-fingerprint"),
        pytest.param(lambda s: s.resolve("0123456789ABCDEF"), id="upper-fingerprint"),
        pytest.param(lambda s: s.get_active(limit=0), id="limit-zero"),
        pytest.param(lambda s: s.get_active(limit=10_001), id="limit-huge"),
        pytest.param(lambda s: s.get_active(limit=1.5), id="limit-float"),
        pytest.param(lambda s: s.get_active(severity="loud"), id="bad-severity"),
        pytest.param(lambda s: s.get_active(source=""), id="empty-source"),
        pytest.param(lambda s: s.get_active(since=float("nan")), id="nan-since"),
        pytest.param(lambda s: s.get_active(until="soon"), id="str-until"),
    ],
)
def test_malformed_queries_raise_invalid_query(
    storage: AlertStorage, call: Callable[[AlertStorage], object]
) -> None:
    """Bad ids, fingerprints and filters raise InvalidQueryError (a ValueError)."""
    with pytest.raises(InvalidQueryError):
        call(storage)


def test_unknown_id_is_none(storage: AlertStorage) -> None:
    """A well-formed id that was never stored reads as None."""
    assert storage.get("0" * 24) is None


def test_hostile_names_stay_inside_their_namespace(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """Sources and labels full of key syntax do not collide with other alerts."""
    storage = make_storage(kind, clock=manual_clock)
    hostile = ["a:b", "{x}", "*", "a\nb", "ü😀", "as:{other}:i", "..", "/etc/passwd"]
    results = [storage.store(alert("N", source=s, labels={"k": s})) for s in hostile]
    assert all(r.status is StoreStatus.STORED for r in results)
    for source, result in zip(hostile, results, strict=True):
        [got] = storage.get_active(source=source)
        assert got.id == result.alert_id
        assert got.source == source
    assert storage.count_active() == len(hostile)


def test_metrics_count_operations(storage: AlertStorage) -> None:
    """metrics() reports counts and latency percentiles per operation."""
    storage.store(alert())
    storage.store(alert())
    storage.get_active()
    operations = storage.metrics()["operations"]
    assert operations["store"]["count"] == 2
    assert operations["get_active"]["count"] == 1
    assert operations["store"]["p95_ms"] >= operations["store"]["p50_ms"] > 0


def test_context_manager_closes(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """``with storage:`` works and ping() answers while open."""
    storage = make_storage(kind, clock=manual_clock)
    with storage as entered:
        assert entered is storage
        assert storage.ping() is True


# -- replay merge (what the cascade relies on) -----------------------------------


def test_import_replayed_merges_idempotently(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """Replayed alerts add their counts to the firing alert, once, and stay findable."""
    policy = StoragePolicy(dedup_window=WINDOW)
    target = make_storage(kind, policy=policy, clock=manual_clock)
    lower = MemoryStorage(policy=policy, clock=manual_clock)
    existing = target.store(alert())
    manual_clock.advance(1)
    for _ in range(3):
        lower.store(alert(message="from outage"))
    new_one = lower.store(alert("OnlyInLower"))
    items = lower.export_pending()

    target.import_replayed(items)
    target.import_replayed(items)

    merged = target.get(existing.alert_id or "")
    assert merged is not None
    assert merged.count == 4
    assert merged.message == "from outage"
    created = target.get(new_one.alert_id or "")
    assert created is not None and created.count == 1
    assert target.count_active() == 2
    replayed_dup = next(i for i in items if getattr(i, "name", "") == "HighCPU")
    via_alias = target.get(replayed_dup.id or "")
    assert via_alias is not None and via_alias.id == existing.alert_id
    assert target.store(alert()).count == 5


def test_import_replayed_adds_only_new_counts(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """A record replayed again after more duplicates adds only the difference."""
    target = make_storage(kind, clock=manual_clock)
    lower = MemoryStorage(clock=manual_clock)
    lower.store(alert())
    target.import_replayed(lower.export_pending())
    lower.store(alert())
    lower.store(alert())
    target.import_replayed(lower.export_pending())
    [only] = target.get_active()
    assert only.count == 3


def test_replayed_resolve_applies_unless_seen_later(
    kind: str, make_storage: Make, manual_clock: ManualClock
) -> None:
    """A resolve made in a lower tier resolves the alert unless it was seen after."""
    target = make_storage(kind, clock=manual_clock)
    lower = MemoryStorage(clock=manual_clock)
    first = target.store(alert("One"))
    second = target.store(alert("Two"))
    lower.record_resolve_intent(first.fingerprint, manual_clock())
    lower.record_resolve_intent(second.fingerprint, manual_clock() - 1)
    target.import_replayed(lower.export_pending())
    assert [a.id for a in target.get_active()] == [second.alert_id]
