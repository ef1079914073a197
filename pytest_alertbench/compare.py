"""Comparing two saved runs on P50/P95/P99 and throughput, with tolerances.

A run is any of: the plugin's ``--alertbench-json`` file, a pytest-benchmark
JSON file (``--benchmark-json`` or autosave) holding our ``extra_info``, or
any other JSON document (such as the benchmark runner's) whose objects carry
``p50_ms``/``p95_ms``/``p99_ms``/``throughput_ops`` figures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_alertbench.results import SCHEMA
from pytest_alertbench.targets import format_ms, format_value

# metric name on the command line -> (figure key, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "p50": ("p50_ms", False),
    "p95": ("p95_ms", False),
    "p99": ("p99_ms", False),
    "max": ("max_ms", False),
    "mean": ("mean_ms", False),
    "throughput": ("throughput_ops", True),
}
SHOWN = ("p50", "p95", "p99", "throughput")
_FIGURE_KEYS = frozenset(key for key, _ in METRICS.values())
_NAME_FIELDS = ("nodeid", "fullname", "name", "mode", "operation", "id")
_SPEC = re.compile(r"(?P<metric>[a-z0-9]+):(?P<percent>[0-9]*\.?[0-9]+)%?\Z")

Figures = dict[str, float]
Run = dict[str, Figures]


class CompareError(ValueError):
    """A run cannot be read, or a ``--fail-on`` rule is malformed."""


def parse_fail_on(specs: Iterable[str]) -> dict[str, float]:
    """Parse rules like ``p95:10%`` into tolerances (as fractions) by metric.

    Raises:
        CompareError: unknown metric or malformed percentage.
    """
    tolerances: dict[str, float] = {}
    for spec in specs:
        match = _SPEC.match(spec.strip().lower())
        if match is None or match["metric"] not in METRICS:
            raise CompareError(
                f"--fail-on {spec!r}: expected METRIC:PERCENT with METRIC one of "
                f"{', '.join(METRICS)}, e.g. p95:10%"
            )
        tolerances[match["metric"]] = float(match["percent"]) / 100.0
    return tolerances


def load_run(path: Path) -> Run:
    """Read a saved run into ``{entry: {figure key: value}}``.

    Raises:
        CompareError: unreadable file, invalid JSON, or no figures in it.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path} is not a JSON file ({exc})") from exc
    run = extract_run(document)
    if not run:
        raise CompareError(f"{path} holds no P50/P95/P99 or throughput figures")
    return run


def extract_run(document: Any) -> Run:
    """Return the figures of a loaded JSON document, by entry name."""
    if isinstance(document, Mapping) and document.get("schema") == SCHEMA:
        return _from_plugin(document)
    if isinstance(document, Mapping) and isinstance(document.get("benchmarks"), list):
        return _from_pytest_benchmark(document["benchmarks"])
    run: Run = {}
    _walk(document, "", run)
    return run


@dataclass(frozen=True, slots=True)
class Delta:
    """One figure of one entry in both runs.

    Attributes:
        entry: The entry's name (test and operation, or a JSON path).
        metric: The metric name (``p95``, ``throughput``...).
        old: The figure in the old run.
        new: The figure in the new run.
        tolerance: The allowed worsening as a fraction, or None if unchecked.
    """

    entry: str
    metric: str
    old: float
    new: float
    tolerance: float | None

    @property
    def change(self) -> float:
        """Relative change from old to new (0.1 is +10%); inf from zero."""
        if self.old == 0:
            return 0.0 if self.new == 0 else math.inf
        return (self.new - self.old) / self.old

    @property
    def worsening(self) -> float:
        """How much worse the new figure is, as a fraction (negative: better)."""
        higher_is_better = METRICS[self.metric][1]
        return -self.change if higher_is_better else self.change

    @property
    def regressed(self) -> bool:
        """True when a tolerance applies and the worsening exceeds it."""
        return self.tolerance is not None and self.worsening > self.tolerance


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every compared figure, and the entries only one run has."""

    deltas: list[Delta]
    only_old: list[str]
    only_new: list[str]

    @property
    def regressions(self) -> list[Delta]:
        """The figures that worsened beyond their tolerance."""
        return [delta for delta in self.deltas if delta.regressed]


def compare_runs(old: Run, new: Run, tolerances: Mapping[str, float]) -> Comparison:
    """Compare two runs entry by entry.

    Args:
        old: The baseline run.
        new: The run under judgement.
        tolerances: Allowed worsening by metric; other metrics are shown only.
    """
    deltas = []
    metrics = list(SHOWN) + [m for m in tolerances if m not in SHOWN]
    for entry in sorted(old.keys() & new.keys()):
        for metric in metrics:
            key = METRICS[metric][0]
            if key in old[entry] and key in new[entry]:
                deltas.append(
                    Delta(
                        entry,
                        metric,
                        old[entry][key],
                        new[entry][key],
                        tolerances.get(metric),
                    )
                )
    return Comparison(
        deltas, sorted(old.keys() - new.keys()), sorted(new.keys() - old.keys())
    )


def render_comparison(
    comparison: Comparison, tolerances: Mapping[str, float]
) -> list[str]:
    """Return the lines of a human-readable comparison report."""
    lines: list[str] = []
    entry = None
    for delta in comparison.deltas:
        if delta.entry != entry:
            entry = delta.entry
            lines.append(entry)
        lines.append(f"  {_delta_line(delta)}")
    for name in comparison.only_old:
        lines.append(f"only in OLD: {name}")
    for name in comparison.only_new:
        lines.append(f"only in NEW: {name}")
    rules = ", ".join(f"{m} {t:.0%}" for m, t in tolerances.items()) or "none"
    found = len(comparison.regressions)
    verdict = f"{found} REGRESSIONS" if found else "no regression"
    lines.append(f"[COMPARE] tolerances: {rules}; {verdict}")
    return lines


def _delta_line(delta: Delta) -> str:
    unit = "ops/s" if delta.metric == "throughput" else "ms"
    change = "new" if math.isinf(delta.change) else f"{delta.change:+.1%}"
    text = (
        f"{delta.metric:<11}{_figure(delta.old, unit):>14} -> "
        f"{_figure(delta.new, unit):>14}  {change:>8}"
    )
    if delta.regressed:
        text += f"  REGRESSION (worse by more than {delta.tolerance:.0%})"
    return text


def _figure(value: float, unit: str) -> str:
    return format_ms(value) if unit == "ms" else format_value(value, unit)


def _from_plugin(document: Mapping[str, Any]) -> Run:
    run: Run = {}
    for test in document.get("tests", []):
        for operation, figures in test.get("operations", {}).items():
            run[f"{test['nodeid']} {operation}"] = _figures(figures)
    return run


def _from_pytest_benchmark(benchmarks: Sequence[Any]) -> Run:
    run: Run = {}
    for bench in benchmarks:
        info = (bench.get("extra_info") or {}).get("alertbench")
        if not isinstance(info, Mapping):
            continue
        nodeid = info.get("nodeid") or bench.get("fullname")
        for operation, figures in info.get("operations", {}).items():
            run[f"{nodeid} {operation}"] = _figures(figures)
    return run


def _walk(node: Any, path: str, run: Run) -> None:
    if isinstance(node, Mapping):
        figures = _figures(node)
        if figures:
            run[path or "(top level)"] = figures
        for key, value in node.items():
            if isinstance(value, (Mapping, list)):
                _walk(value, f"{path}/{key}" if path else str(key), run)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{path}/{_item_name(item, index)}", run)


def _item_name(item: Any, index: int) -> str:
    # Named list items keep their entry names stable when the order changes.
    if isinstance(item, Mapping):
        for name in _NAME_FIELDS:
            if isinstance(item.get(name), str):
                return str(item[name])
    return str(index)


def _figures(data: Mapping[str, Any]) -> Figures:
    return {
        key: float(value)
        for key, value in data.items()
        if key in _FIGURE_KEYS
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }
