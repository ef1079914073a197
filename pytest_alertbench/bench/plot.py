"""``--plot``: a PNG of latency distributions per mode (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = "pip install 'alert-storage[plot]'"


def write_plot(latencies: dict[str, list[float]], path: Path) -> tuple[bool, str]:
    """Draw one box per mode and operation (milliseconds, log scale) to ``path``.

    Args:
        latencies: Seconds per call, keyed by a label such as ``Redis store``.
        path: The PNG to write.

    Returns:
        Whether a plot was written, and a line saying where or why not.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return False, f"--plot needs matplotlib ({INSTALL_HINT}); no plot written"
    shown = {label: values for label, values in latencies.items() if values}
    if not shown:
        return False, "--plot: nothing was measured; no plot written"
    figure, axes = pyplot.subplots(figsize=(10, 1 + 0.45 * len(shown)))
    labels = list(shown)
    axes.boxplot(
        [[value * 1000 for value in shown[label]] for label in labels],
        vert=False,
        whis=(5, 95),
        showfliers=False,
    )
    axes.set_yticks(range(1, len(labels) + 1), labels)
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms), whiskers at P5 and P95")
    axes.set_title("Phase 2A alert storage latency per mode")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return True, f"Plot written to: {path}"
