"""The text report printed on stdout, built from the results document alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RULE = "=" * 80
Document = dict[str, Any]
_OPS = (
    ("store", "Store"),
    ("get", "Get"),
    ("get_active_100", "Get active (100)"),
)


def ms(value: float | None) -> str:
    """Format milliseconds with the precision their size deserves."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}ms"
    if value >= 1:
        return f"{value:.2f}ms"
    return f"{value:.3f}ms"


def rate(value: float | None) -> str:
    """Format a throughput."""
    return "n/a" if value is None else f"{value:,.0f}/s"


def format_report(document: Document) -> str:
    """Return the whole report as text (ends with a newline)."""
    parts = [
        _header(document),
        _floor(document.get("floor") or {}),
        *(
            _mode(key, mode, document)
            for key, mode in document.get("modes", {}).items()
        ),
        _limits(document),
        _legacy(document.get("legacy") or {}),
        _fallback(document.get("fallback") or {}),
        _memory(document.get("memory") or {}),
        _errors(document),
        _targets(document.get("targets", [])),
        _goals(document.get("goals", [])),
        _overall(document),
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _header(document: Document) -> str:
    machine = document.get("machine", {})
    url = document.get("redis_url") or "none (embedded default: file and memory)"
    lines = [
        RULE,
        "PHASE 2A ALERT STORAGE PERFORMANCE BENCHMARK",
        RULE,
        f"Redis URL: {url}",
        f"Start time: {document.get('start_time', '')}",
        f"Run: {'quick' if document.get('quick') else 'full'}; "
        f"{machine.get('cpu_count')} CPUs, Python {machine.get('python')}, "
        f"load average {machine.get('load_average_start')}",
    ]
    redis_info = document.get("redis")
    if redis_info:
        lines.append(f"Redis server: {redis_info.get('version')}")
    return "\n".join(lines) + "\n"


def _status_line(title: str, section: dict[str, Any]) -> str | None:
    status = section.get("status")
    if status in (None, "measured"):
        return None
    return f"[{title}] {status.upper()}: {section.get('reason')}\n"


def _floor(section: dict[str, Any]) -> str:
    skipped = _status_line("FLOOR", section)
    if skipped:
        return skipped
    lines = ["[FLOOR] The machine's own limits, measured in this run"]
    for key, label in (
        ("ping", "redis-py PING"),
        ("evalsha", "EVALSHA of a trivial script"),
        ("append", "File append"),
        ("append_fsync", "File append + fsync"),
    ):
        entry = section.get(key)
        if entry:
            lines.append(
                f"  {label}: P50 {ms(entry['p50_ms'])}, P95 {ms(entry['p95_ms'])}, "
                f"P99 {ms(entry['p99_ms'])}, {rate(entry['throughput_ops'])}"
            )
    cost = section.get("server_script_cost")
    if cost:
        lines.append(
            f"  Server time per trivial script call: {cost['usec_per_call']:.1f}us"
        )
    return "\n".join(lines) + "\n"


def _mode(key: str, mode: dict[str, Any], document: Document) -> str:
    label = mode.get("label", key)
    if mode.get("status") == "skipped":
        return f"[BENCHMARK] {label} mode: SKIPPED ({mode.get('reason')})\n"
    ops = mode.get("operations", {})
    count = ops.get("store", {}).get("calls", 0)
    lines = [f"[BENCHMARK] Testing {label} mode ({count} operations)"]
    lines.extend(_mode_lines(ops, document.get("workload", {})))
    dedup = mode.get("dedup")
    if dedup:
        lines.append(f"  Dedup under concurrency: {_dedup(dedup)}")
    if mode.get("status") == "error":
        lines.append(f"  ERROR: {mode.get('reason')}")
    return "\n".join(lines) + "\n"


def _mode_lines(ops: dict[str, Any], load: dict[str, Any]) -> Iterator[str]:
    for op, title in _OPS:
        entry = ops.get(op)
        if entry:
            yield (
                f"  {title} P95: {ms(entry['p95_ms'])}, P99: {ms(entry['p99_ms'])}"
                f" (P50 {ms(entry['p50_ms'])}, max {ms(entry['max_ms'])},"
                f" {rate(entry['throughput_ops'])})"
            )
    store = ops.get("store")
    if store and store.get("statuses"):
        yield f"  Store outcomes: {_statuses(store['statuses'])}"
    paired = [
        f"{op[len('paired_') :]} P95 {ms(e['p95_ms'])} ({rate(e['throughput_ops'])})"
        for op, e in ops.items()
        if op.startswith("paired_")
    ]
    if paired:
        yield f"  Floor interleaved with the stores: {', '.join(paired)}"
    entry = ops.get("concurrent_store")
    if entry:
        yield (
            f"  Concurrent ({load.get('threads')} threads"
            f" x {load.get('ops_per_thread')} ops): {rate(entry['throughput_ops'])},"
            f" P95 {ms(entry['p95_ms'])},"
            f" P99 {ms(entry['p99_ms'])}"
        )
    entry = ops.get("store_many")
    if entry:
        yield (
            f"  store_many ({load.get('batches')} x {load.get('batch_size')}):"
            f" {rate(entry['throughput_ops'])} alerts, batch P95 {ms(entry['p95_ms'])}"
        )


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in statuses.items())


def _dedup(check: dict[str, Any]) -> str:
    if check["correct"]:
        stores, count = check["stores"], check["final_count"]
        return f"correct ({stores} stores -> 1 alert, count {count})"
    if check.get("corrupted"):
        return (
            f"BROKEN ({check['stores']} stores, {check['failed']} failed, and the"
            " file was left unreadable)"
        )
    return (
        f"BROKEN ({check['stores']} stores -> {check['alerts_held']} alert(s),"
        f" {check['stored']} STORED, count {check['final_count']},"
        f" {check['lost_updates']} lost, {check['failed']} failed)"
    )


def _limits(document: Document) -> str | None:
    section = document.get("limits") or {}
    skipped = _status_line("LIMITS", section)
    if skipped or not section:
        return skipped
    hit = section["hit"]
    ours = document.get("modes", {}).get("redis", {}).get("operations", {}).get("store")
    lines = [
        "[LIMITS] limits MovingWindowRateLimiter.hit() on the same Redis",
        f"  hit P95: {ms(hit['p95_ms'])}, P99: {ms(hit['p99_ms'])},"
        f" {rate(hit['throughput_ops'])}",
    ]
    if ours:
        ratio = (
            ours["throughput_ops"] / hit["throughput_ops"]
            if hit["throughput_ops"]
            else 0
        )
        lines.append(
            f"  Our Redis store: {rate(ours['throughput_ops'])} ({ratio:.2f}x limits)"
        )
    return "\n".join(lines) + "\n"


def _legacy(section: dict[str, Any]) -> str | None:
    skipped = _status_line("LEGACY", section)
    if skipped or not section:
        return skipped
    lines = ["[LEGACY] The Phase 1 ways against ours"]
    for key, title in (
        ("json_rewrite", "JSON file rewritten per store"),
        ("redis_plain", "Plain redis-py, no Lua"),
    ):
        part = section.get(key)
        if not part:
            continue
        if part.get("status") not in (None, "measured"):
            lines.append(f"  {title}: {part['status'].upper()} ({part.get('reason')})")
            continue
        at = f" at {part['prefill']} alerts" if part.get("prefill") else ""
        store = part["store"]
        lines.append(
            f"  {title}{at}: store mean {ms(store['mean_ms'])},"
            f" P95 {ms(store['p95_ms'])}"
        )
        if part.get("speed_ratio"):
            ours = ms(part["ours_mean_ms"])
            lines.append(f"    ours mean {ours}: {_speed(part['speed_ratio'])}")
        lines.append(f"    dedup under concurrency: {_dedup(part['dedup'])}")
    return "\n".join(lines) + "\n"


def _speed(ratio: float) -> str:
    if ratio >= 1:
        return f"legacy is {ratio:.1f}x slower than ours"
    return f"legacy is {1 / ratio:.1f}x FASTER than ours"


def _fallback(section: dict[str, Any]) -> str | None:
    skipped = _status_line("FALLBACK", section)
    if skipped or not section:
        return skipped
    lines = ["[FALLBACK] Cascade through a real outage (private redis-server killed)"]
    for key, title in (
        ("before", "Before"),
        ("degraded", "Redis down"),
        ("paired_file_store", "Plain file, interleaved"),
        ("after", "After"),
    ):
        entry = section.get(key)
        if entry:
            lines.append(
                f"  {title}: store P95 {ms(entry['p95_ms'])},"
                f" P99 {ms(entry['p99_ms'])},"
                f" max {ms(entry['max_ms'])}; {_statuses(entry.get('statuses', {}))}"
            )
    if section.get("first_degraded_call_ms") is not None:
        first = ms(section["first_degraded_call_ms"])
        lines.append(f"  First store after the kill (detects it): {first}")
    if section.get("recovery_seconds") is not None:
        lines.append(
            f"  Recovery: serving from Redis {section['recovery_seconds']:.3f}s after"
            f" restart; replayed {section.get('replayed')} items"
            f" at {rate(section.get('replay_rate'))}"
        )
    if section.get("lost") is not None:
        lines.append(f"  Alerts lost across the outage: {section['lost']}")
    return "\n".join(lines) + "\n"


def _memory(section: dict[str, Any]) -> str | None:
    skipped = _status_line("MEMORY", section)
    if skipped or not section:
        return skipped
    py = section.get("python", {})
    lines = [
        "[MEMORY]",
        f"  Python heap: {py.get('python_bytes_per_alert', 0):.0f} bytes/alert held"
        f" ({py.get('alerts')} alerts,"
        f" traced peak {_mib(py.get('python_peak_bytes'))})",
        f"  RSS: {_mib(section.get('rss_start_bytes'))} at start,"
        f" {_mib(section.get('rss_end_bytes'))} at end,"
        f" peak {_mib(section.get('peak_rss_bytes'))}",
    ]
    redis_part = section.get("redis")
    if redis_part and redis_part.get("status") == "measured":
        lines.append(
            f"  Redis: {redis_part['bytes_per_alert']:.0f} bytes/alert (MEMORY USAGE of"
            f" {redis_part['keys']} keys), INFO used_memory"
            f" {redis_part['info_bytes_per_alert']:.0f} bytes/alert"
        )
    elif redis_part:
        lines.append(
            f"  Redis: {redis_part.get('status')} ({redis_part.get('reason')})"
        )
    return "\n".join(lines) + "\n"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1048576:.1f} MiB"


def _errors(document: Document) -> str:
    lines = ["[ERRORS AND DEGRADATION]"]
    total = 0
    for key, mode in document.get("modes", {}).items():
        for op, entry in mode.get("operations", {}).items():
            if entry.get("errors"):
                total += entry["errors"]
                lines.append(
                    f"  {mode.get('label', key)} {op}: {entry['errors']} errors"
                    f" ({entry['error_rate']:.1%}):"
                    f" {'; '.join(entry.get('error_samples', []))}"
                )
    if not total:
        lines.append("  No call raised in any mode.")
    degradation = document.get("degradation") or {}
    for name, value in degradation.items():
        lines.append(f"  {name}: {value}")
    return "\n".join(lines) + "\n"


def _targets(rows: list[dict[str, Any]]) -> str:
    lines = ["[PERFORMANCE TARGETS]"]
    for row in rows:
        unit = row["unit"]
        bound = (
            f"{row['relation']} {row['threshold']:g}{'' if unit == 'ms' else ' '}{unit}"
        )
        if row["value"] is None:
            measured = "not measured"
        else:
            shown = ms(row["value"]) if unit == "ms" else rate(row["value"])
            measured = f"{shown}, {row['mode']}"
        lines.append(
            f"  {row['label'] + ' Target:':<22}{bound:<14}{row['verdict']} ({measured})"
        )
    return "\n".join(lines) + "\n"


def _goals(rows: list[dict[str, Any]]) -> str:
    lines = ["[GOALS] Ratios to the floor, this run (see docs/benchmarks.md)"]
    for row in rows:
        lines.append(f"  {row['label']}: {row['verdict']}{_goal_detail(row)}")
        if row.get("note"):
            lines.append(f"    note: {row['note']}")
    return "\n".join(lines) + "\n"


def _goal_detail(row: dict[str, Any]) -> str:
    if row["value"] is None:
        return ""
    value, bound, unit = row["value"], row.get("bound"), row["unit"]
    if unit == "ms":
        text = f" ({ms(value)}"
        text += f" vs bound {ms(bound)}" if bound is not None else ""
    elif unit == "x":
        text = f" ({value:.1f}x"
    else:
        text = f" ({rate(value)}"
        text += f" vs bound {rate(bound)}" if bound is not None else ""
    if row.get("ratio") is not None:
        text += f"; ratio {row['ratio']:.2f}, needs {row['relation']} {row['factor']:g}"
    return text + ")"


def _overall(document: Document) -> str:
    result = document.get("overall", {})
    lines = []
    for problem in result.get("problems", []):
        lines.append(f"[PROBLEM] {problem}")
    lines.append(f"[OVERALL] Phase 2A Performance: {result.get('verdict')}")
    missed = result.get("goals_missed", [])
    lines.append(
        f"[GOALS] {result.get('goals_met', 0)} met, {len(missed)} not met,"
        f" {len(result.get('goals_not_measured', []))} not measured"
        + ("" if result.get("strict_goals") else " (goals do not change the exit code)")
    )
    return "\n".join(lines)
