"""The run matrix: execute many run specs with N parallel workers, interruptibly.

Job: run specs through `outcome.execute` on a thread pool (each run is its own child process
tree), report each outcome as it finishes, and return them in spec order. Ctrl-C or SIGTERM
sets an abort event that ends every running child's tree at once; `Interrupted` then carries
the outcomes finished before it. The caller's signal handler should set the `stop` event
rather than raise KeyboardInterrupt: an exception raised at an arbitrary point of the main
thread can leave a future's lock half-acquired (concurrent.futures.wait acquires them in a
loop) and deadlock the cleanup. A KeyboardInterrupt is still handled.

Must not import: mlx, the child side, reporters.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from ..launching.spec import RunSpec
from .outcome import Outcome, execute

MAX_AUTO_JOBS = 4


def auto_jobs() -> int:
    """One worker per core, at most MAX_AUTO_JOBS (each child is itself multi-threaded)."""
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))


class Watcher(Protocol):
    """Live progress (optional): told on the worker threads when a run starts, of each of
    its records, and when it ends. `index` is the spec's position. Must be quick."""

    def started(self, index: int, spec: RunSpec) -> None: ...
    def record(self, index: int, record: dict) -> None: ...
    def finished(self, index: int, outcome: Outcome) -> None: ...


class Interrupted(Exception):
    """`finished`: the runs that ended on their own; `stopped`: those the interruption
    ended (their verdict `interrupted`, with the diagnosis of that moment)."""

    def __init__(self, finished: list[Outcome], stopped: list[Outcome] | None = None) -> None:
        super().__init__(f"interrupted after {len(finished)} runs")
        self.finished = finished
        self.stopped = stopped or []


def run_all(specs: list[RunSpec], jobs: int,
            on_done: Callable[[Outcome], None] = lambda o: None,
            watcher: Watcher | None = None,
            stop: threading.Event | None = None) -> list[Outcome]:
    """All outcomes in spec order; raises Interrupted (with the finished ones) when `stop` is
    set or on Ctrl-C (KeyboardInterrupt)."""
    abort = stop or threading.Event()
    results: dict[int, Outcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mlxprobe-run") as pool:
        futures = {pool.submit(_execute, i, spec, abort, watcher): i
                   for i, spec in enumerate(specs)}
        try:
            _collect(futures, set(futures), results, on_done, abort)
        except KeyboardInterrupt:
            abort.set()
        if abort.is_set():
            for future in futures:
                future.cancel()
            wait(futures)
            _collect(futures, {f for f in futures if f.done() and not f.cancelled()},
                     results, lambda o: None, threading.Event())
            finished = [results[i] for i in sorted(results) if not results[i].raw.interrupted]
            stopped = [results[i] for i in sorted(results) if results[i].raw.interrupted]
            raise Interrupted(finished, stopped) from None
    return [results[i] for i in sorted(results)]


def _execute(index: int, spec: RunSpec, abort: threading.Event,
             watcher: Watcher | None) -> Outcome:
    if watcher is None:
        return execute(spec, abort)
    watcher.started(index, spec)
    outcome = execute(spec, abort, lambda record: watcher.record(index, record))
    watcher.finished(index, outcome)
    return outcome


def _collect(futures: dict[Future, int], pending: set[Future], results: dict[int, Outcome],
             on_done: Callable[[Outcome], None], abort: threading.Event) -> None:
    while pending and not abort.is_set():
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        if abort.is_set():
            return  # runs ended by the abort are not reported as finished
        for future in done:
            if futures[future] not in results:
                results[futures[future]] = outcome = future.result()
                on_done(outcome)
