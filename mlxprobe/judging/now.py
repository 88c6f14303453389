"""What an attached process is doing now: `Attached` facts in, a `Verdict` out.

Job: the first that holds decides. `finished`: the process ended while we looked.
`progressing` (with its rate): its step counter (a local of the main thread's frames, read
by py-spy) or its output file's step went up; the program's printed values are then judged
by `verdict.classify` as under `watch`, keeping the classes a short look can support
(`diverged`, `no_update`, `leak`: each is exact or has its own floors; never `not_learning`,
which a few seconds of a long run cannot show). `compiling`: a compiler ran (a g++ child,
NVRTC or Metal frames in the native stacks): never a hang. `moving`: no step could be read
but the main thread's Python stack changed between looks, or the process did I/O. Else, when
the same main-thread stack was seen for at least STUCK_S with no progress: `hang`, through
`classify` with a `Stall` of the window, so its classes, evidence and fix are watch's:
`hang:cpu_busy` (computing without progress: a lazy backlog, a huge graph) or
`hang:cpu_idle` (waiting: a lock, I/O, a collective; what it waits on is named from the
stacks). Shorter looks are `undecided`.

Pure: no I/O, no clock. Must not import: mlx, psutil, the runner.
"""

from __future__ import annotations

import re

from ..protocol import decode_number
from ..watching import counters
from ..watching.attached import Attached
from ..watching.facts import RawResult, Stall
from . import verdict as verdicts
from .rule import Verdict
from .stats import theil_sen

MB = 1024 * 1024
STUCK_S = 5.0  # watch's step floor (commands/watch WATCH_DEADLINES): no progress this long
RATE_SPAN_S = 2.0  # a rate needs progress readings at least this far apart
IO_MOVING = 1 << 20  # watching/confirm's: 1 MiB of I/O while we looked is moving
KEPT = ("diverged", "no_update", "leak")  # classify's classes a short look can support

# what a blocked main thread waits on, from its frames (Python first, then native)
WAITS = (
    ("a collective (mx.distributed) that another rank has not joined",
     re.compile(r"mlx::core::distributed|all_sum|all_gather|Event::wait|nccl|MPI_")),
    ("a lock, condition or queue", re.compile(
        r"\b(get|put|wait|acquire|join) \([^)]*\b(queue|threading)\.py|pthread_cond|"
        r"pthread_mutex|futex|sem_wait|lock_PyThread|PyThread_acquire")),
    ("I/O (a read, a socket, a pipe)", re.compile(
        r"\b(read|recv\w*|poll|select|epoll_wait|accept|connect|readinto)\b")),
    ("a sleep or a signal", re.compile(r"nanosleep|\bsleep\b|\bpause\b|sigsuspend|sigwait")),
)


def judge(f: Attached) -> Verdict:
    if f.ended_at is not None:
        return _finished(f)
    progress = _progress(f)
    if progress is not None:
        return _progressing(f, progress)
    if f.compiler or any(s.compiling for s in f.samples):
        return _compiling(f)
    if f.window_s < STUCK_S:
        return _undecided(f)
    if not f.looks:  # not Python: judged on its output, CPU and I/O alone
        return _quiet_output(f) or _undecided(f)
    same, seconds = counters.unchanged_tail(f.looks, f.pid)
    if seconds >= STUCK_S and f.io_bytes < IO_MOVING:
        return _stuck(f, same, seconds)
    distinct = counters.distinct_stacks(f.looks, f.pid)
    if distinct > 1 or f.io_bytes >= IO_MOVING:
        return _moving(f, distinct)
    return _undecided(f)


def settled(f: Attached) -> bool:
    """The verdict would not change by looking longer (`--until-verdict` stops here)."""
    return judge(f).kind != "undecided"


def raw_of(f: Attached, stall: Stall | None = None) -> RawResult:
    """The facts as `classify` reads them: progress records from the output (no step times:
    lines are read once a look, so their arrival says nothing of a step's length), the
    samples."""
    return RawResult(records=list(f.records), samples=list(f.samples), stall=stall,
                     watched=True,
                     started=f.started, wall_s=f.window_s,
                     python_stacks=f.python_stacks(), native_stacks=f.native_stacks)


def common(f: Attached) -> dict:
    """Evidence every attach verdict carries: memory, CPU, threads, what was read."""
    cpu, runnable = cpu_share(f)
    return {"pid": f.pid, "looked_s": round(f.window_s, 2), "looks": len(f.looks),
            "rss_mb": _rss_now(f), "rss_mb_per_s": _rss_slope(f),
            "cpu_cores": round(cpu, 3), "runnable_share": round(runnable, 3),
            "io_mb": round(f.io_bytes / MB, 3), "threads": f.threads[:16],
            "outputs": f.outputs, "output_quiet_s_before": _round(f.output_quiet_s),
            "sampling_cost": f.costs}


def cpu_share(f: Attached, since: float = 0.0) -> tuple[float, float]:
    """(cores busy on average, share of samples with a runnable thread) over the window
    (from `since` on)."""
    s = [x for x in f.samples if x.t >= since]
    if len(s) < 2 or s[-1].t <= s[0].t:
        return 0.0, 0.0
    cores = max(0.0, s[-1].cpu_s - s[0].cpu_s) / (s[-1].t - s[0].t)
    return cores, sum(1 for x in s if x.runnable > 0) / len(s)


def _progress(f: Attached) -> dict | None:
    """How far the program went while we looked, from its counter or its output."""
    counter = counters.step_counter(f.looks, f.pid)
    out = [r for r in f.records if isinstance(r.get("step"), int)]
    output = None
    if len(out) >= 2 and out[-1]["step"] > out[0]["step"] and out[-1]["t"] > out[0]["t"]:
        span = out[-1]["t"] - out[0]["t"]
        output = {"source": "output", "first": out[0]["step"], "last": out[-1]["step"],
                  "span_s": round(span, 2),
                  "per_s": round((out[-1]["step"] - out[0]["step"]) / span, 3)}
    if counter is not None and counter.moved and counter.t_last - counter.t_first \
            >= RATE_SPAN_S:
        span = counter.t_last - counter.t_first
        return {"source": "counter", **counter.facts(), "span_s": round(span, 2),
                "output": output}
    if output is not None and output["span_s"] >= RATE_SPAN_S:
        return {**output, "counter": counter.facts() if counter else None}
    return None


def _progressing(f: Attached, progress: dict) -> Verdict:
    judged = verdicts.classify(raw_of(f), {})
    where = (f"its counter `{progress['counter']}` in {progress['frame']}"
             if progress["source"] == "counter" else "its output lines")
    rate = progress["per_s"]
    evidence = {**common(f), "progress": progress, "progress_source": progress["source"]}
    if judged.kind in KEPT:
        return Verdict(judged.kind, judged.detail, f"{judged.reason} (while progressing at "
                       f"{rate:.2f} steps/s, read from {where})", judged.hint,
                       {**judged.evidence, **evidence})
    loss = _last_loss(f)
    shown = f"; last loss {loss:.4g}" if loss is not None else ""
    reason = (f"progressing: step {progress['first']} -> {progress['last']} in "
              f"{progress['span_s']:.1f} s, {rate:.2f} steps/s ({1000 / rate:.0f} ms a step), "
              f"read from {where}{shown}")
    return Verdict("progressing", progress["source"], reason, "", evidence)


def _finished(f: Attached) -> Verdict:
    seconds = (f.ended_at or f.started) - f.started
    progress = _progress(f)
    before = (f" after step {progress['first']} -> {progress['last']} at "
              f"{progress['per_s']:.2f} steps/s" if progress else "")
    return Verdict("finished", "", f"the process ended {seconds:.1f} s after mlxprobe began "
                   f"looking{before} (its exit status goes to its parent; run it under "
                   "`mlxprobe watch` to have it judged)", "",
                   {**common(f), "progress": progress})


def _compiling(f: Attached) -> Verdict:
    what = f.compiler or "a compiler process (g++/cc1plus) in its tree"
    return Verdict("compiling", f.compiler or "compiler_child",
                   f"compiling kernels: {what} (MLX compiles each new graph the first time "
                   "it runs; not a hang)", "look again in a minute: `mlxprobe attach "
                   f"{f.pid} --until-verdict`", common(f))


def _moving(f: Attached, distinct: int) -> Verdict:
    judged = verdicts.classify(raw_of(f), {})
    if judged.kind in KEPT:  # RSS climbing while it moves: a lazy graph, a leak
        return Verdict(judged.kind, judged.detail, f"{judged.reason} (the main thread's "
                       f"stack moved: {distinct} different in {len(f.looks)} looks; no step "
                       "could be read)", judged.hint, {**judged.evidence, **common(f)})
    io = f"; {f.io_bytes / MB:.1f} MB of I/O" if f.io_bytes >= IO_MOVING else ""
    reason = (f"working, rate unknown: its main thread's Python stack changed between looks "
              f"({distinct} different in {len(f.looks)} looks{io}), but no step counter or "
              "progress line could be read")
    hint = ("to see its rate from outside: send its output to a file (`python train.py > "
            "train.log`), keep the training loop in a function (its step counter is then "
            "read), or run it under `mlxprobe watch`")
    return Verdict("moving", "no_counter", reason, hint, {**common(f),
                                                          "distinct_stacks": distinct})


def _undecided(f: Attached) -> Verdict:
    same, seconds = counters.unchanged_tail(f.looks, f.pid)
    why = (f"looked {f.window_s:.1f} s, under the {STUCK_S:g} s it takes to call a stall"
           if f.window_s < STUCK_S else f"no Python stacks ({f.look_error})" if not f.looks
           else f"the main thread's stack has been the same for {seconds:.1f} s (in {same} "
           f"looks), under the {STUCK_S:g} s it takes to call a stall")
    return Verdict("undecided", "", f"no verdict: {why}; no progress read",
                   f"look longer: `mlxprobe attach {f.pid} --until-verdict`", common(f))


def _stuck(f: Attached, same: int, seconds: float) -> Verdict:
    cpu, runnable = cpu_share(f, f.looks[-same].t)
    last = _last_step(f)
    stall = Stall("step" if last else "startup", STUCK_S, seconds, cpu, runnable, 0.0,
                  last or 0)
    judged = verdicts.classify(raw_of(f, stall), {})
    main = f.looks[-1].main(f.pid)
    frames = main.frames if main is not None else ()
    at = frames[0].where if frames else "?"
    busy = judged.detail == "cpu_busy"
    doing = (f"computing without progress{_computing(f)}" if busy
             else f"idle, waiting on {_waiting_on(f, frames)}")
    counter = counters.step_counter(f.looks, f.pid)
    step = (f"its counter `{counter.name}` stayed at {counter.last}" if counter
            else f"no new progress line after step {last}" if last else "no progress seen")
    reason = (f"no progress for {seconds:.1f} s ({step}; the main thread's Python stack was "
              f"the same in the last {same} of {len(f.looks)} looks, at {at}); CPU at "
              f"{cpu:.2f} cores, a thread runnable in {runnable:.0%} of samples: {doing}")
    evidence = {**judged.evidence, "steps": last, **common(f),
                "stuck_at": [fr.where for fr in frames],
                "stuck_s": round(seconds, 2), "stuck_min_s": STUCK_S,
                "counter": counter.facts() if counter else None}
    return Verdict(judged.kind, judged.detail, reason, judged.hint, evidence)


def _quiet_output(f: Attached) -> Verdict | None:
    """A program without Python stacks (a native binary) that printed progress before we
    looked and printed none while we looked, for at least STUCK_S, with no I/O."""
    steps = [r["step"] for r in f.before if isinstance(r.get("step"), int)]
    if not steps or f.records or f.io_bytes >= IO_MOVING:
        return None
    quiet = f.window_s + (f.output_quiet_s or 0.0)
    cpu, runnable = cpu_share(f)
    stall = Stall("step", STUCK_S, quiet, cpu, runnable, 0.0, steps[-1])
    judged = verdicts.classify(raw_of(f, stall), {})
    doing = ("computing without progress" if judged.detail == "cpu_busy"
             else f"idle, waiting on {_waiting_on(f, ())}")
    reason = (f"no new progress line for {quiet:.1f} s (its output's last step {steps[-1]}; "
              f"not a Python process: judged on its output, CPU and I/O); CPU at {cpu:.2f} "
              f"cores, a thread runnable in {runnable:.0%} of samples: {doing}")
    return Verdict(judged.kind, judged.detail, reason, judged.hint,
                   {**judged.evidence, "steps": steps[-1], **common(f), "quiet_s": round(quiet, 1)})


def _computing(f: Attached) -> str:
    if "eval_impl" in f.native_stacks or "mlx::core::eval" in f.native_stacks:
        return " (inside an MLX evaluation: a lazy backlog or a huge graph)"
    return ""


def _waiting_on(f: Attached, frames: tuple) -> str:
    python = "\n".join(fr.where for fr in frames)
    native = _main_native(f)
    for text in (python, native):
        for what, pattern in WAITS:
            found = pattern.search(text)
            if found:
                line = next(ln for ln in text.splitlines() if pattern.search(ln)).strip()
                return f"{what} ({line})"
    return "something the stacks do not name (see them below)"


def _main_native(f: Attached) -> str:
    """The main thread's section of the native dump (py-spy's layout)."""
    lines, inside = [], False
    for line in f.native_stacks.splitlines():
        if line.startswith("Thread "):
            inside = (line.startswith(f"Thread {f.pid} ") or '"MainThread"' in line
                      or f"(LWP {f.pid})" in line)  # py-spy's layout, or gdb's
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def _last_step(f: Attached) -> int | None:
    """The program's own counter where it was read (exact), else its last progress line."""
    counter = counters.step_counter(f.looks, f.pid)
    if counter is not None:
        return counter.last
    for record in reversed([*f.before, *f.records]):
        if isinstance(record.get("step"), int):
            return record["step"]
    return None


def _last_loss(f: Attached) -> float | None:
    for record in reversed([*f.before, *f.records]):
        value = decode_number(record.get("loss")) if "loss" in record else None
        if isinstance(value, float):
            return value
    return None


def _rss_now(f: Attached) -> float | None:
    return round(f.samples[-1].rss / MB, 1) if f.samples else None


def _rss_slope(f: Attached) -> float | None:
    if len(f.samples) < 4:
        return None
    return round(theil_sen([s.t for s in f.samples], [s.rss / MB for s in f.samples]), 3)


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
