"""Threads that store alerts through a cascade, and the checks made afterwards."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from alert_storage import Alert, AlertStorage, StoreResult, StoreStatus
from alert_storage.cascade import CascadeStorage

FINGERPRINTS = 40


def numbered_alert(n: int) -> Alert:
    """Return one of ``FINGERPRINTS`` distinct alerts, spread over four sources."""
    k = n % FINGERPRINTS
    return Alert(
        "ReplicaLag", "critical", f"db-{k % 4}", f"lag on replica {k}", {"r": str(k)}
    )


class Load:
    """Store alerts from several threads until stopped; keep every result.

    Args:
        storage: Where to store.
        threads: How many threads store at once.
        pause: Seconds each thread sleeps between stores.
    """

    def __init__(
        self, storage: AlertStorage, threads: int = 4, pause: float = 0.0005
    ) -> None:
        self.storage = storage
        self.pause = pause
        self.results: list[StoreResult] = []
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(seed,), daemon=True)
            for seed in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the threads and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, seed: int) -> None:
        n = seed * 11
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                result = self.storage.store(numbered_alert(n))
            except Exception as exc:  # reported by the test, not lost in a thread
                with self._lock:
                    self.errors.append(exc)
                return
            with self._lock:
                self.latencies.append(time.perf_counter() - start)
                self.results.append(result)
            n += 1
            time.sleep(self.pause)

    def count(self, predicate: Callable[[StoreResult], bool]) -> int:
        """Return how many results so far satisfy ``predicate``."""
        with self._lock:
            return sum(1 for r in self.results if predicate(r))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def wait_for_mode(cascade: CascadeStorage, mode: str, timeout: float = 15.0) -> bool:
    """Call the cascade (which drives its probes) until it serves from ``mode``."""

    def serving() -> bool:
        cascade.count_active()
        return cascade.mode == mode

    return wait_for(serving, timeout)


def check_after_recovery(
    cascade: CascadeStorage,
    results: list[StoreResult],
    *,
    trusted: set[str],
    extra_allowed: int | None,
) -> dict[str, int]:
    """Check the invariants of a recovered cascade against what callers were told.

    Every fingerprint acknowledged (STORED or DUPLICATE) by a tier in
    ``trusted`` is firing exactly once in the serving tier, with a count no
    lower than any count a caller was told and no lower than the number of
    acknowledgements. Unless ``extra_allowed`` is None, counts exceed the
    acknowledgements by at most that many (calls whose reply was lost after
    the server applied them, then served again by a lower tier).

    Returns:
        The final count per fingerprint.
    """
    assert cascade.mode == "redis"
    assert cascade.metrics()["pending_replay"] == 0
    active = cascade.tiers[0].get_active(limit=10_000)
    per_fingerprint = Counter(a.fingerprint for a in active)
    assert set(per_fingerprint.values()) <= {1}, "an alert is firing twice"
    counts = {a.fingerprint: a.count for a in active}
    acked = [
        r
        for r in results
        if r.status in (StoreStatus.STORED, StoreStatus.DUPLICATE)
        and r.backend in trusted
    ]
    acknowledged = Counter(r.fingerprint for r in acked)
    for result in acked:
        assert result.fingerprint in counts, "an acknowledged alert is missing"
        assert counts[result.fingerprint] >= result.count, "a count went down"
    for fingerprint, n in acknowledged.items():
        assert counts[fingerprint] >= n, "an acknowledged store was not counted"
    if extra_allowed is not None:
        surplus = sum(counts[fp] for fp in acknowledged) - len(acked)
        assert surplus <= extra_allowed, f"{surplus} stores counted twice"
    ids = {r.alert_id for r in acked if r.alert_id}
    for alert_id in sorted(ids)[:100]:
        found = cascade.get(alert_id)
        assert found is not None, "an acknowledged alert id cannot be read"
        assert found.fingerprint in counts
    return counts
