"""The optional Prometheus collector, read back through a CollectorRegistry."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alert_storage import Alert, MemoryStorage
from alert_storage.cascade import CascadeStorage
from alert_storage.errors import ConfigurationError
from alert_storage.prometheus import StorageCollector, register_collector
from alert_storage.testing import ManualClock

from .doubles import FlakyStorage

pytestmark = pytest.mark.cascade


def alert(n: int) -> Alert:
    return Alert("QueueFull", "error", "worker", "queue is full", {"q": str(n)})


@pytest.fixture
def outage() -> tuple[CascadeStorage, FlakyStorage, ManualClock]:
    timer = ManualClock(0.0)
    top, low = FlakyStorage("redis"), FlakyStorage("file")
    cascade = CascadeStorage([top, low], jitter=0.0, timer=timer)
    cascade.store(alert(0))
    top.up = False
    cascade.store(alert(1))
    cascade.store(alert(2))
    timer.advance(4.0)
    return cascade, top, timer


def test_cascade_figures_have_conventional_names(
    outage: tuple[CascadeStorage, FlakyStorage, ManualClock],
) -> None:
    """Counters end in _total, durations are in seconds, labels name the tier."""
    cascade, _, _ = outage
    registry = CollectorRegistry()
    register_collector(cascade, registry)
    value = registry.get_sample_value

    assert (
        value("alert_storage_operations_total", {"operation": "store", "tier": "redis"})
        == 2
    )
    assert (
        value(
            "alert_storage_operation_errors_total",
            {"operation": "store", "tier": "redis"},
        )
        == 1
    )
    assert (
        value("alert_storage_operations_total", {"operation": "store", "tier": "file"})
        == 2
    )
    assert value("alert_storage_fallbacks_total", {"tier": "redis"}) == 1
    assert (
        value(
            "alert_storage_transitions_total", {"from_tier": "redis", "to_tier": "file"}
        )
        == 1
    )
    assert value("alert_storage_degraded_seconds_total") == pytest.approx(4.0)
    assert value("alert_storage_pending_replay") == 2
    assert value("alert_storage_replayed_total") == 0
    assert value("alert_storage_replay_failures_total") == 0
    assert value("alert_storage_tier_up", {"tier": "redis"}) == 0
    assert value("alert_storage_tier_serving", {"tier": "file"}) == 1
    assert value("alert_storage_cascade_calls_total", {"operation": "store"}) == 3
    p95 = value(
        "alert_storage_operation_latency_seconds",
        {"operation": "store", "tier": "file", "quantile": "0.95"},
    )
    assert p95 is not None
    assert 0 < p95 < 1


def test_recovery_shows_in_the_figures(
    outage: tuple[CascadeStorage, FlakyStorage, ManualClock],
) -> None:
    """After recovery the replay count rises and pending drops to zero."""
    cascade, top, timer = outage
    registry = CollectorRegistry()
    register_collector(cascade, registry)
    top.up = True
    timer.advance(10.0)

    cascade.count_active()

    assert registry.get_sample_value("alert_storage_replayed_total") == 2
    assert registry.get_sample_value("alert_storage_pending_replay") == 0
    assert (
        registry.get_sample_value("alert_storage_tier_serving", {"tier": "redis"}) == 1
    )
    text = generate_latest(registry).decode()
    assert "# TYPE alert_storage_degraded_seconds_total counter" in text


def test_single_backend_is_reported_under_its_name() -> None:
    """A plain backend gives per-operation figures with its own tier label."""
    storage = MemoryStorage()
    storage.store(alert(1))
    registry = CollectorRegistry()
    registry.register(StorageCollector(storage, prefix="alerts"))

    labels = {"operation": "store", "tier": "memory"}
    assert registry.get_sample_value("alerts_operations_total", labels) == 1
    assert registry.get_sample_value("alerts_pending_replay") is None


def test_missing_prometheus_client_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without prometheus_client, building a collector says what to install."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    with pytest.raises(ConfigurationError, match=r"alert-storage\[prometheus\]"):
        StorageCollector(MemoryStorage())


def test_library_import_does_not_load_prometheus_client() -> None:
    """Importing the package and this module leaves prometheus_client unloaded."""
    code = (
        "import sys, alert_storage, alert_storage.cascade, alert_storage.prometheus;"
        "sys.exit('prometheus_client' in sys.modules)"
    )

    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)

    assert done.returncode == 0
