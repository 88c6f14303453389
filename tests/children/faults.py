"""Plain-Python children that misbehave on purpose: the fault tests of tests/test_faults*.py.

No mlx. Each variant is one fault. Variants that start other processes write their pids, one
per line, to the file named by MLXPROBE_TEST_PIDFILE so the test can check they are gone.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

SCENARIO = {
    "id": "faults",
    "title": "children that kill, crash, flood, fork and scribble",
    "variants": {"kill_self": "crash:SIGKILL", "segfault": "crash:SIGSEGV",
                 "fork_hang": "hang:cpu_idle", "orphan_setsid": "pass",
                 "orphan_daemon": "pass", "stubborn_grandchild": "hang:cpu_idle",
                 "flood": "pass", "garbage_records": "pass", "bad_fields": "hang:cpu_idle",
                 "hog_slow": "crash:oom", "hog_fast": "crash:oom", "fast_steps": "pass",
                 "close_records": "hang:cpu_idle", "exit_in_thread": "crash:exit_3"},
}

SLEEPER = "import os, signal, sys, time\n{setup}\nwhile True: time.sleep(1)"
FLOOD_CHUNK = b"y" * (512 * 1024)
FLOOD_STEPS = 40  # 40 x 512 KiB = 20 MiB on each of stdout and stderr
MB = 1024 * 1024


def _record_pids(*pids: int) -> None:
    with open(os.environ["MLXPROBE_TEST_PIDFILE"], "a") as out:
        out.write("".join(f"{p}\n" for p in pids))


def _sleeper(setup: str = "", **popen) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen([sys.executable, "-c", SLEEPER.format(setup=setup)], **popen)


def _learn(probe, steps: int = 20) -> None:
    for i in range(steps):
        probe.step(loss=10.0 - 0.2 * i)


def kill_self(probe):
    probe.step()
    os.kill(os.getpid(), signal.SIGKILL)


def segfault(probe):
    probe.step()
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def fork_hang(probe):
    """Two grandchildren in the child's own process group that sleep forever; then it hangs."""
    kids = [_sleeper() for _ in range(2)]
    _record_pids(*(k.pid for k in kids))
    probe.step()
    probe.step()
    time.sleep(1000)


def orphan_setsid(probe):
    """Leaves a grandchild in its own session and returns at once: it must not outlive us."""
    kid = _sleeper(start_new_session=True)
    _record_pids(kid.pid)
    _learn(probe)


def orphan_daemon(probe):
    """Double fork: the middle process exits, the grandchild (own session) is re-parented.

    Both inherit the child's stdout and stderr, so the harness's pipes stay open in them.
    """
    code = ("import os, subprocess, sys\n"
            f"p = subprocess.Popen([sys.executable, '-c', {SLEEPER.format(setup='')!r}], "
            "start_new_session=True)\n"
            "open(os.environ['MLXPROBE_TEST_PIDFILE'], 'a').write(f'{p.pid}\\n')\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    _learn(probe)


def stubborn_grandchild(probe):
    """A grandchild in its own session that ignores SIGTERM; the child hangs."""
    kid = _sleeper("signal.signal(signal.SIGTERM, signal.SIG_IGN)", start_new_session=True)
    _record_pids(kid.pid)
    probe.step()
    probe.step()
    time.sleep(1000)


def flood(probe):
    """20 MiB on each of stdout and stderr while heartbeating; the last stderr line is a marker."""
    for i in range(FLOOD_STEPS):
        sys.stdout.buffer.write(FLOOD_CHUNK)
        sys.stderr.buffer.write(FLOOD_CHUNK)
        probe.step(loss=10.0 - 0.2 * i)
    sys.stdout.flush()
    sys.stderr.buffer.write(b"\nflood-end-marker\n")
    sys.stderr.flush()


def _raw_records(probe, data: bytes) -> None:
    """Bytes written straight to the record pipe, around the probe (the steps it holds to
    pack them go first: `inside/writer.py`)."""
    probe.flush()
    os.write(int(os.environ["MLXPROBE_RECORD_FD"]), data)


def garbage_records(probe):
    """Garbage, non-UTF-8, JSON that is not a record, a 3 MiB line; valid steps around them."""
    _learn(probe, 10)
    _raw_records(probe, b"not json at all\n\xff\xfe\x00\n[1, 2, 3]\n{\"no_kind\": 1}\n")
    _raw_records(probe, b"{\"kind\": \"step\", " + b"x" * (3 * MB) + b"\n")
    _raw_records(probe, b"{\"kind\": \"st")  # a partial line: it joins the next record, both lost
    for i in range(10, 20):
        probe.step(loss=10.0 - 0.2 * i)
        probe.flush()  # a line each: the partial line swallows exactly one


BAD_FIELDS = (
    {"kind": "step", "step": "seven", "step_s": "slow", "loss": [1, 2], "metrics": 5,
     "memory": [1]},
    {"kind": "step", "step": 1e308, "metrics": {"grad_norm": {"a": 1}}, "memory": "x"},
    {"kind": "check"},
    {"kind": "check", "name": ["not", "a", "string"], "ok": "yes", "evidence": 3},
    {"kind": "start", "pid": "me"},
    {"kind": 5, "step": 3},
)


def bad_fields(probe):
    """Records that parse as JSON but carry fields of the wrong types; then a hang."""
    probe.step(loss=1.0)
    _raw_records(probe, b"".join(json.dumps(r).encode() + b"\n" for r in BAD_FIELDS))
    probe.step(loss=1.0)
    time.sleep(1000)


def hog_slow(probe):
    """Keeps 16 MiB more every step, up to 1.6 GiB: the memory limit must stop it first."""
    keep = []
    for i in range(100):
        keep.append(b"m" * (16 * MB))
        probe.step(loss=1.0 / (i + 1))
        time.sleep(0.005)


def hog_fast(probe):
    """Grabs memory as fast as it can (64 MiB a go, no heartbeat) up to 3 GiB."""
    keep = [b"m" * (64 * MB) for _ in range(48)]
    probe.step(loss=float(len(keep)))


def fast_steps(probe):
    """As many heartbeats as it can for 1.5 s (tens of thousands): the parent keeps up."""
    end = time.monotonic() + 1.5
    i = 0
    while time.monotonic() < end:
        i += 1
        probe.step(loss=1e6 / i)


def close_records(probe):
    """Closes the record pipe and goes on: the heartbeats stop, so it is a hang."""
    probe.step()
    probe.step()
    probe.flush()  # the steps it holds to pack them go first (inside/writer.py)
    os.close(int(os.environ["MLXPROBE_RECORD_FD"]))
    for _ in range(1000):
        time.sleep(1)
        probe.step()  # writes fail silently: the probe never raises into the loop


def exit_in_thread(probe):
    """A worker thread ends the whole process with os._exit(3) mid-loop."""
    import threading

    probe.step()
    threading.Thread(target=os._exit, args=(3,)).start()
    time.sleep(1000)
