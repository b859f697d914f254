"""A build's progress: the callback it reports to, the seconds its stages took, and its
progress as log lines for when nobody watches a terminal (`rag serve`, CI, a pipe).

A build reports `progress(stage, done, total)` after every batch; `ProgressLog` writes one
line per stage when it starts, then at most one every `every` seconds, and one when it ends:
stage, done/total, rate, and the time left at that rate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

# Called as progress(stage, done, total) while a build runs.
ProgressCallback = Callable[[str, int, int], None]


class Stages(dict[str, float]):
    """Seconds spent in each stage of a build, in the order the stages ran."""

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - started


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressLog:
    """A build's progress callback that writes lines at a steady pace."""

    def __init__(
        self,
        write: Callable[[str], None],
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.every, self.clock = write, every, clock
        self._started: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        first = stage not in self._started
        started = self._started.setdefault(stage, now)
        finished = total > 0 and done >= total
        if not (first or finished or now - self._last.get(stage, now) >= self.every):
            return
        self._last[stage] = now
        elapsed = now - started
        line = f"{stage}: {done}/{total}"
        if total:
            line += f" ({100 * done // total}%)"
        if finished:
            line += f", done in {_duration(elapsed)}"
        elif done and elapsed > 0:
            rate = done / elapsed
            line += f", {rate:.0f}/s, about {_duration((total - done) / rate)} left"
        self.write(line)
