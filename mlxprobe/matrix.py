"""The run matrix: execute many run specs with N parallel workers, interruptibly.

Job: run specs through `outcome.execute` on a thread pool (each run is its own child process
tree), report each outcome as it finishes, and return them in spec order. Ctrl-C or SIGTERM
(KeyboardInterrupt in the main thread) sets an abort event that ends every running child's
tree at once; `Interrupted` then carries the outcomes finished before it.

Must not import: mlx, the child side, reporters.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from .outcome import Outcome, execute
from .spec import RunSpec

MAX_AUTO_JOBS = 4


def auto_jobs() -> int:
    """One worker per core, at most MAX_AUTO_JOBS (each child is itself multi-threaded)."""
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))


class Interrupted(Exception):
    def __init__(self, finished: list[Outcome]) -> None:
        super().__init__(f"interrupted after {len(finished)} runs")
        self.finished = finished


def run_all(specs: list[RunSpec], jobs: int,
            on_done: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
    """All outcomes in spec order; raises Interrupted (with the finished ones) on Ctrl-C."""
    abort = threading.Event()
    results: dict[int, Outcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mlxprobe-run") as pool:
        futures = {pool.submit(execute, spec, abort): i for i, spec in enumerate(specs)}
        try:
            _collect(futures, set(futures), results, on_done)
        except KeyboardInterrupt:
            abort.set()
            for future in futures:
                future.cancel()
            wait(futures)
            _collect(futures, {f for f in futures if f.done() and not f.cancelled()},
                     results, lambda o: None)
            finished = [results[i] for i in sorted(results) if not results[i].raw.interrupted]
            raise Interrupted(finished) from None
    return [results[i] for i in sorted(results)]


def _collect(futures: dict[Future, int], pending: set[Future], results: dict[int, Outcome],
             on_done: Callable[[Outcome], None]) -> None:
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        for future in done:
            if futures[future] not in results:
                results[futures[future]] = outcome = future.result()
                on_done(outcome)
