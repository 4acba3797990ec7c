"""The benchmark harness: see BENCHMARKS.md and ``bench/run.py --help``."""
