"""AlertFactory: varied, reproducible alerts with an exact share of duplicates."""

from __future__ import annotations

import pytest

from alert_storage import MemoryStorage, StoreStatus
from pytest_alertbench.alerts import AlertFactory
from pytest_alertbench.modes import PERF_POLICY


def test_batch_makes_exactly_the_requested_share_of_duplicates() -> None:
    """Storing a batch with ratio 0.3 gives 70 new alerts and 30 duplicates."""
    factory = AlertFactory(seed=7)
    storage = MemoryStorage(policy=PERF_POLICY)

    results = storage.store_many(factory.batch(100, duplicate_ratio=0.3))

    statuses = [result.status for result in results]
    assert statuses.count(StoreStatus.STORED) == 70
    assert statuses.count(StoreStatus.DUPLICATE) == 30


def test_batch_without_duplicates_has_distinct_fingerprints() -> None:
    """Ratio 0 gives only new identities."""
    alerts = AlertFactory(seed=1).batch(200)
    assert len({alert.fingerprint for alert in alerts}) == 200


def test_alerts_vary_in_name_source_severity_and_labels() -> None:
    """A batch spreads over several names, sources, severities and regions."""
    alerts = AlertFactory(seed=3).batch(300)
    assert len({a.name for a in alerts}) >= 5
    assert len({a.source for a in alerts}) >= 5
    assert len({a.severity for a in alerts}) == 4
    assert len({a.labels["region"] for a in alerts}) >= 2


def test_same_seed_gives_the_same_alerts() -> None:
    """Two factories with one seed make identical sequences."""
    first = AlertFactory(seed=42, duplicate_ratio=0.5).batch(50)
    second = AlertFactory(seed=42, duplicate_ratio=0.5).batch(50)
    assert [a.fingerprint for a in first] == [a.fingerprint for a in second]
    assert [a.message for a in first] == [a.message for a in second]


def test_duplicate_repeats_an_identity_with_a_new_message() -> None:
    """A duplicate shares the fingerprint of an earlier alert, not its message."""
    factory = AlertFactory(seed=5)
    original = factory.unique()

    repeat = factory.duplicate()

    assert repeat.fingerprint == original.fingerprint
    assert repeat.message != original.message


def test_call_with_overrides_sets_fields_on_a_new_alert() -> None:
    """Overrides replace generated fields, and never yield a duplicate."""
    factory = AlertFactory(seed=9, duplicate_ratio=1.0)
    factory.unique()

    alert = factory(source="payments", severity="critical")

    assert (alert.source, alert.severity.value) == ("payments", "critical")
    assert alert.labels["instance"].startswith("node-000002")


def test_call_draws_duplicates_at_the_factory_ratio() -> None:
    """With ratio 1 every call after the first repeats an earlier identity."""
    factory = AlertFactory(seed=11, duplicate_ratio=1.0)
    first = factory()
    assert {factory().fingerprint for _ in range(5)} == {first.fingerprint}


@pytest.mark.parametrize("ratio", [-0.1, 1.5, "half"], ids=str)
def test_bad_ratio_is_a_value_error(ratio: object) -> None:
    """A ratio outside 0..1, or not a number, is refused."""
    with pytest.raises(ValueError, match="duplicate_ratio"):
        AlertFactory(duplicate_ratio=ratio)  # type: ignore[arg-type]
