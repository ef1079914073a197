"""Hypothesis strategies: small pools of alerts and exactly representable times.

Alerts come from a handful of identities so that duplicates, shared sources
and rate limits happen within a few steps. Every time and window is a
multiple of a power of two small enough to be exact next to the epoch start
(doubles near 1.7e9 resolve 2**-22 s), so ``last_seen + window`` lands on
the very float the backends compute, whatever the order of additions.
"""

from __future__ import annotations

from hypothesis import strategies as st

from alert_storage import Alert, Severity, StoragePolicy

START = 1_700_000_000.0

#: Steps that put the clock just before or just after an edge.
TINY_STEPS = (2.0**-20, 2.0**-7)

#: Plain forward steps (zero: several calls at one instant). Long jumps come
#: from edges: an expiry or the end of a retention.
STEPS = (0.0, 2.0**-20, 0.25, 1.0, 3.5)

#: (name, severity, source, labels). The first two share a fingerprint:
#: Prometheus drops empty label values. The third differs only by severity.
IDENTITIES: tuple[tuple[str, Severity, str, dict[str, str]], ...] = (
    ("disk_full", Severity.WARNING, "api", {}),
    ("disk_full", Severity.WARNING, "api", {"mount": ""}),
    ("disk_full", Severity.CRITICAL, "api", {}),
    ("cpu_high", Severity.WARNING, "api", {"host": "a"}),
    ("mem_low", Severity.ERROR, "api", {"host": "b", "zone": "ü"}),
    ("cpu_high", Severity.WARNING, "db:{1}*", {"host": "a"}),
    ("cpu_high", Severity.WARNING, "db:{1}*", {"host": "b"}),
    ("queue_lag", Severity.INFO, "wébhook\n☃", {"queue": "x:y{z}*"}),
)
SOURCES = tuple(sorted({source for _, _, source, _ in IDENTITIES}))

MESSAGES = ("first", "second", "ü:{}\n*")
ANNOTATIONS: tuple[dict[str, str], ...] = (
    {},
    {"runbook": "r1"},
    {"runbook": "r2", "summary": "{x}:*"},
)
TIMESTAMPS = (None, START - 5.5, START + 2.0**-20, 0.0)


def pool_alerts() -> st.SearchStrategy[Alert]:
    """Return alerts drawn from the identity pool, with varying details."""
    return st.builds(
        _make_alert,
        st.sampled_from(IDENTITIES),
        st.sampled_from(MESSAGES),
        st.sampled_from(ANNOTATIONS),
        st.sampled_from(TIMESTAMPS),
    )


def _make_alert(
    identity: tuple[str, Severity, str, dict[str, str]],
    message: str,
    annotations: dict[str, str],
    timestamp: float | None,
) -> Alert:
    name, severity, source, labels = identity
    return Alert(name, severity, source, message, labels, annotations, timestamp)


def policies() -> st.SearchStrategy[StoragePolicy]:
    """Return small policies whose windows overlap in every order."""
    return st.builds(
        StoragePolicy,
        dedup_window=st.sampled_from((2.0, 7.5, 30.0)),
        rate_limit=st.sampled_from((1, 2, 3)),
        rate_window=st.sampled_from((1.5, 5.0, 20.0)),
        retention=st.sampled_from((0.0, 4.0, 50.0)),
    )
