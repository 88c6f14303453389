"""Plain-Python children for the harness's own tests: no mlx, each variant one behaviour."""

import os
import subprocess
import sys
import time

SCENARIO = {
    "id": "plain",
    "title": "plain-Python children exercising the harness",
    "variants": {"ok": "pass", "sleep": "hang:cpu_idle", "spin": "hang:cpu_busy",
                 "abort": "crash:SIGABRT", "ignore_term": "hang:cpu_idle",
                 "grandchild": "hang:cpu_idle", "grow": "leak", "raise_early": "crash",
                 "flat_loss": "not_learning", "nan_loss": "diverged", "zero_grad": "no_update",
                 "failed_check": "wrong_result", "exit_quiet": "crash:no_end_record",
                 "forever": "hang", "pinned_spin": "hang:cpu_busy", "fork_spike": "pass",
                 "compile_pause": "pass", "pinned_work": "pass"},
}


def ok(probe):
    for i in range(50):
        time.sleep(0.005)
        probe.step(loss=10.0 - 0.1 * i)


def sleep(probe):
    probe.step(loss=1.0)
    probe.step(loss=1.0)
    time.sleep(1000)


def spin(probe):
    probe.step()
    probe.step()
    while True:
        pass


def abort(probe):
    probe.step()
    os.abort()


def ignore_term(probe):
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    probe.step()
    probe.step()
    time.sleep(1000)


def grandchild(probe):
    """Starts a sleeping grandchild in its own session (out of our process group)."""
    code = "import os, time; os.setsid(); time.sleep(1000)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    with open(os.environ["MLXPROBE_TEST_PIDFILE"], "w") as out:
        out.write(str(proc.pid))
    probe.step()
    probe.step()
    time.sleep(1000)


def grow(probe):
    keep = []
    for _ in range(200):
        keep.append(bytearray(b"x" * (1024 * 1024)))
        time.sleep(0.005)
        probe.step()


def raise_early(probe):
    raise RuntimeError("failed before the first step")


def flat_loss(probe):
    for i in range(60):
        time.sleep(0.002)
        probe.step(loss=5.0 + 0.01 * (i % 3))


def nan_loss(probe):
    for i in range(20):
        probe.step(loss=float("nan") if i > 10 else 2.0)


def zero_grad(probe):
    for _ in range(20):
        probe.step(loss=5.0, grad_norm=0.0)


def failed_check(probe):
    probe.step(loss=1.0)
    probe.check("answer is 42", False, hint="compute it again", got=41)


def exit_quiet(probe):
    probe.step()
    os._exit(0)


def forever(probe):
    """Heartbeats every 50 ms and never ends: only the budget or an interrupt stops it."""
    while True:
        time.sleep(0.05)
        probe.step(loss=1.0)


def pinned_spin(probe):
    """Spins pinned to core 0 (where the test runs CPU hogs): starved, but never waiting."""
    os.sched_setaffinity(0, {0})
    probe.step()
    probe.step()
    while True:
        pass


def pinned_work(probe):
    """Healthy steps of 0.3 s of CPU each, pinned to core 0 (where the test runs CPU hogs):
    each takes seconds of wall time, most of them waiting for the core."""
    os.sched_setaffinity(0, {0})
    for i in range(4):
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        probe.step(loss=4.0 - i)


def fork_spike(probe):
    """Holds 40 MB, then forks a child that waits without exec'ing (popen's child before its
    exec, stretched by load): its RSS repeats its parent's pages (issue 13's +39 MB)."""
    keep = bytearray(40 << 20)
    for i in range(0, len(keep), 4096):
        keep[i] = 1
    pid = os.fork()
    if pid == 0:
        time.sleep(1.0)
        os._exit(0)
    for _ in range(40):
        time.sleep(0.03)
        probe.step()
    os.waitpid(pid, 0)


def compile_pause(probe):
    """Two quick steps, a 3 s pause (a kernel compile, as the test's faked native stacks
    say), then quick steps again."""
    for i in range(2):
        probe.step(loss=5.0 - i)
    time.sleep(3.0)
    for i in range(8):
        time.sleep(0.01)
        probe.step(loss=3.0 - 0.1 * i)
