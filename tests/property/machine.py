"""A hypothesis state machine that holds one backend to the reference model.

Each step stores alerts (singly or in batches), resolves, reads with
filters, or moves the clock, often exactly onto, just before or just after
the next instant where an answer changes. After every step the backend's
answers must equal the model's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import astuple
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from alert_storage import AlertStorage, Severity, StoragePolicy, StoreResult
from alert_storage.testing import ManualClock

from .backends import REPORTED_NAME, open_backend
from .cascade_model import CascadeModel
from .model import ModelResult, ReferenceModel, fnv1a_fingerprint
from .strategies import (
    IDENTITIES,
    SOURCES,
    START,
    STEPS,
    TINY_STEPS,
    policies,
    pool_alerts,
)

_POOL_FINGERPRINTS = tuple(
    sorted(
        {
            fnv1a_fingerprint(
                {**labels, "alertname": n, "source": src, "severity": sev.value}
            )
            for n, sev, src, labels in IDENTITIES
        }
    )
)
_UNKNOWN_FINGERPRINT = "0123456789abcdef"
_UNKNOWN_ID = "nosuchalert000000000000"
_ALL = 10_000


class StorageMachine(RuleBasedStateMachine):
    """Runs random operations on one backend and on the model, side by side.

    Subclasses set ``kind`` (a kind ``open_backend`` knows) and, for real
    Redis, ``redis_url``; or override ``open_storage``.
    """

    kind: ClassVar[str] = "memory"
    redis_url: ClassVar[str | None] = None
    #: Runs and steps taken by this class, for the suite's report.
    tally: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(START)
        self.stack = ExitStack()
        self.model: ReferenceModel | CascadeModel = ReferenceModel(StoragePolicy())
        self.seen_ids: set[str] = set()
        self.unnamed = 0
        self._storage: AlertStorage | None = None

    @property
    def storage(self) -> AlertStorage:
        """The backend under test (opened by the initialize rule)."""
        assert self._storage is not None, "initialize has not run"
        return self._storage

    def open_storage(self, policy: StoragePolicy) -> AlertStorage:
        """Open the backend under test; its cleanup goes on ``self.stack``."""
        return open_backend(
            self.kind,
            self.stack,
            policy=policy,
            clock=self.clock,
            redis_url=self.redis_url,
        )

    def make_model(self, policy: StoragePolicy) -> ReferenceModel | CascadeModel:
        """Return the model the backend is held to."""
        return ReferenceModel(policy)

    def reported_name(self) -> str:
        """The ``StoreResult.backend`` every store must report."""
        return REPORTED_NAME[self.kind]

    def teardown(self) -> None:
        """Close the backend and remove what it left behind."""
        self.stack.close()

    @initialize(policy=policies())
    def start(self, policy: StoragePolicy) -> None:
        """Open an empty backend with a drawn policy."""
        self.model = self.make_model(policy)
        self._storage = self.open_storage(policy)
        self.tally["runs"] += 1

    # -- mutations ------------------------------------------------------------

    @rule(alert=pool_alerts())
    def store(self, alert: Any) -> None:
        """A single store gives the model's status, id, count and retry_after."""
        now = self.clock()
        result = self.storage.store(alert)
        expected = self.model.store(alert, now, self._proposed_id(result))
        self._check_results([result], [expected])

    @rule(alerts=st.lists(pool_alerts(), max_size=6))
    def store_many(self, alerts: list[Any]) -> None:
        """A batch gives the results of storing its alerts one by one."""
        now = self.clock()
        results = self.storage.store_many(alerts)
        assert len(results) == len(alerts), "one result per alert"
        proposed = [self._proposed_id(r) for r in results]
        self._check_results(results, self.model.store_many(alerts, now, proposed))

    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        """``resolve`` is True exactly when an alert with the fingerprint fires.

        The fingerprint is mostly one firing now; else any of the pool or
        one never stored.
        """
        now = self.clock()
        firing = sorted({a["fingerprint"] for a in self.model.get_active(now)})
        anything = st.sampled_from((*_POOL_FINGERPRINTS, _UNKNOWN_FINGERPRINT))
        if firing:
            anything = st.sampled_from(firing) | anything
        fingerprint = data.draw(anything, "fingerprint")
        got = self.storage.resolve(fingerprint)
        assert got == self.model.resolve(fingerprint, now), f"resolve -> {got}"

    # -- time -----------------------------------------------------------------

    @rule(step=st.sampled_from(STEPS))
    def advance(self, step: float) -> None:
        """Move the clock forward by a plain step."""
        self.clock.advance(step)

    @precondition(lambda self: bool(self.model.edges(self.clock())))
    @rule(data=st.data())
    def advance_to_edge(self, data: st.DataObject) -> None:
        """Move the clock onto an edge (expiry, window exit, retention end).

        Half the time the clock lands a tiny step before or after it instead.
        """
        edge = data.draw(st.sampled_from(self.model.edges(self.clock())), "edge")
        tiny = data.draw(st.sampled_from(TINY_STEPS), "tiny")
        offset = data.draw(st.sampled_from((0.0, -tiny, tiny)), "offset")
        self.clock.set(max(self.clock(), edge + offset))

    # -- reads ----------------------------------------------------------------

    @rule(data=st.data())
    def get_active_filtered(self, data: st.DataObject) -> None:
        """Any combination of filters selects and orders what the model does.

        Filter values come mostly from the alerts firing now, so that a
        query matches some of them and a small limit truncates the answer.
        """
        firing = self.model.get_active(self.clock(), limit=_ALL)
        severities = sorted({a["severity"] for a in firing})
        sources = sorted({a["source"] for a in firing})
        times = self._interesting_times()
        query: dict[str, Any] = {
            "severity": data.draw(_maybe(severities, [s.value for s in Severity])),
            "source": data.draw(_maybe(sources, [*SOURCES, "nobody"])),
            "since": data.draw(_maybe(times)),
            "until": data.draw(_maybe(times)),
            "limit": data.draw(st.sampled_from((1, 2, 3, 100))),
        }
        self._check_query(query)

    @invariant()
    def agrees_with_model(self) -> None:
        """count_active, get of every id ever stored, and get_active all match.

        get_active is asked without filters, with each filter alone set to a
        value some firing alert has (a time exactly on a ``last_seen``), and
        with limits that cut the answer short.
        """
        if self._storage is None:
            return
        self.tally["steps"] += 1
        now = self.clock()
        count = self.storage.count_active()
        assert count == self.model.count_active(now), f"count_active -> {count}"
        for alert_id in sorted(self.model.alerts):
            got = self.storage.get(alert_id)
            actual = None if got is None else got.to_dict()
            _assert_same(actual, self.model.get(alert_id, now), f"get({alert_id})")
        assert self.storage.get(_UNKNOWN_ID) is None
        for query in self._single_filter_queries():
            self._check_query(query)

    # -- helpers --------------------------------------------------------------

    def _single_filter_queries(self) -> list[dict[str, Any]]:
        firing = self.model.get_active(self.clock(), limit=_ALL)
        queries: list[dict[str, Any]] = [{}, {"limit": 1}]
        if len(firing) > 2:
            queries.append({"limit": len(firing) - 1})
        for key, field in (("severity", "severity"), ("source", "source")):
            queries += [{key: v} for v in sorted({a[field] for a in firing})]
        for key in ("since", "until"):
            queries += [{key: t} for t in sorted({a["last_seen"] for a in firing})]
        return queries

    def _check_query(self, query: dict[str, Any]) -> None:
        got = [a.to_dict() for a in self.storage.get_active(**query)]
        expected = self.model.get_active(self.clock(), **query)
        _assert_same(got, expected, f"get_active({query})")

    # -- helpers --------------------------------------------------------------

    def _proposed_id(self, result: StoreResult) -> str:
        """Return the id the model gives a new alert: the backend's choice."""
        if result.alert_id is not None:
            return result.alert_id
        self.unnamed += 1
        return f"<no id from backend #{self.unnamed}>"

    def _check_results(
        self, results: Sequence[StoreResult], expected: Sequence[ModelResult]
    ) -> None:
        for result, want in zip(results, expected, strict=True):
            assert result.backend == self.reported_name(), result
            got = (
                result.status,
                result.alert_id,
                result.fingerprint,
                result.count,
                result.retry_after,
            )
            assert got == astuple(want), f"store gave {got}, model {astuple(want)}"
            if result.status is want.status.STORED:
                assert result.alert_id not in self.seen_ids, "alert id reused"
                self.seen_ids.add(str(result.alert_id))

    def _interesting_times(self) -> list[float]:
        """Return each alert's last_seen, and a tiny step either side."""
        seen = {a.last_seen for a in self.model.alerts.values()} or {START}
        tiny = TINY_STEPS[0]
        return sorted({t + d for t in seen for d in (-tiny, 0.0, tiny)})


def _maybe(likely: Sequence[Any], other: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Return None, one of the ``likely`` values, or one of the ``other`` values."""
    options = [st.none()]
    options += [st.sampled_from(values) for values in (likely, other) if values]
    return st.one_of(options)


def _assert_same(actual: object, expected: object, what: str) -> None:
    assert actual == expected, f"{what}:\n backend: {actual!r}\n model:   {expected!r}"
