"""The Prometheus/Alertmanager label-set fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alert_storage import Alert, label_fingerprint

OFFSET = 0xCBF29CE484222325
PRIME = 0x100000001B3


def _fnv_step_by_step(data: bytes) -> str:
    """FNV-1a 64 written out from its definition, independently of the library."""
    h = OFFSET
    for byte in data:
        h ^= byte
        h = (h * PRIME) % (1 << 64)
    return format(h, "016x")


def test_empty_label_set_is_the_offset_basis() -> None:
    """No labels hash nothing: the fingerprint is FNV's offset basis."""
    assert label_fingerprint({}) == "cbf29ce484222325"


@pytest.mark.parametrize(
    ("labels", "stream"),
    [
        ({"a": "b"}, b"a\xffb\xff"),
        ({"b": "2", "a": "1"}, b"a\xff1\xffb\xff2\xff"),
        ({"Z": "x", "a": "y"}, b"Z\xffx\xffa\xffy\xff"),
        ({"job": "api", "empty": ""}, b"job\xffapi\xff"),
        ({"city": "Zürich"}, b"city\xff" + "Zürich".encode() + b"\xff"),
    ],
    ids=["one", "sorted", "bytewise-case", "empty-dropped", "utf8"],
)
def test_matches_fnv1a_over_sorted_names_and_separators(
    labels: dict[str, str], stream: bytes
) -> None:
    """Names sort byte-wise, empty values drop, each name/value ends with 0xFF."""
    assert label_fingerprint(labels) == _fnv_step_by_step(stream)


def test_equals_the_fingerprint_alertmanager_sent() -> None:
    """A real webhook payload: our fingerprint of its labels is the one it carries."""
    payload = json.loads(
        (Path(__file__).parent / "data" / "alertmanager_webhook.json").read_text()
    )
    for alert in payload["alerts"]:
        assert label_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_alert_identity_includes_name_source_and_severity() -> None:
    """An alert's fingerprint is that of its labels plus the three identity keys."""
    alert = Alert("Disk", "warning", "node-7", "full", {"mount": "/"})
    expected = label_fingerprint(
        {"mount": "/", "alertname": "Disk", "source": "node-7", "severity": "warning"}
    )
    assert alert.fingerprint == expected


def test_message_annotations_and_timestamp_are_not_identity() -> None:
    """Changing only descriptive fields keeps the fingerprint."""
    first = Alert("Disk", "warning", "n", "a", {"m": "/"}, {"x": "1"}, 1.0)
    second = Alert("Disk", "WARNING", "n", "b", {"m": "/"}, {"x": "2"}, 2.0)
    assert first.fingerprint == second.fingerprint
    third = Alert("Disk", "warning", "n", "a", {"m": "/var"})
    assert third.fingerprint != first.fingerprint
