"""Memory that climbs after the last reported step, then a busy stall: a loop the program
does not report (a validation pass, a sum of losses) built one lazy graph.

Job: for a busy hang whose steps did not grow memory (they were evaluated), compare the RSS
sampled at the last heartbeat with its peak after it. A program that trains with evaluated
steps and then runs a loop that accumulates an MLX array across batches (`total_loss =
total_loss + loss`) and evaluates it once at the end grows one graph, holding every batch's
inputs and intermediates, until that single evaluation, which then runs far past the step
deadline. The stall is then no hang but memory held by a graph that grew batch by batch:
the verdict is `leak:lazy_graph` (the lazy backlog of a loop the program does not report),
and this names the shape and the line. Measured: fresh13 `a13_lazy_val_total` and fresh215
`linprobe_lazy_feature_bank` (mlx-examples 6d13a14, a CLIP linear probe's feature bank of
unevaluated image embeddings: RSS 25 -> 425 MB with no step, then 6.9 s in one
evaluation), both expected `leak` by the corpus; no correct run's stall shows the ramp.
Only after MIN_STEPS (3) steps: a stall right after step 1 or 2 is the catalogue's step-2
hang (a training loop that never evaluates: the native `native-step2-hang` ramps 2 -> 218 MB
after step 1), a hang by its name, whose fix the per-step backlog's hint gives.

Thresholds and why: RAMP_MB = 64 MB and RAMP_SHARE = 50% of the RSS at the last step, both
needed: measured (failure corpus fresh13 `a13_lazy_val_total`, openai/parameter-golf PR 32)
44 -> 281 MB within ~1.5 s after step 1200, then 11 s in one evaluation; an evaluated
validation pass of the same loop stays within 14 MB of its start (the validation data).

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import spinning

MB = 1024 * 1024
RAMP_MB = 64.0
RAMP_SHARE = 0.5

LEAD = "memory grew with no step reported, then one evaluation ran it: "
MIN_STEPS = 3


def after_steps(last_step: int | None) -> bool:
    """The ramp came after >= MIN_STEPS evaluated steps (a loop after the training)."""
    return (last_step or 0) >= MIN_STEPS
HINT = ("after step {step} RSS grew from {start:.0f} to {peak:.0f} MB with no step reported, "
        "then the process computed in one evaluation{where}: a loop after the training "
        "steps (a validation pass, a sum of losses or metrics, a bank of features or "
        "embeddings appended to a list and concatenated after it) builds one lazy graph "
        "across its batches and evaluates it once at the end. Evaluate inside that loop, "
        "each batch: `mx.eval(total_loss)` or `mx.eval(features)` before the append, or "
        "accumulate Python floats: `total += loss.item()`")


def after_last_step(raw: RawResult) -> dict | None:
    """The RSS at the last heartbeat and its peak after it, when it grew by both
    thresholds; None otherwise."""
    last = raw.steps[-1].get("t") if raw.steps else None
    if last is None:
        return None
    before = [s.rss for s in raw.samples if s.t <= last]
    after = [s.rss for s in raw.samples if s.t > last]
    if not before or not after:
        return None
    start, peak = before[-1] / MB, max(after) / MB
    grew = peak - start
    if grew < RAMP_MB or grew < RAMP_SHARE * start:
        return None
    return {"rss_mb_at_last_step": round(start, 1), "rss_mb_peak_after": round(peak, 1),
            "ramp_mb": RAMP_MB, "ramp_share": RAMP_SHARE}


def own_line(python_stacks: str) -> str | None:
    """`file:line` of the main thread's innermost frame in the program's own files."""
    return next((f"{path.rsplit('/', 1)[-1]}:{line}" for path, line, _ in
                 spinning.main_python_frames(python_stacks or "") if spinning.own_file(path)),
                None)


def hint(raw: RawResult, step: int | None, found: dict) -> str:
    line = own_line(raw.python_stacks)
    return HINT.format(step=step, start=found["rss_mb_at_last_step"],
                       peak=found["rss_mb_peak_after"], where=f" at {line}" if line else "")
