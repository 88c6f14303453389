"""Rule unit: a loop that compiles anew at every step (a hang with its steps still coming).

Job: `watching/recompiles` holds a watched run whose compiler ran most of the time over
three windows of a minute after warm-up while its steps came, and ends it; this unit gives
that the verdict `hang:recompiling`: the windows' compile shares and step counts as
evidence, the program's own `mx.compile` call sites in the fix. The thresholds (and the
measurement behind them: fresh7's compile_scalar_warmup_stall, mlx#3964) are the watch's,
stated in its module.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from ..watching.recompiles import FADE, MIN_STEPS, SHARE, WARM_STEPS, WINDOW_S, WINDOWS
from . import hints, program
from .rule import Rule, Verdict


def recompiling(raw: RawResult, meta: dict) -> Verdict | None:
    found = raw.recompiling
    if not found:
        return None
    windows = found.get("windows", [])
    shares = ", ".join(f"{w['share']:.0%} ({w['steps']} steps)" for w in windows)
    reason = (f"the compiler ran most of the time while the steps came: in {len(windows)} "
              f"windows of {WINDOW_S:.0f} s after step {WARM_STEPS}: {shares} (>= "
              f"{SHARE:.0%} each): the loop compiles anew at every step, and crawls")
    sites = program.call_sites(raw)
    where = f" (here: {', '.join(sites[:3])})" if sites else ""
    stall = raw.stall
    evidence = {"recompiling": found, "last_step": stall.last_step if stall else None}
    return Verdict("hang", "recompiling", reason, hints.RECOMPILING.format(where=where),
                   evidence)


RULES = (
    Rule("hang.recompiling", "stacks", f"a compiler running >= {SHARE:.0%} of each of "
         f"{WINDOWS} windows of {WINDOW_S:.0f} s after step {WARM_STEPS}, >= {MIN_STEPS} "
         f"steps in each, the last window's share >= {FADE}x the first's",
         "failure corpus: fresh7 compile_scalar_warmup_stall (mlx#3964): compiler 77% of "
         "260 s; fixed twin 1.3 s in all", recompiling),
)
