"""Bench-only settings: the production settings, plus the baseline endpoints A1/A2 (never in the project's URLs).

The project itself is always served with ``config.settings.production``; this module serves the
baselines and the in-process measurements (whose URL set is a superset of the project's).
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
