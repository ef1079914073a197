"""Fingerprints equal an independent FNV-1a and do not change between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alert_storage import Alert, Severity, label_fingerprint

from .model import fnv1a_fingerprint, identity_of

#: Published test vectors of Prometheus's ``model.LabelSet`` fingerprint
#: (prometheus/common, ``TestMetricToFingerprint``), as unsigned decimals.
PROMETHEUS_VECTORS: tuple[tuple[dict[str, str], int], ...] = (
    ({}, 14695981039346656037),
    ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
)

_CHILD = """
import json, sys
from alert_storage import label_fingerprint
print(json.dumps([label_fingerprint(labels) for labels in json.load(sys.stdin)]))
"""

label_sets = st.dictionaries(st.text(), st.text(), max_size=8)


def test_prometheus_published_vectors() -> None:
    """Both implementations reproduce the vectors Prometheus publishes."""
    for labels, expected in PROMETHEUS_VECTORS:
        assert int(label_fingerprint(labels), 16) == expected
        assert int(fnv1a_fingerprint(labels), 16) == expected


@given(labels=label_sets)
def test_label_fingerprint_equals_independent_fnv1a(labels: dict[str, str]) -> None:
    """Any label set, any Unicode, hashes as the test's own FNV-1a does."""
    got = label_fingerprint(labels)
    assert got == fnv1a_fingerprint(labels)
    assert len(got) == 16
    assert got == got.lower()


@given(labels=label_sets)
def test_empty_values_do_not_count(labels: dict[str, str]) -> None:
    """A label with an empty value hashes as if it were absent."""
    present = {k: v for k, v in labels.items() if v}
    assert label_fingerprint(labels) == label_fingerprint(present)


@given(
    name=st.text(min_size=1),
    source=st.text(min_size=1),
    severity=st.sampled_from(("critical", "error", "warning", "info")),
    labels=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.text(), max_size=4
    ).filter(lambda d: not {"alertname", "source", "severity"} & d.keys()),
    message=st.text(min_size=1),
)
def test_alert_fingerprint_is_its_identity_hash(
    name: str, source: str, severity: str, labels: dict[str, str], message: str
) -> None:
    """An alert's fingerprint hashes labels plus alertname, source and severity.

    The message and annotations do not change it.
    """
    alert = Alert(name, Severity(severity), source, message, labels, {"n": message})
    # Severity names are accepted in any case (the field's type says Severity).
    shouted: Any = severity.upper()
    other = Alert(name, shouted, source, message + "!", labels)
    assert alert.fingerprint == fnv1a_fingerprint(identity_of(alert))
    assert other.fingerprint == alert.fingerprint


@settings(
    max_examples=max(2, (settings.default or settings()).max_examples // 10),
    deadline=None,
)
@given(batch=st.lists(label_sets, min_size=1, max_size=30))
def test_fingerprints_are_stable_across_processes(
    batch: list[dict[str, str]],
) -> None:
    """A fresh interpreter with another hash seed computes the same fingerprints."""
    env = {**os.environ, "PYTHONHASHSEED": str(len(batch) * 7919 % 4096)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(child.stdout) == [label_fingerprint(x) for x in batch]
