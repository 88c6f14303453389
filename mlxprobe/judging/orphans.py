"""The rule unit for a collective one rank never joined because it had ended (issue 25).

Job: one verdict for one failure on every backend. A rank that ended (its loop finished
early, or it raised, or its process was gone) while a peer waited in a collective gives:
- `hang:collective` when the ended rank ended without an error of its own (its loop simply
  ran out: uneven shards), naming it, its last step, and the collective number it never
  joined;
- `crash:<its exception>` when it raised, `crash:rank_N_<signal or exit_code>` when the
  launcher saw it killed or failing without an error record (the root cause is that end,
  not the wait).
The peer's own symptom differs by backend and is only evidence: on the ring backend it
raises "[ring] connection to a peer was lost" (measured: CPU and one shared GPU, mlx 0.32.4),
under NCCL it waits forever in `cudaEventSynchronize` (measured: 2x H200, issue 25). Facts
from `ranks.orphaned`; it runs before the crash and hang rules, which would otherwise judge
the peer's symptom.

Must not import: mlx, psutil, the runner, reporters.
"""

from __future__ import annotations

import signal

from ..watching.facts import RawResult
from . import hints, ranks
from .rule import Rule, Verdict

HINT = ("every rank must issue the same collectives: agree on the step count first (the "
        "smallest shard: `mx.distributed.all_min(mx.array(len(data)))`), or give every rank "
        "an equal shard")


def _orphaned(raw: RawResult, meta: dict) -> Verdict | None:
    found = ranks.orphaned(raw) if ranks.distributed(raw) else None
    if found is None:
        return None
    text = ranks.orphan_text(found)
    evidence = {"orphaned_collective": found}
    error = next((r for r in raw.of_kind("error") if r.get("rank") == found["ended_rank"]),
                 None)
    if error is not None:
        kind, message = str(error.get("type", "Exception")), str(error.get("message", ""))
        return Verdict("crash", kind, text, hints.for_error(kind, message,
                                                              str(error.get("traceback", ""))),
                       {**evidence, "exception": kind, "message": message[:2000],
                        "traceback": str(error.get("traceback", ""))[-3000:]})
    code = found.get("exit_code")
    if code:  # killed by a signal or exited with an error code, no error record
        how = f"exit_{code}" if code > 0 else _signal_name(-code)
        return Verdict("crash", f"rank_{found['ended_rank']}_{how}", text,
                       hints.EXIT if code > 0 else hints.for_signal(-code), evidence)
    return Verdict("hang", "collective", text, HINT, evidence)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal_{number}"


RULES = (
    Rule("hang.collective_orphaned", "records", "a rank ended while a peer had issued a "
         "collective it never joined, and the peer then raised or stalled",
         "rank-exits-early on ring (CPU, 1 GPU) and NCCL (2 GPUs), issue 25", _orphaned),
)
