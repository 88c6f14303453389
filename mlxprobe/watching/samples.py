"""The sample store: what the parent keeps of the sampler's readings, bounded.

Job: keep every `Sample` up to FULL_SAMPLES (20 minutes at 20 Hz), then an evenly thinned
history (plots, RSS at steps, the leak fit) and the last RECENT_SAMPLES in full (the stall's
CPU window reads the samples since the last heartbeat), with the exact peak RSS and compiler
seconds kept as they come. Safe from any thread.

Must not import: mlx, the runner, judging.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from .facts import Sample, SampleFacts
from .thinned import Thinned

FULL_SAMPLES = 24_000  # 20 minutes at 20 Hz kept whole
THINNED_SAMPLES = 8_192  # then 4,096-8,192 evenly spaced ones (RSS at steps, plots)
RECENT_SAMPLES = 2_400  # then the last 2 minutes in full


class SampleStore:
    """Samples in arrival order, bounded; `facts()` holds the exact running values."""

    def __init__(self, limit: int = FULL_SAMPLES, recent: int = RECENT_SAMPLES) -> None:
        self._history: Thinned[Sample] = Thinned(limit, recent, THINNED_SAMPLES)
        self._peak = 0
        self._compile_s: float = 0
        self._lock = threading.Lock()

    def append(self, sample: Sample) -> None:
        with self._lock:
            history = self._history
            if history.count and history.recent[-1].compiling:
                self._compile_s += sample.t - history.recent[-1].t
            self._peak = max(self._peak, sample.rss)
            history.add(sample)

    def latest(self) -> Sample | None:
        with self._lock:
            return self._history.recent[-1] if self._history.count else None

    def since(self, t: float) -> list[Sample]:
        """The kept samples taken at or after `t` (all of them while recent)."""
        with self._lock:
            return [s for s in self._history.merged() if s.t >= t]

    def retained(self) -> list[Sample]:
        with self._lock:
            return self._history.merged()

    def facts(self) -> SampleFacts:
        """Exact over every sample (computed as before from the samples while all are kept)."""
        with self._lock:
            if not self._history.thinned:
                return SampleFacts.of(self._history.kept)
            return SampleFacts(self._history.count, self._peak, self._compile_s)

    def __len__(self) -> int:
        return self._history.count

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.retained())
