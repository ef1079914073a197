"""Run the Phase 2A alert storage benchmark (``alertbench run`` does the same).

Usage: ``python tests/performance/benchmark_alert_storage.py [--redis-url URL]
[--quick] [--json-dir DIR] [--plot]``; ``--help`` lists every option.
"""

from __future__ import annotations

import sys

from pytest_alertbench.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
