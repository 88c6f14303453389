"""A plain child for the long-run benchmark (no mlx): step records as fast as the pipe takes
them, or at a given rate. Run by mlxprobe's runner, never imported by the parent.

Settings from the environment (the benchmark passes them through `RunSpec.env`):
BENCH_BEATS (how many step records), BENCH_RATE (records a second; 0: as fast as the parent
reads). The records are packed as the probe's writer packs steps that come faster than it
writes (`mlxprobe.packing`: the real `Pack`, its line and its line limit; each row's size is
given as a bound instead of the writer's json.dumps of it, so that the child outruns the
parent). BENCH_PACKED=0 writes a JSON line per record instead, as the probe did before
it packed. Lines are built in blocks (BLOCK; paced: 1/100 s of them) and written with one
`os.write` each, straight to the record pipe (the probe's own writes, start and end, are
line-buffered around them). The loss falls slowly with a little noise, grad_norm is never 0,
so the verdict is `pass`.
"""

import os
import time

from mlxprobe.packing import Pack, shape_of

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


SHAPE = shape_of({"kind": "step", "time": 0.0, "step": 0, "step_s": 0.0, "source": "probe",
                  "loss": 0.0, "metrics": {"grad_norm": 0.0, "param_delta": 0.0,
                                           "learning_rate": 0.0},
                  "memory": {"mx_active": 0, "mx_peak": 0}})
ROW_BYTES = 95  # a row's values as JSON (the size `Pack.fits` is told: the writer's json.dumps)


def _values(i: int, total: int, now: float) -> tuple:
    return (now, i, 3.0 - 1.5 * i / total + (i * 7919 % 101) / 1000.0, 0.5 + (i % 13) / 100.0)


def _block(first: int, count: int, total: int, rate: float = 0.0) -> bytes:
    now = time.time()
    spacing = 1.0 / rate if rate else 0.0
    values = [_values(i, total, now + k * spacing) for k, i in enumerate(range(first,
                                                                              first + count))]
    if os.environ.get("BENCH_PACKED", "1") == "0":
        return "".join(LINE % v for v in values).encode()
    lines, pack = [], Pack(SHAPE)
    for t, i, loss, grad_norm in values:
        if not pack.fits(ROW_BYTES):
            lines += pack.lines()
            pack = Pack(SHAPE)
        pack.add([t, i, 0.0001, "probe", loss, grad_norm, 0.001, 0.001, 1048576, 2097152],
                 ROW_BYTES)
    return "".join([*lines, *pack.lines()]).encode()


def flood(probe):
    total = int(os.environ.get("BENCH_BEATS", "10000"))
    rate = float(os.environ.get("BENCH_RATE", "0"))
    fd = int(os.environ["MLXPROBE_RECORD_FD"])
    block = max(1, min(BLOCK, int(rate / 100))) if rate else BLOCK  # paced: every 10 ms
    started = time.monotonic()
    for first in range(1, total + 1, block):
        data = memoryview(_block(first, min(block, total + 1 - first), total, rate))
        while data:
            data = data[os.write(fd, data):]
        if rate:
            delay = started + (first + block - 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    probe._step = total  # the end record says how many steps were written
    probe.note(child_s=round(time.monotonic() - started, 3), beats=total)
