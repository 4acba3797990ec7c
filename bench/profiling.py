"""py-spy profiles of live server processes, summarised as text: where the CPU of a scenario goes.

py-spy (in ``bench/.peer-venv``, outside the project's environment) attaches to each gunicorn or
Celery worker from outside (``--nonblocking``: the worker is never paused) and records stacks of
non-idle threads at 250 Hz. Samples are folded into inclusive and self shares per function.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")
PROJECT = ("clinic/", "scheduling/", "monitoring/", "intake/", "config/", "bench/")


def _short_file(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for root in PROJECT:
        if root in path:
            return root + path.split(root, 1)[1]
    return path


def _frame(raw: str) -> tuple[str, str]:
    match = FRAME.match(raw.strip())
    if not match:
        return raw.strip(), ""
    return match["func"], _short_file(match["file"])


class Recorder:
    def __init__(self, spy: Path, pids: list[int], seconds: float, prefix: Path):
        self.spy, self.pids, self.seconds, self.prefix = spy, pids, seconds, prefix
        self.procs: list[subprocess.Popen] = []
        self.files: list[Path] = []

    def __enter__(self) -> Recorder:
        for pid in self.pids:
            path = Path(f"{self.prefix}-{pid}.txt")
            self.files.append(path)
            self.procs.append(
                subprocess.Popen(
                    [
                        str(self.spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(self.seconds)),
                        "--rate",
                        "250",
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--output",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.terminate()

    def summary(self, top: int = 30) -> dict:
        inclusive: Counter = Counter()
        self_time: Counter = Counter()
        project_leaf: Counter = Counter()
        total = 0
        for path in self.files:
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit():
                    continue
                n = int(count)
                total += n
                frames = [_frame(f) for f in stack.split(";") if f]
                for key in {f"{func} ({file})" for func, file in frames}:
                    inclusive[key] += n
                if frames:
                    func, file = frames[-1]
                    self_time[f"{func} ({file})"] += n
                    # The innermost project frame: which of our functions the time is spent under.
                    for func, file in reversed(frames):
                        if file.startswith(PROJECT):
                            project_leaf[f"{func} ({file})"] += n
                            break

        def share(counter: Counter) -> list[tuple[str, float]]:
            return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []

        return {
            "samples": total,
            "inclusive": share(inclusive),
            "self": share(self_time),
            "innermost_project": share(project_leaf),
        }
