"""Under pytest-xdist, results measured on workers reach the controller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("xdist")


def test_worker_results_reach_summary_and_json(
    bench_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """With -n 2 every perf test is in the summary and the JSON, with a note."""
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf
        @pytest.mark.perf_target(store_p95_ms=60000)
        @pytest.mark.parametrize("case", range(4))
        def test_store(case, perf_recorder):
            perf_recorder.run("store", lambda i: None, 20 + case)
        """
    )
    out = tmp_path / "perf.json"

    result = bench_pytester.runpytest_subprocess(
        "-n", "2", "--alertbench-json", str(out), timeout=120
    )

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*measured on 2 pytest-xdist workers*-p no:xdist*",
            "[[]PERF[]] *test_store[[]0[]]: PASSED",
            "[[]PERF[]] *test_store[[]3[]]: PASSED",
            "[[]OVERALL[]] 4 perf tests, 4 with targets: MEETS TARGETS",
        ]
    )
    document = json.loads(out.read_text())
    assert document["xdist_workers"] == 2
    counts = sorted(t["operations"]["store"]["count"] for t in document["tests"])
    assert counts == [20, 21, 22, 23]
