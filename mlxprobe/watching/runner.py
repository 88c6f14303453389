"""The runner: start one launch, watch it, end its tree, return raw facts.

Job: spawn the launch's argv in a new session with a record channel (an inherited pipe fd
for a scenario child; a FIFO path for a watched program, whose own subprocesses open it by
name), drain stdout/stderr (keeping tails, passing them on for `watch`, parsing progress from
their lines), sample the tree from outside, apply the watchdog policy, take stacks on a
stall, then SIGTERM/SIGKILL the whole tree. It judges nothing: `classify` does.

`WatchedProcess` is one watched process and its tree, so that a caller can watch several.

Must not import: mlx, the inside side (it is started as a program), the verdict.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..launching.launch import Launch
from ..protocol import (
    BOOTSTRAP_ENV,
    HOME_ENV,
    LIFELINE_FD_ENV,
    PROGRESS,
    RECORD_FD_ENV,
    RECORD_PATH_ENV,
    RUN_TOKEN_ENV,
    STACKS_DIR_ENV,
)
from . import activity, compiling, confirm, loops, procs, ranks, stacks, starvation, tree, watchdog
from .evaluation import LongEvaluation
from .facts import RawResult, Sample, Stall
from .heartbeat import Watch
from .loops import LoopWatch
from .output import ProgressParser
from .recompiles import WINDOW_S, WINDOWS, RecompileWatch
from .records import RecordReader
from .sampler import INTERVAL_S, Sampler
from .samples import SampleStore
from .streams import TAIL_BYTES, StreamReader

__all__ = ["TAIL_BYTES", "Watch", "WatchedProcess", "run"]

TICK_S = 0.05
# a user's program under `watch` (deadlines of 5 s and more, runs of hours): a look every
# 0.25 s, 10 samples a second and at most 4 reads of its records a second (each woken read
# cost ~0.4 ms on a busy 2-core machine), so the parent's own work stays far below the program's
# (measured: 2.4% of a core at 20 Hz on a 2-core machine, where it competes with it)
WATCH_TICK_S, WATCH_SAMPLE_S, WATCH_READ_PAUSE_S = 0.25, 0.1, 0.25
INTERRUPT_GRACE_S = 0.5  # SIGTERM -> SIGKILL after Ctrl-C: "gone within a second or two"
SHUTDOWN_S = 120.0  # after the program said it was exiting (freeing memory, a CUDA context)
REAP_TIMEOUT_S = 10.0  # after SIGKILL; only a process stuck in the kernel takes longer
# a look at what each process of the tree does (`activity`): 4 a second, ~40 small /proc
# reads for a tree of 3 processes and 10 threads each
ACTIVITY_S = 0.25
# A budget miss of a run whose heartbeats still come is judged busy or idle on its last
# BUDGET_WINDOW_S after the first heartbeat, not on the few ms since its last one (a 50 ms
# window held one sample: busy or idle by chance; measured, tests/test_live under load).
BUDGET_WINDOW_S = 10.0
STEP_PHASES = ("step", "warmup")  # deadlines between heartbeats (not start-up, not budget)
OUR_SIGNALS = (signal.SIGTERM, signal.SIGKILL)  # how `procs.end_tree` ends a tree
INTERRUPT_STACKS_S = 3.0  # py-spy of each process after Ctrl-C: the user is waiting
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR = Path(__file__).resolve().parents[1] / "inside" / "bootstrap"
Echo = Callable[[str, bytes], None]  # (stream name, chunk): where `watch` shows the output


def child_env(launch: Launch, folder: Path, channel: dict[str, str], token: str) -> dict:
    env = dict(os.environ)
    env.update(dict(launch.env))
    env.update(channel)
    env[RUN_TOKEN_ENV] = token  # inherited by all the child starts: found at the end
    env[STACKS_DIR_ENV] = str(folder)
    env["PYTHONFAULTHANDLER"] = "1"  # a segfault in the child prints its stack to stderr
    if launch.bootstrap:
        env[BOOTSTRAP_ENV] = "1"
        env[HOME_ENV] = str(PACKAGE_ROOT)
        env.setdefault("PYTHONUNBUFFERED", "1")  # its lines reach the user as they are printed
        _prepend_path(env, BOOTSTRAP_DIR)
    else:
        _prepend_path(env, PACKAGE_ROOT)
    if launch.preload:  # a native program: MLX's eval entry points go through the interposer
        name = "DYLD_INSERT_LIBRARIES" if sys.platform == "darwin" else "LD_PRELOAD"
        env[name] = " ".join(p for p in (launch.preload, env.get(name)) if p)
    return env


def _prepend_path(env: dict[str, str], folder: Path) -> None:
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)


class WatchedProcess:
    """One launched process and its tree, from start to the raw facts of its end."""

    def __init__(self, launch: Launch, folder: Path, on_record=None,  # noqa: ANN001
                 echo: Echo | None = None) -> None:
        self.launch = launch
        self.folder = folder
        self.token = uuid.uuid4().hex
        self.watch = Watch(time.monotonic(), on_record, launch.watched)
        self.raw = RawResult(started=self.watch.started)
        self._echo = echo
        self._closers: list[int] = []
        self._warmup: int | None = None  # warm-up steps, once the steps settled
        self.compile_total = 0.0  # seconds compiling seen (compiler children, native stacks)
        self.tick_s = WATCH_TICK_S if launch.watched else TICK_S
        self.waits = starvation.RunQueueWait()  # time the tree waited for a core
        self.activity = activity.Activity(self.watch.started)
        self.loop = LoopWatch()  # the stacks of a stall that keeps moving (an endless loop)
        self.evaluation = LongEvaluation()  # a stall in one evaluation of bounded work
        self.recompiles = RecompileWatch()  # a loop that compiles at every step
        self._looked_at = 0.0

    def _reaped(self, timeout_s: float = 0.0, block: bool = True) -> bool:
        """Has the child exited (polled until `timeout_s` when `block`)? Sets `returncode`.
        Its `ru_maxrss` is not used for the peak: Linux counts the pages of the parent it
        was forked from before its exec (measured: 100.6 MB for a 61.6 MB child forked from
        a 100 MB pytest), the very double count the high-water marks avoid."""
        end = time.monotonic() + timeout_s
        while self.child.poll() is None:
            if not block or time.monotonic() >= end:
                return False
            time.sleep(0.01)
        return True

    def start(self) -> None:
        read_fd, channel, keep = self._channel()
        life_read, life_write = os.pipe()  # the parent holds the write end while it lives
        channel[LIFELINE_FD_ENV] = str(life_read)
        try:
            self.child = subprocess.Popen(
                self.launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=(*keep, life_read), start_new_session=True,
                cwd=self.launch.cwd, env=child_env(self.launch, self.folder, channel, self.token))
        except BaseException:
            for fd in (read_fd, life_write, *self._closers):
                os.close(fd)
            raise
        finally:
            for fd in (*keep, life_read):
                os.close(fd)
        self._life_write = life_write
        self._threads(read_fd)

    def _channel(self) -> tuple[int, dict[str, str], tuple[int, ...]]:
        """(read fd, environment naming the write side, fds the child must inherit)."""
        if self.launch.records_fd:
            read_fd, write_fd = os.pipe()
            return read_fd, {RECORD_FD_ENV: str(write_fd)}, (write_fd,)
        path = self.folder / "records.fifo"
        os.mkfifo(path, 0o600)
        read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(read_fd, True)
        # our own writer keeps the FIFO from reading EOF before (and between) the program's
        self._closers.append(os.open(path, os.O_WRONLY))
        return read_fd, {RECORD_PATH_ENV: str(path)}, ()

    def _threads(self, read_fd: int) -> None:
        interval = WATCH_SAMPLE_S if self.launch.watched else INTERVAL_S
        self.sampler = Sampler(self.child.pid, interval)
        self.reader = RecordReader(read_fd, self.watch.add_many,
                                   WATCH_READ_PAUSE_S if self.launch.watched else 0.0)
        parse = self._parser()
        self.out = StreamReader(self.child.stdout, self._echo_to("stdout"), parse)
        self.err = StreamReader(self.child.stderr, self._echo_to("stderr"), parse)
        for thread in (self.sampler, self.reader, self.out, self.err):
            thread.start()

    def _echo_to(self, name: str) -> Callable[[bytes], None] | None:
        if self._echo is None:
            return None
        echo = self._echo
        return lambda chunk: echo(name, chunk)

    def _parser(self) -> Callable[[str], None] | None:
        if not self.launch.parse_output:
            return None
        parser = ProgressParser(self.launch.progress)
        last = [self.watch.started]

        def on_line(line: str) -> None:
            now = time.monotonic()
            self.watch.output_seen(now)
            record = parser.parse(line)
            if record is None:
                return
            record["t"] = now
            if record["kind"] == PROGRESS:  # a step's time: between the lines that announced steps
                record["step_s"], last[0] = now - last[0], now
            self.watch.add(record)
        return on_line

    def tick(self) -> bool:
        """One watchdog look; False once the process ended or was ended."""
        if self._reaped(block=False):
            return False
        self._look_at_tree()
        for rank, pid in self.watch.rank_pids().items():
            if not ranks.alive(pid):
                self.watch.rank_ended(rank)
        latest = self.sampler.latest()
        if latest is not None and latest.compiling:
            self.watch.compile_s += self.tick_s
            self.compile_total += self.tick_s
        self.waits.on_tick(self.watch.beat_count, self._waiting_pids)
        if self._recompiling(latest):
            return False
        if _over_memory(self.launch, latest):
            self.raw.memory_limit_mb = self.launch.max_memory_mb
            # SIGKILL at once: a grace period would let it grab more
            procs.signal_all(self.child.pid, self.sampler.known_alive(), signal.SIGKILL)
            return False
        return not self._overdue()

    def _recompiling(self, latest: Sample | None) -> bool:
        """A watched program that has compiled most of the time for minutes while its steps
        came (`recompiles`): held as a hang, with the stacks of that moment."""
        now = time.monotonic()
        compiling_now = latest is not None and latest.compiling
        self.recompiles.look(now, compiling_now, self.watch.beat_count)
        if not (self.launch.watched and self.recompiles.held()):
            return False
        self.raw.recompiling = self.recompiles.evidence()
        self.raw.stall = _stall(("recompiling", WINDOW_S * WINDOWS), now, self.watch,
                                self.sampler.samples, self.waits.credited_s)
        armed = self.watch.armed_pids()
        self.raw.python_stacks = stacks.python_stacks(armed, self.folder) if armed else ""
        self.raw.native_stacks = stacks.native_stacks(armed[0] if armed else self.child.pid)
        return True

    def _look_at_tree(self) -> None:
        """What each process of the tree does (`activity`), every ACTIVITY_S; before the
        first step, the longest sleep of the whole tree is kept (the measurements behind
        the idle deadline)."""
        now = time.monotonic()
        if now - self._looked_at < ACTIVITY_S:
            return
        self._looked_at = now
        self.activity.look(self.sampler.alive_pids(), self.watch.last_output())
        if self.watch.beat_count == 0:
            idle = self.activity.idle_s(now)
            self.raw.startup_idle_max_s = max(self.raw.startup_idle_max_s, idle)

    def _overdue(self) -> bool:
        now, watch = time.monotonic(), self.watch
        exiting = watch.exiting_since()
        if exiting is not None:  # shutting down: no step deadline, only a cap on the wait
            return self._shutdown_overdue(now, exiting)
        missed = self._missed(now)
        if missed is None or (missed[0] != "budget"
                              and self.waits.credit(self._waiting_pids()) > 0
                              and (missed := self._missed(now)) is None):
            return False  # the time it waited for a core is the machine's, not a stall
        if missed[0] != "budget" and self.reader.unread() > 0:
            self.reader.wake()  # heartbeats sent and not yet read: judge them first
            return False
        if missed[0] == "budget" and self.launch.watched:  # the user's own limit: stopped
            self.raw.stopped_by = "budget"
            self.diagnose(interrupted=True)
            return True
        if missed[0] == "startup_idle" and self._waits_outside():
            return False
        idle_since = self.activity.last_active if missed[0] == "startup_idle" else None
        stall = _stall(missed, now, watch, self.sampler.samples, self.waits.credited_s,
                       idle_since)
        armed = watch.armed_pids()
        rank_pids = watch.rank_pids()
        if rank_pids:  # the launcher's own loop moves while its ranks stand still
            armed = [pid for pid in armed if pid in rank_pids.values()] or armed
        if missed[0] == "startup_idle" and not rank_pids:  # every process of the tree
            described = self._described()  # before the stacks take their seconds
            natives = tree.dumps(self.sampler.alive_pids())
        else:
            natives = ({pid: stacks.native_stacks(pid) for pid in rank_pids.values()}
                       if rank_pids else
                       {0: stacks.native_stacks(armed[0] if armed else self.child.pid)})
        native = "\n".join(natives.values())
        if self._compiling(native, now, missed[0]):
            self.activity.saw_work()  # the idle clock restarts too
            return False
        if self.launch.watched:
            held, first = self._confirmed(missed[0], armed, native, stall)
            if not held:
                self.activity.saw_work()
                return False
        else:
            first = stacks.python_stacks(armed, self.folder)
        self.raw.stall, self.raw.python_stacks = stall, first
        self.raw.native_stacks = native
        if missed[0] == "startup_idle" and not rank_pids:
            self._tree_facts(natives, described)
        if rank_pids:  # a distributed job: every rank's facts, stacks headed by rank
            self.raw.ranks = ranks.rank_facts(rank_pids, self.folder, armed, natives)
            self.raw.python_stacks = ranks.joined(self.raw.ranks, "python_stack")
            self.raw.native_stacks = ranks.joined(self.raw.ranks, "native_stack")
        return True

    def _missed(self, now: float) -> tuple[str, float] | None:
        """The deadline missed now, if one is: compile time and run-queue wait since the
        last heartbeat do not count."""
        d, watch = self.launch.deadlines, self.watch
        pace, warming = self._pace()
        return watchdog.overdue(d, now, watch.started, watch.last_beat(), watch.beat_count,
                                pace, watch.compile_s + self.waits.credited_s, warming,
                                self.compile_total, self.activity.idle_s(now))

    def _waiting_pids(self) -> list[int]:
        """Whose run-queue wait is the machine's stall: the tree's threads and this
        process's own (a record reader that waits for a core leaves heartbeats unread: soak,
        a false `hang` after 1.2 s with a 1.0 s deadline and the child's wait at 0.0 s)."""
        return [os.getpid(), *self._tree_pids()]

    def _tree_pids(self) -> list[int]:
        return [self.child.pid, *(p.pid for p in self.sampler.known_alive())]

    def _waits_outside(self) -> bool:
        """An idle tree with a socket to the world (a download, a server, remote ranks)
        waits on it, not on itself: the idle clock restarts, the look is kept as evidence,
        and the start-up allowance decides."""
        outside = activity.outside_peers(self.sampler.alive_pids())
        if outside:
            self.activity.saw_work()
            self.raw.outside_waits = outside[:20]
        return bool(outside)

    def _described(self) -> list[dict]:
        """What each process of the tree did lately, and how long the tree slept, now."""
        self.raw.idle_s = round(self.activity.idle_s(), 2)
        self.raw.last_work = self.activity.last_work
        return self.activity.processes()

    def _tree_facts(self, dumps: dict[int, str], processes: list[dict]) -> None:
        """Each process of the tree (what it did lately, the line it waits on) and the
        stacks of all of them, headed by process, into the raw result."""
        self.raw.processes = tree.with_stacks(processes, dumps)
        self.raw.native_stacks = tree.joined(processes, dumps) or self.raw.native_stacks

    def diagnose(self, interrupted: bool = False) -> None:
        """The state of the tree at this moment, before it is ended (an interruption):
        what each process did in its last seconds, every process's stacks, how long the
        whole tree had slept."""
        self.raw.interrupted = self.raw.interrupted or interrupted
        self._looked_at = 0.0
        self._look_at_tree()
        described = self._described()
        self.raw.outside_waits = activity.outside_peers(self.sampler.alive_pids())[:20]
        armed = self.watch.armed_pids()
        dumps = tree.dumps(self.sampler.alive_pids(), INTERRUPT_STACKS_S)
        self.raw.python_stacks = stacks.python_stacks(armed, self.folder) if armed else ""
        self.raw.native_stacks = "\n".join(dumps.values())
        self._tree_facts(dumps, described)

    def _pace(self) -> tuple[list[float], bool]:
        """(the step times the deadline is paced by, still warming up?): every step while
        the steps have not settled, then the recent steady ones (`watchdog`)."""
        watch, window = self.watch, self.launch.deadlines.window
        beats = watch.beat_count  # the slowest live rank's, in a distributed job
        if self._warmup is None:
            if beats > watchdog.WARMUP_CAP + watchdog.WARMUP_STABLE:
                self._warmup = watchdog.WARMUP_CAP  # settled or not: warm-up is over
            else:
                times = watch.intervals()
                self._warmup = watchdog.warmup_steps(times)
                if self._warmup is None:
                    return times, True
        if beats - self._warmup > window:
            return watch.intervals(window), False
        return watchdog.steady(watch.intervals(), self._warmup, window), False

    def _compiling(self, native: str, now: float, phase: str = "step") -> bool:
        """A missed deadline while the native stacks show a compiler (NVRTC, ptxas, Metal's
        compiler, a module load): the time since the last heartbeat not yet counted is
        counted as compiling, which re-arms the deadline and the budget, up to
        COMPILE_CAP_S in all; the evidence lists each such look. A native program's warm-up
        stall whose stacks cannot be read at all (no debugger on the machine) is counted the
        same way: a GPU backend compiles its kernels inside the process in the first steps
        (measured: the native scenario's fixed loop on an H100 without gdb, 1.6 s after
        step 1), and nothing there tells compiling from stuck; the cap bounds the wait."""
        frame = compiling.compiler_frame(native) or self._unseen(native, phase)
        if frame is None:
            return False
        credited = sum(c["credited_s"] for c in self.raw.compiling)
        last = self.watch.last_beat() or self.watch.started
        credit = max(0.0, (now - last) - self.watch.compile_s)
        credit = min(credit, watchdog.COMPILE_CAP_S - credited)
        if credit <= 0 and credited >= watchdog.COMPILE_CAP_S:
            self.raw.compile_capped = True
            return False
        self.watch.compile_s += credit
        self.compile_total += credit
        self.raw.compiling.append({"at_s": round(now - self.watch.started, 2), "frame": frame,
                                   "credited_s": round(credit, 3),
                                   "last_step": self.watch.last_step()})
        return True

    def _unseen(self, native: str, phase: str) -> str | None:
        native_program = self.launch.preload or self.launch.interposer
        if native_program and phase == "warmup" and native.lstrip().startswith("(no native"):
            return "unknown (no debugger to read the stacks: may be compiling)"
        return None

    def _shutdown_overdue(self, now: float, since: float) -> bool:
        """A process that said it was exiting and is still there after SHUTDOWN_S: a hang in
        its shutdown (no stack request: Python stops running threads as it finalises)."""
        if now - since <= SHUTDOWN_S:
            return False
        self.raw.stall = _stall(("shutdown", SHUTDOWN_S), now, self.watch, self.sampler.samples)
        self.raw.python_stacks = "(none taken: the process was shutting down)"
        self.raw.native_stacks = stacks.native_stacks(self.child.pid)
        return True

    def _confirmed(self, phase: str, armed: list[int], native: str,
                   stall: Stall) -> tuple[bool, str]:
        """A watched program's missed deadline holds only if its stacks stood still (see
        `confirm`) and it is not one long evaluation of bounded work (`evaluation`);
        otherwise the deadline restarts now and the extension is counted."""
        before, seen = self.watch.last_beat(), set()
        self.raw.long_evaluation = None  # evidence of this stall only (`_evaluating`)
        if armed:
            pids = [p.pid for p in self.sampler.known_alive()]
            io_before = confirm.io_bytes(pids)
            held, first = confirm.stuck(lambda: stacks.python_stacks(armed, self.folder), pids,
                                        seen=seen)
            held = held or self._endless(self.watch.signs(), seen, pids) or self._allocating(
                seen, confirm.io_bytes(pids) - io_before)
        else:  # not Python: output progress that stopped is all there is; no progress at all
            held, first = phase != "startup", stacks.python_stacks([], self.folder)
            if held and (self.launch.preload or self.launch.interposer):  # a native program
                tree = [p.pid for p in self.sampler.known_alive()]
                pid = self.child.pid
                held = confirm.native_stuck(native, lambda: stacks.native_stacks(pid), pid, tree)
        if self.watch.last_beat() != before:
            held = False  # it beat or printed while we looked
        if held and armed and phase in STEP_PHASES and not self.raw.looping:
            held = not self._evaluating(before, native, stall)
        if not held:
            self.watch.alive_at(time.monotonic())
            self.raw.extensions += 1
        return held, first

    def _evaluating(self, before: float | None, native: str, stall: Stall) -> bool:
        """The stall is one busy MLX evaluation no longer than the work before it."""
        allowed = self.evaluation.allows(self.watch.signs(), before or self.watch.started,
                                         self.watch.first_beat(), time.monotonic(),
                                         (stall.cpu_fraction, stall.runnable_fraction), native)
        self.raw.long_evaluation = None if allowed else self.evaluation.evidence
        return allowed

    def _allocating(self, seen: set, io_moved: int) -> bool:
        """The stall since the program's last sign of progress grows memory without end
        (`loops.allocating`)."""
        watch = self.watch
        start = max(t for t in (watch.started, watch.last_beat(), watch.last_output())
                    if t is not None)
        found = loops.allocating([(s.t, s.rss) for s in self.sampler.samples.since(start)],
                                 io_moved)
        if found is None:
            return False
        self.raw.looping = {**found, "distinct_stacks": len(seen)}
        return True

    def _endless(self, beat: tuple[int, int], seen: set, pids: list[int]) -> bool:
        """The moving stacks of this stall cycle among lines already seen (`loops`)."""
        now, latest = time.monotonic(), self.sampler.latest()
        rss = latest.rss if latest is not None else 0
        if not self.loop.endless(beat, seen, now, rss, confirm.io_bytes(pids)):
            return False
        self.raw.looping = self.loop.evidence(now)
        return True

    def finish(self, interrupted: bool = False) -> RawResult:
        """End the tree, reap the child, join the readers, fill in the raw result."""
        raw = self.raw
        raw.interrupted = raw.interrupted or interrupted
        self.sampler.sample_once()  # make sure every live descendant is in `seen`
        grace = self.launch.deadlines.grace_s
        if raw.interrupted:  # the user is waiting and the run is discarded: a short grace
            grace = min(grace, INTERRUPT_GRACE_S)
        raw.survivors = procs.end_run(self.child.pid, dict(self.sampler.seen), self.token,
                                      grace)
        code = self.child.returncode if self._reaped(REAP_TIMEOUT_S) else None
        for fd in self._closers:  # the program's writers are gone: let the reader see EOF
            os.close(fd)
        self._closers.clear()
        self.reader.hurry()
        self.sampler.stop()
        for thread in (self.sampler, self.reader, self.out, self.err):
            thread.join(timeout=5.0)
        os.close(self._life_write)  # after the tree is gone (closing it earlier ends the group)
        self._fill(raw, code)
        return raw

    def _fill(self, raw: RawResult, code: int | None) -> None:
        if code is not None:
            raw.exit_code, raw.signal = (code, None) if code >= 0 else (None, -code)
        if raw.interrupted and raw.signal in OUR_SIGNALS:  # ours, sent as the user asked
            raw.ended_with, raw.signal = signal.Signals(raw.signal).name, None
        raw.idle_deadline_s = self.launch.deadlines.idle_s
        raw.records, raw.store = self.watch.all_records(), self.watch.store
        raw.malformed = self.reader.parser.malformed + self.reader.parser_errors
        raw.samples = self.sampler.samples.retained()
        raw.sample_facts = self.sampler.samples.facts()
        marks = list(self.sampler.hwm.values())  # VmHWM of each process, read once a second
        raw.peak_rss = max(marks) if marks else None
        raw.device_status = self.sampler.device.status
        raw.stdout_tail, raw.stderr_tail = self.out.text(), self.err.text()
        raw.wall_s = time.monotonic() - self.watch.started
        raw.watched = self.launch.watched
        raw.interposer = interposer_status(self.launch, raw)


def run(launch: Launch, abort: threading.Event | None = None,
        on_record: Callable[[dict], None] | None = None, echo: Echo | None = None) -> RawResult:
    """Run one launch to its end (or its deadline) and return what was observed.

    Setting `abort` (from another thread) ends the tree at once and marks the result
    `interrupted`. `on_record` (optional) sees each record as it arrives, on a reader thread:
    it must be quick and must not raise. `echo` receives the program's output chunks.
    """
    abort = abort or threading.Event()
    with tempfile.TemporaryDirectory(prefix="mlxprobe-") as tmp:
        process = WatchedProcess(launch, Path(tmp), on_record, echo)
        process.start()
        interrupted = False
        try:
            while process.tick():
                if abort.wait(process.tick_s):
                    interrupted = True
                    process.diagnose(interrupted=True)
                    break
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            raw = process.finish(interrupted)
        return raw


NO_LIBMLX = ("not active: the program has no dynamic libmlx to wrap (MLX linked statically, "
             "as mlx-rs does by default, or no MLX at all): progress from its output only")


def interposer_status(launch: Launch, raw: RawResult) -> str:
    """What the report says of the interposer: "loaded", why not, or "" (not a native
    program)."""
    if not launch.preload:
        return launch.interposer
    sources = {r.get("source") for r in raw.of_kind("start")}
    if "interposer" in sources:
        return "loaded"
    if "bootstrap" in sources:  # a launcher (bash, uv) of a Python program: the bootstrap's
        return ""
    return NO_LIBMLX


def _over_memory(launch: Launch, latest: Sample | None) -> bool:
    return (launch.max_memory_mb is not None and latest is not None
            and latest.rss > launch.max_memory_mb * 1024 * 1024)


def _stall(missed: tuple[str, float], now: float, watch: Watch, samples: SampleStore,
           waited_s: float = 0.0, since: float | None = None) -> Stall:
    """The facts of a missed deadline (from `since`, default the last heartbeat or the
    start); CPU is measured before stacks are taken."""
    phase, deadline = missed
    since = since or watch.last_beat() or watch.started
    window = samples.since(_window_start(phase, since, now, watch))
    cpu = 0.0
    if len(window) >= 2 and window[-1].t > window[0].t:
        cpu = max(0.0, window[-1].cpu_s - window[0].cpu_s) / (window[-1].t - window[0].t)
    runnable = sum(1 for s in window if s.runnable > 0) / len(window) if window else 0.0
    return Stall(phase, deadline, now - since, cpu, runnable, watch.compile_s,
                 watch.last_step(), round(waited_s, 3))


def _window_start(phase: str, since: float, now: float, watch: Watch) -> float:
    """Where the CPU samples of a stall start: its own start, but for a budget miss (beats
    may still come) the last BUDGET_WINDOW_S after the first heartbeat."""
    if phase != "budget":
        return since
    return min(since, max(watch.first_beat() or watch.started, now - BUDGET_WINDOW_S))


if sys.platform == "win32":  # pragma: no cover - os.mkfifo and sessions are POSIX
    raise ImportError("mlxprobe watches processes on Linux and macOS only")
