"""An optional ``prometheus_client`` collector for a storage's ``metrics()``.

``prometheus_client`` is imported only when a collector is built, so the rest
of the library works without it (install the ``prometheus`` extra to use this).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from alert_storage.base import AlertStorage
from alert_storage.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

_QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))


def _families() -> Any:
    try:
        from prometheus_client import core
    except ImportError as exc:
        raise ConfigurationError(
            "prometheus_client is not installed; install alert-storage[prometheus]"
        ) from exc
    return core


class StorageCollector:
    """Exposes a storage's figures (any backend or a cascade) to Prometheus.

    Figures are read from ``storage.metrics()`` at every scrape. Names:
    ``<prefix>_operations_total``, ``<prefix>_operation_errors_total`` and
    ``<prefix>_operation_latency_seconds`` (a gauge per ``quantile`` of recent
    calls), each by ``operation`` and ``tier``; for a cascade also
    ``_fallbacks_total``, ``_transitions_total``, ``_degraded_seconds_total``,
    ``_pending_replay``, ``_replayed_total``, ``_replay_failures_total``,
    ``_tier_up``, ``_tier_serving``, and what callers see: ``_cascade_calls_total``,
    ``_cascade_errors_total``, ``_cascade_latency_seconds`` by ``operation``.

    Args:
        storage: The storage to report on.
        prefix: Metric name prefix.

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """

    def __init__(self, storage: AlertStorage, *, prefix: str = "alert_storage") -> None:
        self._core = _families()
        self.storage = storage
        self.prefix = prefix

    def describe(self) -> list[Metric]:
        """Return nothing, so that registering does not call the storage."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families for one scrape."""
        figures = self.storage.metrics()
        yield from self._operations(figures)
        if "tiers" in figures:
            yield from self._cascade(figures)

    def _operations(self, figures: dict[str, Any]) -> Iterator[Metric]:
        core, p = self._core, self.prefix
        labels = ["operation", "tier"]
        calls = core.CounterMetricFamily(
            f"{p}_operations", "Calls by operation and tier.", labels=labels
        )
        errors = core.CounterMetricFamily(
            f"{p}_operation_errors",
            "Failed calls by operation and tier.",
            labels=labels,
        )
        latency = core.GaugeMetricFamily(
            f"{p}_operation_latency_seconds",
            "Latency quantiles of recent calls, by operation and tier.",
            labels=[*labels, "quantile"],
        )
        for tier, operations in _per_tier(figures).items():
            for operation, summary in operations.items():
                calls.add_metric([operation, tier], summary["count"])
                errors.add_metric([operation, tier], summary["errors"])
                for quantile, key in _QUANTILES:
                    seconds = summary[key] / 1000.0
                    latency.add_metric([operation, tier, quantile], seconds)
        yield from (calls, errors, latency)

    def _cascade(self, figures: dict[str, Any]) -> Iterator[Metric]:
        core, p = self._core, self.prefix
        fallbacks = core.CounterMetricFamily(
            f"{p}_fallbacks",
            "Calls a tier failed and handed to a lower tier.",
            labels=["tier"],
        )
        up = core.GaugeMetricFamily(
            f"{p}_tier_up", "1 if the tier's breaker is closed.", labels=["tier"]
        )
        serving = core.GaugeMetricFamily(
            f"{p}_tier_serving", "1 for the tier serving calls.", labels=["tier"]
        )
        for tier, data in figures["tiers"].items():
            fallbacks.add_metric([tier], data["fallbacks"])
            up.add_metric([tier], 1.0 if data["state"] == "up" else 0.0)
            serving.add_metric([tier], 1.0 if tier == figures["mode"] else 0.0)
        transitions = core.CounterMetricFamily(
            f"{p}_transitions",
            "Changes of the serving tier.",
            labels=["from_tier", "to_tier"],
        )
        for change in figures["transition_counts"]:
            transitions.add_metric([change["from"], change["to"]], change["count"])
        yield from (fallbacks, up, serving, transitions)
        yield from self._callers(figures["operations"])
        yield core.CounterMetricFamily(
            f"{p}_degraded_seconds",
            "Seconds served by a tier other than the first.",
            value=figures["degraded_seconds"],
        )
        yield core.GaugeMetricFamily(
            f"{p}_pending_replay",
            "Alerts and resolves held by lower tiers, waiting for replay.",
            value=figures["pending_replay"],
        )
        yield core.CounterMetricFamily(
            f"{p}_replayed",
            "Items replayed into a higher tier.",
            value=figures["replayed"],
        )
        yield core.CounterMetricFamily(
            f"{p}_replay_failures",
            "Replays interrupted by a failure (retried later).",
            value=figures["replay_failures"],
        )

    def _callers(self, operations: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        core, p = self._core, self.prefix
        calls = core.CounterMetricFamily(
            f"{p}_cascade_calls", "Calls to the cascade.", labels=["operation"]
        )
        errors = core.CounterMetricFamily(
            f"{p}_cascade_errors",
            "Cascade calls that raised (every tier failed, or bad input).",
            labels=["operation"],
        )
        latency = core.GaugeMetricFamily(
            f"{p}_cascade_latency_seconds",
            "Latency quantiles of recent cascade calls, fallbacks included.",
            labels=["operation", "quantile"],
        )
        for operation, summary in operations.items():
            calls.add_metric([operation], summary["count"])
            errors.add_metric([operation], summary["errors"])
            for quantile, key in _QUANTILES:
                latency.add_metric([operation, quantile], summary[key] / 1000.0)
        yield from (calls, errors, latency)


def register_collector(
    storage: AlertStorage,
    registry: CollectorRegistry | None = None,
    *,
    prefix: str = "alert_storage",
) -> StorageCollector:
    """Register a ``StorageCollector`` for ``storage`` and return it.

    Args:
        storage: The storage to report on.
        registry: Where to register; ``prometheus_client.REGISTRY`` if omitted.
        prefix: Metric name prefix.

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """
    collector = StorageCollector(storage, prefix=prefix)
    target = registry if registry is not None else collector._core.REGISTRY
    target.register(collector)
    return collector


def _per_tier(figures: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    if "tiers" in figures:
        return {name: data["operations"] for name, data in figures["tiers"].items()}
    return {str(figures["backend"]): figures["operations"]}
