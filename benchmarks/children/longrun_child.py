"""A plain child for the long-run benchmark (no mlx): step records as fast as the pipe takes
them, or at a given rate. Run by mlxprobe's runner, never imported by the parent.

Settings from the environment (the benchmark passes them through `RunSpec.env`):
BENCH_BEATS (how many step records), BENCH_RATE (records a second; 0: as fast as the parent
reads). Lines are built in blocks (BLOCK; paced: 1/100 s of them) and written with one
`os.write` each, straight to the record pipe (the probe's own writes, start and end, are
line-buffered around them). The loss falls slowly with a little noise, grad_norm is never 0,
so the verdict is `pass`.
"""

import os
import time

SCENARIO = {
    "id": "longrun",
    "title": "a plain child writing many heartbeats",
    "budget_s": 3600,
    "variants": {"flood": "pass"},
}
BLOCK = 1000
LINE = ('{"kind": "step", "time": %.3f, "step": %d, "step_s": 0.0001, "source": "probe", '
        '"loss": %.6f, "metrics": {"grad_norm": %.5f, "param_delta": 0.001, '
        '"learning_rate": 0.001}, "memory": {"mx_active": 1048576, "mx_peak": 2097152}}\n')


def _block(first: int, count: int, total: int) -> bytes:
    now = time.time()
    return "".join(LINE % (now, i, 3.0 - 1.5 * i / total + (i * 7919 % 101) / 1000.0,
                           0.5 + (i % 13) / 100.0)
                   for i in range(first, first + count)).encode()


def flood(probe):
    total = int(os.environ.get("BENCH_BEATS", "10000"))
    rate = float(os.environ.get("BENCH_RATE", "0"))
    fd = int(os.environ["MLXPROBE_RECORD_FD"])
    block = max(1, min(BLOCK, int(rate / 100))) if rate else BLOCK  # paced: every 10 ms
    started = time.monotonic()
    for first in range(1, total + 1, block):
        data = memoryview(_block(first, min(block, total + 1 - first), total))
        while data:
            data = data[os.write(fd, data):]
        if rate:
            delay = started + (first + block - 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    probe._step = total  # the end record says how many steps were written
    probe.note(child_s=round(time.monotonic() - started, 3), beats=total)
