"""A plain-Python child whose behaviour an environment switch changes: planted regressions.

MLXPROBE_PLANT (read here only, never by the real scenarios) names what to break, comma-separated:
- "slow": every step of `steady` takes SLOW_FACTOR times as long (a timing regression);
- "leak": `steady` keeps LEAK_MB per step alive (a pass that becomes a leak);
- "blind": `leaky` frees what it allocates (a broken variant that stops reproducing).
Unset, `steady` passes and `leaky` leaks, run after run.
"""

import os
import time

SCENARIO = {
    "id": "planted",
    "title": "plain-Python loops with regressions planted by MLXPROBE_PLANT",
    "variants": {"steady": "pass", "leaky": "leak"},
}

STEPS = 100  # the leak fit wants enough outside memory samples: ~0.6 s of steps
STEADY_STEPS = 60
STEP_S = 0.006
SLOW_FACTOR = 2.0
LEAK_MB = 2


def planted(what: str) -> bool:
    return what in os.environ.get("MLXPROBE_PLANT", "").split(",")


def steady(probe):
    pause = STEP_S * (SLOW_FACTOR if planted("slow") else 1.0)
    keep = []
    for i in range(STEADY_STEPS):
        if planted("leak"):
            keep.append(bytearray(LEAK_MB * 1024 * 1024))
        time.sleep(pause)
        probe.step(loss=10.0 / (1 + 0.05 * i))


def leaky(probe):
    keep = []
    for i in range(STEPS):
        block = bytearray(LEAK_MB * 1024 * 1024)
        if not planted("blind"):
            keep.append(block)
        time.sleep(STEP_S)
        probe.step(loss=10.0 / (1 + 0.05 * i))
