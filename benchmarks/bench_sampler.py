"""Point 3: CPU the parent spends per second of child run, sampling at the default 20 Hz.

A real child (benchmarks/children/bench_child.py `steady`: the fixed tiny-LM loop, about 100
heartbeats a second, for SECONDS s) runs through `runner.run` in this process, alternately
with the default sampler, with the sampler as it was before this benchmark (psutil, every
process on the machine read each sample; kept here as `PsutilSampler`) and with the sampler
reduced to its one start-up and one final sample (each first in turn). Per run, per second of
child run:
- the sampler thread's own CPU (time.thread_time inside the thread), and the part of it
  spent looking for new descendants;
- the record reader thread's CPU (parsing ~100 heartbeats a second) and the watchdog loop's
  (this thread, ticking at 20 Hz), timed the same way;
- this whole process's CPU (time.process_time); with the sampler on minus with it off is the
  sampler's share measured from outside its thread.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psutil
from bench_common import CHILDREN, Section, Target, median, spread

from mlxprobe.launching import catalog
from mlxprobe.launching.spec import spec_for
from mlxprobe.watching import runner
from mlxprobe.watching.facts import Sample
from mlxprobe.watching.records import RecordReader
from mlxprobe.watching.sampler import COMPILERS, INTERVAL_S, Sampler

SECONDS = 20


class ThreadCPU:
    """Mixin for a Thread: `cpu_s` is the CPU time its run() used."""

    cpu_s = 0.0

    def run(self) -> None:
        started = time.thread_time()
        try:
            super().run()  # type: ignore[misc]
        finally:
            self.cpu_s = time.thread_time() - started


class TimedSampler(ThreadCPU, Sampler):
    """The real sampler, counting its own thread's CPU time and its searches."""

    search_cpu_s = 0.0  # part of cpu_s spent in searches that looked at new processes
    searches = 0

    def search(self) -> None:
        before, started = self._searched_at, time.thread_time()
        super().search()
        if self._searched_at != before:
            self.searches += 1
            self.search_cpu_s += time.thread_time() - started


class PsutilSampler(TimedSampler):
    """The sampler as it was before this benchmark (commit 512df95 without its last_pid
    check): psutil for every reading and, each sample, a read of every process on the
    machine to find descendants. Kept here to measure it side by side with the current one."""

    def sample_once(self) -> Sample | None:
        rss, cpu, compiling, alive, runnable = 0, 0.0, False, 0, 0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    compiling = compiling or proc.name() in COMPILERS
                    runnable += _runnable(proc)
                alive += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return Sample(time.monotonic(), rss, cpu, alive, compiling, runnable) if alive else None

    def _tree(self) -> list[psutil.Process]:
        procs = self.known_alive()
        self.searches += 1
        try:
            root = psutil.Process(self._root)
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid not in self.seen:
                    self.seen[proc.pid] = proc.create_time()
                    procs.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
        return procs


def _runnable(proc: psutil.Process) -> int:
    count = 0
    for stat in Path(f"/proc/{proc.pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        count += text[text.rfind(")") + 2: text.rfind(")") + 3] == "R"
    return count


class TimedReader(ThreadCPU, RecordReader):
    """The real record reader, counting its thread's CPU time."""


MODES = {"now": (TimedSampler, INTERVAL_S), "before": (PsutilSampler, INTERVAL_S),
         "off": (TimedSampler, 1e9)}
LABELS = {"now": "sampler on (default)", "before": "sampler as before (psutil)",
          "off": "sampler off"}


@contextmanager
def timed_threads(mode: str, made: dict):
    """runner.run builds its threads through the module names: swap in the timed ones."""
    originals = runner.Sampler, runner.RecordReader
    kind, interval_s = MODES[mode]

    def sampler(pid: int, asked_s: float = interval_s) -> TimedSampler:
        made["sampler"] = kind(pid, interval_s if mode != "now" else asked_s)
        return made["sampler"]

    def reader(fd: int, on_record, *pause: float) -> TimedReader:  # noqa: ANN001
        made["reader"] = TimedReader(fd, on_record, *pause)
        return made["reader"]

    runner.Sampler, runner.RecordReader = sampler, reader
    try:
        yield
    finally:
        runner.Sampler, runner.RecordReader = originals


def one_run(spec, mode: str) -> dict:  # noqa: ANN001 - RunSpec
    made: dict = {}
    with timed_threads(mode, made):
        cpu_before, main_before = time.process_time(), time.thread_time()
        raw = runner.run(spec.launch)
        main = time.thread_time() - main_before
        cpu = time.process_time() - cpu_before
    sampler, wall = made["sampler"], raw.wall_s
    return {"wall_s": wall, "process": cpu / wall, "sampler": sampler.cpu_s / wall,
            "reader": made["reader"].cpu_s / wall, "main": main / wall,
            "samples": len(raw.samples), "steps": len(raw.steps),
            "ms_per_sample": 1e3 * sampler.cpu_s / max(1, len(raw.samples)),
            "searches": sampler.searches,
            "search_share": sampler.search_cpu_s / max(sampler.cpu_s, 1e-9)}


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    seconds = 8 if args.quick else SECONDS
    rounds = 1 if args.quick else 3
    scenario = catalog.load_file(CHILDREN / "bench_child.py")
    spec = replace(spec_for(scenario, "steady"), env=(("BENCH_SECONDS", str(seconds)),))
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    names = list(MODES)
    for index in range(rounds):
        for mode in names[index % 3:] + names[:index % 3]:  # each mode first in turn
            runs[mode].append(one_run(spec, mode))
    return _section(runs, seconds)


def _pct(runs: list[dict], key: str) -> str:
    return spread([r[key] * 100 for r in runs], "{:.3f}")


def _section(runs: dict[str, list[dict]], seconds: float) -> Section:
    on, off, before = runs["now"], runs["off"], runs["before"]
    section = Section("sampler", f"3. Parent CPU per second of child run (child: tiny-LM loop "
                      f"for {seconds} s, ~{median([r['steps'] for r in on]) / seconds:.0f} "
                      f"heartbeats/s; sampler at {1 / INTERVAL_S:.0f} Hz, as before, off; "
                      "interleaved); % of one core",
                      ["parent", "sampler thread", "record reader", "watchdog loop",
                       "whole process", "samples/s", "ms/sample", "searches"])
    for mode, mine in runs.items():
        section.rows.append([
            LABELS[mode], _pct(mine, "sampler"), _pct(mine, "reader"), _pct(mine, "main"),
            _pct(mine, "process"), f"{median([r['samples'] / r['wall_s'] for r in mine]):.1f}",
            f"{median([r['ms_per_sample'] for r in mine]):.3f}",
            f"{median([r['searches'] for r in mine]):.0f}"])
    thread = median([r["sampler"] for r in on])
    old = median([r["sampler"] for r in before])
    outside = median([r["process"] for r in on]) - median([r["process"] for r in off])
    whole = median([r["process"] for r in on])
    section.notes = [
        f"sampler: {thread:.3%} of a core in its thread; whole process with it on minus off: "
        f"{outside:+.3%}; searches for new descendants: "
        f"{median([r['search_share'] for r in on]):.0%} of the sampler's CPU",
        f"the sampler as it was before: {old:.3%} of a core in its thread, {old / thread:.1f}x "
        "the current one (same child, same invocation, interleaved)",
        f"whole parent with the default sampler: {whole:.2%} of a core; the rest is the record "
        "reader (grows with the heartbeat rate) and the watchdog's 20 Hz tick"]
    section.targets = [Target("3. sampler cost", f"{thread:.2%} of a core (sampler thread), "
                              f"{outside:+.2%} (parent on - off); whole parent {whole:.2%}",
                              "< 1 % of a core", max(thread, outside) < 0.01)]
    section.raw = runs
    return section
