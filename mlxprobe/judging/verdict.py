"""The verdict: a pure function from a run's raw facts to pass/hang/crash/leak/... with evidence.

Job: `classify(raw, meta)` looks at the records, samples and exit status in a fixed order
(the first rule that fires decides) and returns a `Verdict` whose evidence holds the numbers
it was decided on and the thresholds they were compared with. Every threshold is a named
constant with the reason for its value. No I/O, no clock, no processes.

Order: crash (memory kill, exception, signal, bad exit, a rank that failed) > hang >
wrong_result (a failed scenario check; ranks whose collectives per step differ) > no_update >
diverged > leak > no_update of a part > not_learning > pass. A distributed job (records
stamped with ranks) gets its per-rank evidence and the culprit named (`ranks`).

Cost: the rules that must be exact over a whole run (a metric 0.0 at every step, the first
non-finite loss and the count, the first non-finite parameters, the largest loss and where,
fallback steps, the step count) read the record store's running tallies (`metric_tally`);
the others read the kept series, whole up to 20,000 steps, evenly thinned beyond. So the
verdict's cost does not grow with the steps, and up to that limit it is the whole-list one.

Must not import: mlx, psutil, the runner.
"""

from __future__ import annotations

import dataclasses
import math
import re
import signal
import statistics
from collections.abc import Iterable, Iterator

from .. import metric_names
from ..protocol import decode_number
from ..watching.evaluation import BUSY_CORES, BUSY_RUNNABLE, RUNNING_FLOOR, computing
from ..watching.facts import RawResult
from ..watching.store import EXACT, PROGRESS_VIEW
from ..watching.tally import Tally
from . import (
    accumulated,
    anatomy,
    ascent,
    averaged,
    backlog,
    baseline,
    below_chance,
    below_floor,
    below_mean,
    capped,
    caught,
    ceiling,
    chance,
    checked,
    composed,
    constant,
    contradicted,
    dead_gradient,
    decay,
    degraded,
    drift,
    elsewhere,
    ended,
    equilibrium,
    first_update,
    halted,
    held_end,
    held_peaks,
    hints,
    interrupted,
    kept_copies,
    known_errors,
    leak_time,
    leaked_answer,
    memorised,
    memory_shape,
    metrics,
    nearest,
    negative_kl,
    orphans,
    own_step,
    params,
    parting,
    phases,
    policy,
    program,
    ramp,
    ranks,
    receding,
    recompiling,
    replaced,
    replayed,
    reported_memory,
    reverted,
    rising_rate,
    rounding,
    runaway,
    same_split,
    schedule,
    skipped,
    spinning,
    split_gap,
    staged_memory,
    staged_rise,
    stale_eval,
    stalled,
    stalls,
    standstill,
    throughput,
    tracebacks,
    unapplied_rate,
    unevaluated,
    unloaded,
    unmoved,
    variance,
    variational,
    weighting,
    working_set,
    zero_accuracy,
    zero_advantage,
    zero_count,
    zero_logit,
    zero_score,
)
from . import startup as startup_rules
from .rule import Rule, Verdict
from .settled import settled
from .stats import finite_head, last_share_start, moved_after, theil_sen, window_median

MB = 1024 * 1024

# hang: a stalled child was computing (a runaway lazy graph, a huge step) when it used at
# least half a core, or had a runnable thread (state R) in at least half of the stall's
# samples; otherwise it was waiting (a lock, a collective no peer joined, I/O). CPU time
# alone is not enough: measured with the machine overloaded by other work, a backlog eval got
# only 0.44 cores while its thread stayed runnable. A blocked wait measures ~0.0 on both.
# (Defined in `watching/evaluation`, whose long-evaluation allowance asks the same question.)

# leak: RSS against step number after warm-up, Theil-Sen fit. The first 20% of steps are
# warm-up (allocator caches and kernel caches fill, measured to settle within ~30 steps).
# A leak must grow by at least 16 MB and 10% of the RSS at warm-up end over the fitted
# steps (RSS of a healthy run wanders by a few MB; 16 MB is > 4x that), and the growth must
# go on: the second half's slope at least half of the whole fit's (a one-off step is not a
# leak).
LEAK_WARMUP_FRAC = 0.2
LEAK_MIN_STEPS = 30
LEAK_MIN_MB = 16.0
LEAK_MIN_REL = 0.10
LEAK_SUSTAIN = 0.5
# ... and it goes on to the end: over the last LEAK_TAIL_SHARE of the fitted steps the view
# moved by more than LEAK_HELD of its level. Memory that held flat for the last fifth of the
# run grew to a cap (a curriculum's longer sequences, a buffer filled to its size), not a
# leak: fresh74 `bracket_depth_curriculum` (correct, sequences of 6, 12, 24, then 40 tokens)
# rose 30 -> 57 MB in steps at the stage changes and then held at 57.0 MB for its last 150
# of 651 steps (moved 0.0%). Measured over every kept run whose memory grew past the
# floors: every leak moved >= 2.8% of its level in its last fifth (RSS; MLX active memory
# >= 15%), so the 1% floor leaves a 2.8x margin. A leak whose steps come further apart than
# a fifth of the run is not called by this rule.
LEAK_TAIL_SHARE = 0.2
LEAK_HELD = 0.01
# The same rule runs on each memory view, each with a floor that fits it (issue 13):
# - MLX active memory (`mx_active`, the child's own counter at every heartbeat): exact, no
#   allocator or context noise. Measured: every non-leaking catalogue run on CPU grows by
#   0.000 MB after warm-up (reports/linux-x86_64-cpu-mlx0.32.4.json); on CUDA lazy-metrics'
#   leak is 0.64 -> 2.83 MB over 200 steps (~11 KB/step, ~1.75 MB over the fitted 160
#   steps) while its fixed variant stays within 0.4-0.7 MB: 1 MB is above any wander of a
#   healthy run and under that leak with a 1.75x margin; 10% as for RSS keeps a big model's
#   (GBs of weights) batch-shape wander out.
# - GPU memory per process (NVML): includes the CUDA context (~500 MB) and MLX's buffer
#   cache, which grows in allocation chunks (MiBs) while warming: 32 MB and 5%; not yet
#   measured on a leak (no run), chosen above chunk granularity.
# RSS keeps 16 MB and 10%: a CPU verdict is never weakened, a view only adds evidence.
MX_LEAK_MIN_MB = 1.0
MX_LEAK_MIN_REL = 0.10
DEVICE_LEAK_MIN_MB = 32.0
DEVICE_LEAK_MIN_REL = 0.05
MEMORY_VIEWS = (  # (view, its name in words, min growth MB, min growth relative)
    ("rss", "RSS", LEAK_MIN_MB, LEAK_MIN_REL),
    ("mx_active", "MLX active memory", MX_LEAK_MIN_MB, MX_LEAK_MIN_REL),
    ("device", "GPU memory", DEVICE_LEAK_MIN_MB, DEVICE_LEAK_MIN_REL),
)

# diverged: any non-finite loss; or the final loss (median of the last 10%) above twice the
# initial (median of the first 10%): a loop that learns never doubles its starting loss.
EXPLODE_FACTOR = 2.0
# A loss that rose but ended steady (its last third within 5% of its median) at under half its
# first report is no explosion: failure corpus fresh11 `correct_a11_lagrangian_dual_ascent`,
# a constrained fit whose multiplier switches on at iteration 300: mse 1.59 -> 0.0094, then
# 0.47 and flat; a blow-up passes its start or climbs on.
SETTLED_SHARE, SETTLED_RANGE = 0.5, 0.05
# ... measured from the first report itself when the whole last window lies six orders of
# magnitude above it: a blow-up between the first and the second report puts the first
# window's median past the start (failure corpus fresh38 `ssm_overfit_lr_blowup`:
# cross-entropy 1.36, then 2.8e17 and 1.6e14-4.2e15 for the rest of the run); a first report
# far below the rest that is no blow-up (a running mean divided by a whole interval at step 1)
# is off by the interval's length, never by 1e6
JUMP_FACTOR = 1e6
# ... and a loss that ended ORDERS (100x) above its start, all finite, names targets outside
# the logits as a cause besides the step size (fresh208 `splitvocab_caption`: media token ids
# past a pruned head, 3.88 -> 65,743 with no NaN)
ORDERS = 100.0
# ... or any single loss above 10x the initial: measured, healthy scenario loops never exceed
# their first loss by more than ~1.3x; a blow-up reaches 1e8 before settling or going NaN.
SPIKE_FACTOR = 10.0
RECOVERED_AFTER = 2  # reports after a spike's peak, all back at the level before it (`recovered`)
# ... or a held-out loss whose every evaluation after its first lies above 10x that first one
# (at least 3 evaluations): failure corpus fresh17 `lora_scale20_lr_blowup`, val loss 0.864
# before training, then 362, 53, 228, while the train loss fell from its first report (6854
# -> 32 -> 246) and so read as learning. Over 520 dumped corpus runs (19 halves), no clean run's
# held-out loss stays above even 1.5x its first value.
HELD_OUT_FACTOR, HELD_OUT_MIN = 10.0, 3

# not_learning: the learning metric must fall by at least 5% from its first 10% to its last
# 10% (medians, at least 3 points each). Fixed scenario loops fall by 30%+; noise of a
# stalled loss stays within ~2%.
MIN_DROP = 0.05
MIN_TAIL_ERRORS = 3  # `unmoved_error`: the reports a share of errors needs
WINDOW_FRAC = 0.1
WINDOW_MIN = 3
MIN_POINTS = 10  # fewer points than this: learning is not judged


def matches(verdict: Verdict, expected: str) -> bool:
    """`expected` is "kind" (any detail) or "kind:detail"."""
    kind, _, detail = expected.partition(":")
    return verdict.kind == kind and (not detail or verdict.detail == detail)


def classify(raw: RawResult, meta: dict | None = None) -> Verdict:
    """The verdict for one run. `meta` is the scenario's SCENARIO dict (learning_metric).
    Every rule of `rulebook()` is run; the first that fires decides, and the evidence lists
    each one that fired (`rules`) and the signal it read."""
    meta = meta or {}
    fired = [(rule, v) for rule in rulebook() if (v := rule.judge(raw, meta)) is not None]
    chosen = fired[0][1] if fired else _pass(raw, meta)
    verdict = _with_common(chosen, raw)
    if fired:
        verdict.evidence["rules"] = [rule.fired(v) for rule, v in fired]
    return verdict


def rulebook() -> tuple[Rule, ...]:
    """Every rule, in the order of precedence: interrupted > a rank that left its peers
    (orphans) > crash > an idle start-up > hang > wrong_result > no_update > diverged > leak >
    no_update of a part (one may be fixed on purpose) > not_learning. The threshold texts are
    the constants' own."""
    return (
        *interrupted.RULES,
        *orphans.RULES,  # before crash and hang: they would judge the waiting peer's symptom
        Rule("crash", "errors", "an error record, a signal, a non-zero exit, a memory kill",
             "the child's exit status and its records", _crash),
        *startup_rules.RULES,
        *recompiling.RULES,
        Rule("hang", "stacks", f"no heartbeat past the deadline; busy at >= {BUSY_CORES} "
             f"cores or a runnable thread in >= {BUSY_RUNNABLE:.0%} of samples beside >= "
             f"{RUNNING_FLOOR:g} cores (`leak:"
             f"lazy_graph` when RSS grew >= {ramp.RAMP_MB:g} MB and "
             f"{ramp.RAMP_SHARE:.0%} after the last step, step >= {ramp.MIN_STEPS}: one lazy "
             "graph)",
             "deadlines from the steps seen (watching/deadlines)", _hang),
        Rule("wrong_result.check", "records", "a scenario check failed", "the scenario",
             _wrong_result),
        Rule("wrong_result.collectives", "records", "ranks issued different collectives",
             "records of each rank's collectives", _collectives),
        *_reported_wrong_rules(),
        Rule("no_update.reported", "metrics", "learning rate, grad_norm or param_delta "
             "exactly 0 at every report; an optimizer built and never stepped while >= 10 "
             "losses were reported, an error was printed >= 10 times, or the run finished "
             "with exit status 0", "the program's own reports; fresh272 quayside_skiff_lengths, "
             "fresh344 quarry_lantern_dflash (every batch skipped)", _no_update),
        *params.NO_UPDATE,
        *anatomy.RULES,
        *standstill.RULES,
        *rounding.RULES,
        *ended.RULES,  # after the looks' rules: `no_update.stopped` names the schedule too
        *halted.RULES,
        _diverged_rule(),
        *runaway.RULES,
        *metrics.RULES,
        *params.DIVERGED,
        *backlog.RULES,  # before leak and leak_time: it names the cause
        *unevaluated.RULES,  # before leak and leak_time: it names the cause
        _leak_rule(),
        *leak_time.RULES,
        *params.PART,  # after leak: a part may be fixed on purpose, climbing memory is not
        *_not_learning_rules(),
    )


def _reported_wrong_rules() -> tuple[Rule, ...]:
    """The rulebook's wrong_result rules read from what the program reports, in their order
    of precedence (after the scenario's own checks)."""
    return (
        *replayed.RULES,  # before reverted: a whole curve replayed names the resume
        *reverted.RULES,
        *degraded.RULES,
        *unloaded.RULES,
        *averaged.RULES,
        *accumulated.RULES,
        *stale_eval.RULES,
        *split_gap.RULES,
        *same_split.RULES,
        *below_floor.RULES,
        *throughput.RULES,
        *zero_count.RULES,
        *negative_kl.RULES,
        *ceiling.RULES,
        *checked.RULES,
        *caught.RULES,
        *zero_score.RULES,
        *contradicted.RULES,
    )


def _not_learning_rules() -> tuple[Rule, ...]:
    """The rulebook's not_learning rules, last, in their order of precedence."""
    return (
        *constant.RULES,
        *schedule.RULES,
        *unapplied_rate.RULES,
        *capped.RULES,
        *stalled.RULES,
        *replaced.RULES,
        *chance.RULES,
        *zero_logit.RULES,
        *zero_accuracy.RULES,
        *below_chance.RULES,
        *below_mean.RULES,
        *zero_advantage.RULES,
        *receding.RULES,
        *parting.RULES,
        *memorised.RULES,
        *leaked_answer.RULES,
        *baseline.RULES,  # after memorised: a rise past the start says more
        _not_learning_rule(),
        *unmoved.RULES,  # last: the noise-level sibling of `constant`, for runs too short
        # for the trend rule (< 10 reports) that no specific rule explains
    )


def _leak_rule() -> Rule:
    """The leak rule, with every memory view's excuse in its threshold."""
    return Rule("leak", "memory", f"growth >= {LEAK_MIN_MB:g} MB and {LEAK_MIN_REL:.0%} (RSS) "
                f"after warm-up, sustained, and moved > {LEAK_HELD:.0%} over the last "
                f"{LEAK_TAIL_SHARE:.0%} of the steps; RSS alone excused when MLX's peak rose "
                f">= {working_set.PEAK_ROSE:g}x and RSS then held over the last "
                f"{working_set.HELD_SHARE:.0%}, or MLX's active memory did not grow and RSS "
                f"moved <= {held_end.STILL:.1%} over the last {held_end.HELD_SHARE:.0%} (>= "
                f"{held_end.MIN_LOOKS} samples there), or MLX's active memory did not grow "
                "and RSS is a saw-tooth whose peaks' robust rise is under "
                f"{held_peaks.PEAK_RISE_MAX:g} MB; every view excused when the program "
                "prints a stage counter (changed where a new value is first reported, or right "
                "after the old value's last report when the counter is printed at each stage's "
                "end: its last value once, at the run's last report), MLX's active memory held "
                "inside each stage and RSS "
                "over the second half of each stage but the last (median of the last third within "
                f"{staged_memory.HELD:.0%} of the first's); MLX's active memory excused when "
                f"what it kept to the end rose at <= {kept_copies.MAX_RISES} steps, >= "
                f"{kept_copies.MIN_GAP} apart, each by 1-{kept_copies.MAX_COPIES} whole copies "
                f"of the census's trainable weights (within {kept_copies.TOLERANCE:.0%}), adding "
                "to >= half its growth; any view excused when a size the program prints of what "
                "it keeps (`_mb` in its name, `MB` after its value or after a `/` or bracket "
                "that follows it, no memory counter's name) "
                f"rose at every one of >= "
                f"{reported_memory.MIN_REPORTS} reports and the view grew "
                f"{reported_memory.RATIO_MIN:g}-{reported_memory.RATIO_MAX:g}x as much between "
                "them", "catalogue runs (reports/); fresh74 "
                "bracket_depth_curriculum, fresh85 carillon_drift_gru_curriculum (a cap, not a "
                "leak), fresh105 hike_ascent_gru_curriculum (a data set per stage), fresh271 "
                "semaphore_shift_softprompt (stairs at phase changes), fresh303 "
                "pipeorgan_voicing_swa_snapshots (a weight copy kept per epoch), fresh343 "
                "hoolock_greatcall_lstm_sgdr (a stage printed at its end), fresh386 "
                "evaporite_terrace_pathpca (every iterate kept, its size printed), fresh389 "
                "platen_smear_weekly (a data store kept, `store=0.30 MB`), fresh388 "
                "organ_voicing_trajectory (`901 snaps / 36.7 MB`), fresh389 microfilm_grain_ramp "
                "(a saw-tooth of 33 MB teeth, its peaks flat)", _leak)


def _diverged_rule() -> Rule:
    """The loss rule of divergence, with every exception in its threshold."""
    return Rule("diverged.loss", "metrics", f"a loss non-finite in >= {metrics.PERSIST:.0%} "
                "of its reports from its first non-finite one (not when no parameter look saw "
                f"a non-finite value and >= {skipped.FINITE_AFTER} finite reports came after "
                "it, the last report finite, or under another loss name when every non-finite "
                "one has a name of its own and the last came within that name's widest gap of "
                "its last report); the loss above "
                f"{EXPLODE_FACTOR:g}x its start over its whole last window (the start: its "
                f"first window's median, or its first report when the last window is above "
                f"{JUMP_FACTOR:g}x that; not when a report "
                "of the later half, after the first one above that, is back at the start), or "
                f"{SPIKE_FACTOR:g}x at a peak (past that times the first window's largest too, "
                "unless a held-out error rose; not when every one of >= "
                f"{RECOVERED_AFTER} later reports is back within the largest of the later half "
                "before it and the run learns: a falling trend or a rising reward or accuracy); "
                "a held-out loss above "
                f"{HELD_OUT_FACTOR:g}x its first evaluation at every later one (>= "
                f"{HELD_OUT_MIN} evaluations); an explosion not when the loss's first report "
                "is 0 (or at most 1% of its largest later report) and a reward rose "
                "significantly (a policy leaving its reference), nor when one player's loss "
                f"of a two-player game ended at <= {equilibrium.GAME_LEVEL:g} (its equilibrium), "
                "nor when the loss is the sum of >= 2 printed terms at each of its last "
                f"{composed.LAST} reports (within {composed.TOL:.0%}), each of which ended at "
                "or below its first report (terms joined the objective), nor when it rose only "
                f"across stages announced on lines of their own (a setting, not a learning rate, "
                f"stepped to new values on loss-less lines: no segment rose {EXPLODE_FACTOR:g}x "
                "its first report or opened that far above all before it) and ended at or "
                "below its first report",
                "healthy catalogue loops never exceed their first loss by more than ~1.3x; no "
                "clean corpus run's held-out loss stays above 1.5x its first; fresh356 "
                "rootstock_latin_unmask (a hidden-ratio curriculum 0.5 -> 0.8 -> 1.0)",
                _diverged)


def _not_learning_rule() -> Rule:
    """The trend rule, with every exception that takes its verdict back in its threshold."""
    return Rule("not_learning", "metrics", f"the loss fell < {MIN_DROP:.0%} (scenario), or no "
                "significant fall, or one that ended at or above its first report with its "
                f"last window < {program.MIN_DROP:.0%} below its first (a program; not when "
                "the loss is at its floor, <= "
                f"{program.FLOOR_SHARE:.0%} of its highest, or an accuracy at its ceiling, >= "
                f"{program.CEILING:g}; nor when it falls after a printed coefficient of it "
                f"ramped through >= {weighting.MIN_VALUES} values and held {weighting.HELD} "
                "reports; nor when a higher-is-better metric rose: a trend, or from its first "
                f"report to a last third whose median is >= {program.ROSE_SHARE:g}x it, every "
                "value above it; nor when the loss fell the same way: a last third whose median "
                f"is <= its first report / {program.FELL_SHARE:g}, every value below it; nor "
                "when its noise hides a fall: the lower end of the ~95% interval of its fitted "
                f"change below -{program.MAX_HIDDEN_FALL:.0%}; nor when it is a level with "
                f"noise: that interval holds 0 within +-{program.MAX_HIDDEN_FALL:.0%} and the "
                f"values scatter >= {program.LEVEL_NOISE:.1%} of their median around it, "
                "unless the run reports a higher-is-better metric, which did not rise, a share "
                f"of errors >= {MIN_TAIL_ERRORS} times, never {MIN_DROP:.0%} below its first, "
                "or a learning rate at its floor; nor when another error measure reported before "
                f"the loss's first report had fallen >= {program.EARLY_FALL:.0%} at its next; "
                "nor when a held-out loss fell significantly, p < "
                f"{program.TREND_P:g}: a training loss over a buffer that grows reads new data; "
                "nor when the parameters moved and then stood bit-still at a constant rate: "
                "`settled`; nor when the loss is one value at every report beside a loss that "
                "fell or a held-out metric that moved: a baseline read as the loss)",
                "catalogue runs; Mann-Kendall; failure corpus: fresh3's converged twins, "
                "fresh21's beta-VAE warm-up, fresh23's GRPO reward that rose before its second "
                "report, fresh24's variational twin whose negative ELBO fell 35.4 -> 24.0 before "
                "its second report; fresh28's NLL that converged before its first report; "
                "fresh35's precision-matrix NLL at its noise floor by its first report; fresh45's "
                "deconvolution converged before its first report; fresh102's online buffer, "
                "test NLL 0.721 -> 0.672 while its train NLL held at 0.70; fresh107's DP-SGD, "
                "train BCE 0.495 -> 0.428 before its second report, then a drift up to 0.442; "
                "fresh219's ridge fit converged before its first report; fresh360's "
                "Adam-atan2 port, 3.13 -> 3.44 -> 3.17, digit error 0.872 at each of 3 "
                "evaluations; fresh221's "
                "mean-spectrum baseline beside a VAE's falling ELBO", _not_learning)


def compile_seconds(raw: RawResult) -> float:
    """Seconds a compiler ran in the child's tree (between samples that saw one)."""
    return raw.sampled.compile_s


def _with_common(v: Verdict, raw: RawResult) -> Verdict:
    evidence = {"steps": raw.step_count, **v.evidence}
    if ranks.distributed(raw):
        evidence.setdefault("ranks", ranks.rank_summary(raw))
        found = ranks.mismatch(raw)
        if found and "collective_mismatch" not in evidence:
            evidence["collective_mismatch"] = found
            v = Verdict(v.kind, v.detail, f"{v.reason}; {ranks.mismatch_text(found)}", v.hint,
                        v.evidence)
    compiled = compile_seconds(raw)
    if compiled > 0:
        # MLX's Linux CPU backend runs g++ the first time a graph runs: never a stall
        evidence["compiler_s"] = round(compiled, 2)
        v = Verdict(v.kind, v.detail, f"{v.reason}; a compiler ran {compiled:.1f} s (not "
                    "counted against deadlines)", v.hint, v.evidence)
    if raw.compiling:
        # a GPU backend compiles kernels in the process: seen only in its native stacks
        seen = sum(c.get("credited_s", 0.0) for c in raw.compiling)
        frames = sorted({str(c.get("frame")) for c in raw.compiling})
        evidence["kernel_compile_s"] = round(seen, 2)
        evidence["kernel_compile_looks"] = raw.compiling[:20]
        capped = " until the cap of compile time" if raw.compile_capped else ""
        v = Verdict(v.kind, v.detail, f"{v.reason}; kernel compilation ({', '.join(frames)}) "
                    f"seen in the native stacks for {seen:.1f} s at {len(raw.compiling)} "
                    f"missed deadline(s){capped} (not counted against deadlines or the "
                    "budget)", v.hint, v.evidence)
    passed = {str(c.get("name")): c.get("evidence", {}) for c in raw.of_kind("check")
              if c.get("ok")}
    if passed:
        evidence["checks_passed"] = passed
    if raw.malformed:
        evidence["malformed_records"] = raw.malformed
        reason = f"{v.reason} ({raw.malformed} malformed record line(s) ignored)"
        return Verdict(v.kind, v.detail, reason, v.hint, evidence)
    return Verdict(v.kind, v.detail, v.reason, v.hint, evidence)


# --- crash -------------------------------------------------------------------------------

def _crash(raw: RawResult, meta: dict) -> Verdict | None:
    if raw.memory_limit_mb is not None:
        peak = raw.sampled.peak_rss / MB
        return Verdict("crash", "oom", f"killed at {peak:.0f} MB RSS, over the "
                       f"{raw.memory_limit_mb:.0f} MB limit", hints.OOM,
                       {"peak_rss_mb": round(peak, 1), "limit_mb": raw.memory_limit_mb})
    if raw.stall is not None:
        return None
    errors = raw.of_kind("error")
    if errors:
        crash = _metal(_error_crash(errors[0]), str(errors[0].get("message", "")))
        gone = ranks.finished_early(raw) if ranks.distributed(raw) else ""
        return Verdict(crash.kind, crash.detail, f"{crash.reason}; {gone}" if gone
                       else crash.reason,
                       _guard_hint(raw, str(errors[0].get("message", ""))) + nearest.note(
                           raw, crash.detail, str(errors[0].get("message", ""))) + crash.hint,
                       crash.evidence)
    failed = ranks.failed_nodes(raw.stderr_tail)  # mlx.launch's own line: it exits 0
    if failed:
        rank, code = min(failed.items())
        how = f"exit_{code}" if code >= 0 else _signal_name(-code)
        return Verdict("crash", f"rank_{rank}_{how}", f"rank {rank} ended with "
                       f"{how.replace('_', ' code ')} and no error record (the launcher said "
                       f"so, then exited {raw.exit_code})",
                       hints.EXIT if code >= 0 else hints.for_signal(-code),
                       {"failed_ranks": failed, "stderr_tail": raw.stderr_tail[-2000:]})
    if raw.signal is not None:
        name = _signal_name(raw.signal)
        return _metal(Verdict("crash", name, f"the child died of {name}",
                              hints.for_signal(raw.signal, raw.stderr_tail),
                              {"signal": raw.signal, "stderr_tail": raw.stderr_tail[-2000:]}),
                      raw.stderr_tail)
    found = _exit_crash(raw)
    return _metal(found, raw.stderr_tail) if found is not None else None


GUARDED = re.compile(r"(?i)\b(?:nan|inf|non-?finite|not finite)\b")


def _guard_hint(raw: RawResult, message: str) -> str:
    """The program's own guard raised on a loss it found non-finite (`raise
    FloatingPointError(f"Non-finite at step {i}: loss={loss}")`): the divergence's causes
    lead the hint, as they would had the run gone on (fresh172 `ferrybell_fp16_lm`,
    sml-mlx 0b12ef5: a float16 cross-entropy over 12,288 tokens summed past 65504)."""
    if "loss" not in message.lower() or not GUARDED.search(message):
        return ""
    return "the program stopped itself on a non-finite loss: " + _non_finite_hint(raw)


def _metal(v: Verdict, text: str) -> Verdict:
    """A crash whose stderr (or message) holds a known Metal failure is named after it
    (`crash:metal_gpu_timeout`, ...), with that failure's fix; the signal or exception
    stays in the evidence."""
    found = hints.metal_failure(text[-20000:])
    if found is None:
        return v
    detail, line, hint = found
    return Verdict("crash", detail, f"{v.reason}; Metal reported: {line[:300]}", hint,
                   {**v.evidence, "metal_error": line, "crash_was": v.label})


def _error_crash(error: dict) -> Verdict:
    kind, message = str(error.get("type", "Exception")), str(error.get("message", ""))
    who = f"rank {error['rank']}" if isinstance(error.get("rank"), int) else "the loop"
    return Verdict("crash", kind, f"{who} raised {kind}: {message[:300]}",
                   hints.for_error(kind, message, str(error.get("traceback", ""))),
                   {"exception": kind, "message": message[:2000],
                    "traceback": str(error.get("traceback", ""))[-3000:],
                    **known_errors.evidence(kind, message)})


def _exit_crash(raw: RawResult) -> Verdict | None:
    if raw.watched:  # a user's program owes no end record: its exit code says how it ended
        failed = program.failed_exit(raw)
        if not failed:
            return None
        detail, reason, hint, evidence = failed
        message = str(evidence.get("message", ""))
        return Verdict("crash", detail, reason, _guard_hint(raw, message)
                       + nearest.note(raw, detail, message) + hint, evidence)
    if raw.exit_code not in (0, None):
        return Verdict("crash", f"exit_{raw.exit_code}",
                       f"the child exited with code {raw.exit_code} and no error record",
                       hints.EXIT, {"exit_code": raw.exit_code,
                                    "stderr_tail": raw.stderr_tail[-2000:]})
    if not raw.of_kind("end"):
        return Verdict("crash", "no_end_record",
                       "the child exited 0 without finishing the variant (no end record)",
                       hints.NO_END, {"exit_code": raw.exit_code,
                                      "stderr_tail": raw.stderr_tail[-2000:]})
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal_{number}"


# --- hang --------------------------------------------------------------------------------

def _hang(raw: RawResult, meta: dict) -> Verdict | None:
    stall = raw.stall
    if stall is None or raw.recompiling:  # held by `watching/recompiles`: its own unit
        return None
    busy = computing(stall.cpu_fraction, stall.runnable_fraction)
    step_ms = _median_step_ms(raw)
    slope = _rss_slope_mb(raw)
    evidence = {"phase": stall.phase, "stalled_s": round(stall.stalled_s, 3),
                "deadline_s": round(stall.deadline_s, 3), "last_step": stall.last_step,
                "cpu_cores_during_stall": round(stall.cpu_fraction, 3),
                "busy_threshold_cores": BUSY_CORES,
                "runnable_share_during_stall": round(stall.runnable_fraction, 3),
                "busy_threshold_runnable": BUSY_RUNNABLE, "compile_s": round(stall.compile_s, 2),
                "step_ms_median_before": step_ms, "rss_mb_per_step_before": slope,
                "run_queue_wait_s": stall.waited_s}
    where = f"after step {stall.last_step}" if stall.last_step else "before the first step"
    activity = "computing" if busy else "waiting"
    reason = (f"no heartbeat for {stall.stalled_s:.1f} s {where} (deadline "
              f"{stall.deadline_s:.1f} s, {stall.phase}); CPU at {stall.cpu_fraction:.2f} "
              f"cores, a thread runnable in {stall.runnable_fraction:.0%} of samples: "
              f"the process was {activity}")
    hint = (not busy and hints.thread_died(raw.stderr_tail)) or hints.for_hang(busy, step_ms,
                                                                              slope)
    if ranks.distributed(raw):
        return _rank_hang(raw, evidence)
    if raw.long_evaluation:  # held past the work before it (`watching/evaluation`)
        evidence["long_evaluation"] = raw.long_evaluation
        reason += (f"; inside one MLX evaluation for {raw.long_evaluation['inside_evaluation_s']:g}"
                   f" s, longer than the {raw.long_evaluation['worked_before_s']:g} s from the "
                   "first step to it")
    cause = _stall_cause(raw, busy, slope)
    if cause is not None:
        key, found, more, hint = cause
        evidence[key] = found
        reason += more
        if key == "after_last_step" and ramp.after_steps(stall.last_step):  # (`ramp`)
            return Verdict("leak", "lazy_graph", ramp.LEAD + reason, hint, evidence)
    return Verdict("hang", "cpu_busy" if busy else "cpu_idle", reason, hint, evidence)


def _stall_cause(raw: RawResult, busy: bool,
                 slope: float | None) -> tuple[str, object, str, str] | None:
    """What the stall's stacks or memory say it is, beyond busy or idle: (evidence key, its
    value, the reason's addition, the fix), or None."""
    if raw.looping and raw.looping.get("allocating"):  # `watching/loops.allocating`
        return ("looping", raw.looping, hints.allocating_loop_reason(raw.looping),
                hints.ENDLESS_ALLOCATING)
    if raw.looping:  # held by `watching/loops`: the stacks moved, among lines seen before
        return ("looping", raw.looping, f"; for {raw.looping['looping_s']:.0f} s its main "
                f"thread cycled among {raw.looping['distinct_stacks']} stacks already seen, "
                "with no output, I/O or memory change: an endless loop", hints.ENDLESS_LOOP)
    if busy and (spot := spinning.in_own_python(raw.python_stacks, raw.native_stacks)):
        return ("computing_in", spot, f"; its main thread computes in the program's own "
                f"Python at {spot}, with no MLX frame on its native stack", hints.ENDLESS_LOOP)
    if busy and not (slope or 0) > hints.LAZY_RSS_MB_PER_STEP and (
            found := ramp.after_last_step(raw)):
        return ("after_last_step", found, f"; RSS grew from {found['rss_mb_at_last_step']:.0f} "
                f"to {found['rss_mb_peak_after']:.0f} MB after the last step",
                ramp.hint(raw, raw.stall.last_step if raw.stall else None, found))
    return None


def _rank_hang(raw: RawResult, evidence: dict) -> Verdict:
    """A distributed job's stall: judged by its ranks' main threads (a polling socket thread
    is not computing), the culprit named by its collective count."""
    stall = raw.stall
    assert stall is not None
    summary = ranks.rank_summary(raw)
    busy = bool(ranks.main_busy(raw))
    found = ranks.mismatch(raw)
    lines = "; ".join(ranks.rank_line(r, info) for r, info in summary.items())
    reason = (f"no heartbeat from the slowest rank for {stall.stalled_s:.1f} s (deadline "
              f"{stall.deadline_s:.1f} s): {lines}")
    evidence = {**evidence, "ranks": summary, "main_thread_busy": busy,
                "busy_main_cores": ranks.BUSY_MAIN_CORES}
    if found:
        evidence["collective_mismatch"] = found
        return Verdict("hang", "collective", f"{ranks.mismatch_text(found)}. {reason}",
                       hints.COLLECTIVE, evidence)
    hint = hints.for_hang(busy, evidence["step_ms_median_before"],
                          evidence["rss_mb_per_step_before"])
    return Verdict("hang", "cpu_busy" if busy else "cpu_idle", reason, hint, evidence)


def _median_step_ms(raw: RawResult) -> float | None:
    times = [s.get("step_s") for s in raw.steps[1:]]
    times = [t for t in times if isinstance(t, (int, float))]
    return round(statistics.median(times) * 1000, 3) if times else None


def rss_at_steps(raw: RawResult) -> list[tuple[int, float]]:
    """(step, RSS in MB) for each heartbeat: the latest outside sample at its arrival."""
    out, samples, i = [], raw.samples, 0
    for rec in raw.steps:
        while i + 1 < len(samples) and samples[i + 1].t <= rec.get("t", 0.0):
            i += 1
        if samples and samples[i].t <= rec.get("t", 0.0):
            out.append((int(rec.get("step", len(out) + 1)), samples[i].rss / MB))
    return out


def _rss_slope_mb(raw: RawResult) -> float | None:
    points = rss_at_steps(raw)
    if len(points) < 2:
        return None
    return round(theil_sen([p[0] for p in points], [p[1] for p in points]), 4)


# --- scenario checks, updates, divergence --------------------------------------------------

def _wrong_result(raw: RawResult, meta: dict) -> Verdict | None:
    failed = [c for c in raw.of_kind("check") if not c.get("ok")]
    if not failed:
        return None
    first = failed[0]
    evidence = {c["name"]: c.get("evidence", {}) for c in failed}
    names = ", ".join(dict.fromkeys(str(c.get("name")) for c in failed))
    failing = sorted({c["rank"] for c in failed if isinstance(c.get("rank"), int)})
    if failing:
        names += f" (on rank{'s' if len(failing) > 1 else ''} {', '.join(map(str, failing))})"
    return Verdict("wrong_result", str(first.get("name", "")),
                   f"scenario check failed: {names}",
                   str(first.get("hint") or hints.WRONG_RESULT), {"failed_checks": evidence})


def _collectives(raw: RawResult, meta: dict) -> Verdict | None:
    """Ranks that issued different collectives at a step: their collectives were paired
    across different steps (NCCL does so silently), whatever happened next."""
    found = ranks.mismatch(raw) if ranks.distributed(raw) else None
    if found is None:
        return None
    return Verdict("wrong_result", "collective_mismatch", ranks.mismatch_text(found),
                   hints.COLLECTIVE, {"collective_mismatch": found})


def metric_series(raw: RawResult, name: str) -> list[float]:
    """Values of `name` (the loss or a metric) over the records that reported it as a number:
    the loss from the best source that has one (`RawResult.learning`), a metric from the
    steps, else from progress records (a trainer's validation loss, learning rate). A long
    run's records are thinned evenly: these are then evenly spaced values of the run."""
    if name == "loss":
        return _numbers(r.get("loss") for r in raw.learning)
    found = _numbers(r.get("metrics", {}).get(name) for r in raw.steps)
    progress = raw.view(PROGRESS_VIEW).records()
    return found or _numbers(r.get("metrics", {}).get(name) for r in progress)


def metric_tally(raw: RawResult, name: str) -> Tally:
    """Exact aggregates of `name` (one of `store.EXACT`) over every value of the series
    `metric_series` reads, kept or not."""
    if name == "loss":
        return raw.tally(raw.learning_view, "loss")
    found = raw.tally(raw.steps_view, name)
    return found if found.n else raw.tally(PROGRESS_VIEW, name)


def _numbers(values: Iterable[object]) -> list[float]:
    out = []
    for value in values:
        number = decode_number(value)
        if number is not None:
            out.append(number)
    return out


def _idle_hint(raw: RawResult) -> str:
    """The idle-optimizer fix, led by an error the program printed and went on from (with
    its known cause and fix), and by the compile sites when the program compiles."""
    losses = metric_tally(raw, "loss")
    empty = hints.NOTHING_TRAINED if losses.n >= 2 and losses.all_zero else ""
    return _swallowed(raw) + program.at_sites(raw, hints.IDLE_COMPILED) + empty + \
        hints.IDLE_OPTIMIZER


def _idle_words(raw: RawResult, idle: dict) -> str:
    """What the program did while its optimizer stood idle: the losses it reported, or that
    it ran to its end."""
    if idle["loss_values"] >= program.TREND_MIN_POINTS or "error_printed" in idle:
        return f"reported {idle['loss_values']} losses"
    return f"ran to its end (exit status {raw.exit_code}, {idle['loss_values']} losses reported)"


def _swallowed(raw: RawResult) -> str:
    found = tracebacks.most_printed_error(raw.stderr_tail)
    if found is None:
        return ""
    line, times = found
    known = known_errors.find(line)
    return hints.SWALLOWED.format(error=line[:hints.MESSAGE_CHARS], times=times) + (
        f"{known.hint_for(line)}. " if known else "")


def _no_update(raw: RawResult, meta: dict) -> Verdict | None:
    rates = metric_tally(raw, "learning_rate")
    if rates.n >= 2 and rates.all_zero and not _moved(raw):
        return Verdict("no_update", "learning_rate", f"the learning rate was exactly 0.0 at "
                       f"all {rates.n} reports: the parameters never changed",
                       hints.ZERO_LR, {"learning_rate": 0.0, "reports": rates.n})
    idle = program.idle_optimizer(raw, metric_series(raw, "loss")) if raw.watched else None
    if idle:
        return Verdict("no_update", "optimizer_idle", f"an optimizer was created "
                       f"({idle['optimizers_created'][0]}) but never stepped while the program "
                       f"{_idle_words(raw, idle)}: the parameters never changed",
                       _idle_hint(raw), idle)
    for name in ("grad_norm", "param_delta"):
        values = metric_tally(raw, name)
        if values.n >= 2 and values.all_zero:
            extra = _fallbacks(raw)
            return Verdict("no_update", name, f"{name} was exactly 0.0 at all {values.n} "
                           f"steps that reported it: the parameters never changed",
                           policy.frozen_hint(metrics.series(raw)) or hints.NO_UPDATE,
                           {name: 0.0, "steps_reporting": values.n, **extra})
    return None


def _moved(raw: RawResult) -> bool:
    """The parameters were seen to change (a look found a group changed) or the loss fell
    by half: a learning rate printed as 0 only where it was 0, at the first step of a
    warm-up from 0, says nothing of the steps after it (fresh271 `qsl_bureau_twotower`,
    correct: `lr 0.00e+00` printed at the first step of each of two stages, loss 7.01 ->
    0.22, test R@1 0.79)."""
    return any(r.get("changed") for r in params.looks(raw)) or fell_by_half(
        metric_series(raw, "loss"))


def _fallbacks(raw: RawResult) -> dict:
    taken = raw.view(raw.steps_view).fallbacks
    return {"fallback_steps": taken} if taken else {}


def _diverged(raw: RawResult, meta: dict) -> Verdict | None:
    tally = metric_tally(raw, "loss")
    first_false = raw.view(raw.steps_view).first_false
    params = {"first_non_finite_param_step": first_false} if first_false else {}
    past = skipped.went_past(raw, metric_series(raw, "loss")) if tally.bad else None
    if tally.bad and _persisted(tally) and not past:
        step = _program_step(raw, tally.first_bad)
        at = f"step {step}" if step is not None else f"reported step {tally.first_bad}"
        return Verdict("diverged", "non_finite", f"the {_loss_words(raw)} became non-finite "
                       f"at {at} ({tally.bad} of {tally.n} reports)",
                       _non_finite_hint(raw),
                       {"first_non_finite_step": step or tally.first_bad,
                        "first_non_finite_report": tally.first_bad,
                        "non_finite_steps": tally.bad, "last_finite_loss": tally.last_finite,
                        "persist_threshold": metrics.PERSIST, **params})
    if params:
        at = params["first_non_finite_param_step"]
        return Verdict("diverged", "non_finite_params", f"parameters became non-finite at "
                       f"step {at}", policy.non_finite_hint(metrics.series(raw),
                                                             program.loss_name(raw))
                       or hints.DIVERGED, params)
    if raw.watched and elsewhere.learning_elsewhere(raw, program.loss_name(raw).lower()):
        return None  # the judged loss is not the objective: the run learns (`elsewhere`)
    losses = metric_series(raw, "loss")  # thinned evenly on a long run
    if past:  # the non-finite reports of batches the program went past (`skipped`)
        losses = [v for v in losses if math.isfinite(v)]
        tally = Tally.of(losses)
    start = phases.last_start(raw, losses)
    if start:  # a second loss curve (fine-tuning after pre-training): judged on its own
        losses, tally = losses[start:], Tally.of(losses[start:])
    blown = _exploded(losses, tally) or _spiked(raw, losses, tally, start) or _held_out_blew(
        raw, losses)
    if blown and blown.detail == "exploding" and (_weighted_rise(raw) or elsewhere.left_reference(
            raw, metric_series(raw, "loss")) or equilibrium.reached(raw, blown.evidence[
            "loss_last"]) or composed.parts_fell(raw) or staged_rise.rose_by_stage(
            raw, metric_series(raw, "loss"), EXPLODE_FACTOR)):
        return None  # an objective that grew, a policy leaving its reference, a game, terms
        # that joined the objective while each printed part of it fell (`composed`), a
        # staircase of announced stages (`staged_rise`)
    return dataclasses.replace(blown, hint=_blown_lead(raw) + blown.hint
                               + anatomy.adapter_note(raw)) if blown else None


def _weighted_rise(raw: RawResult) -> bool:
    """The loss rose while a printed coefficient of its objective ramped (`weighting`; a
    learning rate is none), a term it weighs gave way meanwhile (`weighting.gave_way`), and
    from the report where it held, the loss did not rise EXPLODE_FACTOR-fold over >=
    weighting.HELD reports: the objective grew, nothing blew up (fresh127
    `dishwasher_cycle_vae_klanneal`: the KL weight beta 0 -> 1 over eight reports took the
    total 0.90 -> 3.61 while kl fell 6.26 -> 1.69, then 3.58-3.62 over the five reports at
    beta 1; fresh23 `vae_logvar_unclipped_broken`, whose kl sat at 3.33e26, stays blown).
    Where no printed term gave way, the loss falling at each report from the hold on
    (`program.fell_at_each`) says the same: a harder objective, then learning (fresh238
    `seismovault_pgd_ramp`, adversarial training whose attack radius eps went 0.057 -> 0.35
    over six epochs: the loss on attacked inputs 0.22 -> 0.51, then 0.556, 0.554, 0.551, 0.550
    after eps held; the blown VAE's total after its hold is flat noise, 8.3248e27 ->
    8.3267e27)."""
    losses = metric_series(raw, "loss")
    held = weighting.held_from(raw, losses, rates=False)
    after = losses[held:]
    return held > 0 and len(after) >= weighting.HELD and after[0] > 0 and \
        max(after) <= EXPLODE_FACTOR * after[0] and (
            weighting.gave_way(raw) is not None or program.fell_at_each(after))


def _blown_lead(raw: RawResult) -> str:
    """What leads an explosion's fix: a VAE's unbounded variance (`variance`), a variational
    run's two gradient paths (`variational`), a loss that rose at every report (`ascent`)."""
    names = [program.loss_name(raw), *metrics.series(raw)]
    return (variance.kl_note(raw) + variational.blown_note(names)
            + ascent.note(metric_series(raw, "loss")))


def _non_finite_hint(raw: RawResult) -> str:
    """An optimizer stepped with eps = 0 (its own 0/0), else the program's own optimizer
    that made the parameters non-finite at its first update (`first_update`), else an RL
    run's NaN hint
    (`policy`), else the loss's own (`hints`); led by float16's range when the model trains
    in float16 (the parameter looks' census), by a NaN in the loss's value only (the
    parameters trained on finite: `params.value_only`) and by a printed log-variance that
    ran off (`variance.logvar_note`)."""
    if program.optimizer_settings(raw).get("eps") == 0:
        return hints.NAN_EPS_ZERO
    own = first_update.note(raw)
    if own:
        return own
    half = hints.NAN_FLOAT16 if params.low_precision(raw) == "float16" else ""
    value_only = hints.NAN_VALUE_ONLY if params.value_only(raw) else ""
    return half + value_only + variance.logvar_note(raw) + (
        policy.non_finite_hint(metrics.series(raw), program.loss_name(raw))
        or hints.for_non_finite(finite_head(metric_series(raw, "loss"))))


def _persisted(tally: Tally) -> bool:
    """The loss stayed non-finite from its first non-finite report on (`metrics.PERSIST`):
    every non-finite value lies at or after `first_bad`, so the share is exact. One NaN
    that the program skipped, with finite losses after it, is not a divergence."""
    assert tally.first_bad is not None
    return tally.bad / (tally.n - tally.first_bad + 1) >= metrics.PERSIST


def _program_step(raw: RawResult, position: int) -> int | None:
    """The step the program itself gave its `position`-th loss report (1-based), where its
    records say so and all of them are kept; else None."""
    records = phases.loss_records(raw)
    if len(records) != metric_tally(raw, "loss").n or position > len(records):
        return None
    step = records[position - 1].get("step")
    return step if isinstance(step, int) else None


def _loss_words(raw: RawResult) -> str:
    name = program.loss_name(raw)
    return "loss" if name == "loss" else f"loss (`{name}`)"


def _exploded(losses: list[float], tally: Tally) -> Verdict | None:
    if tally.n < MIN_POINTS:
        return None
    first = window_median(losses, WINDOW_FRAC, WINDOW_MIN, tail=False)
    last = window_median(losses, WINDOW_FRAC, WINDOW_MIN, tail=True)
    if _jumped(losses):  # the blow-up came before the first window's median could see it
        first = losses[0]
    if first > 0 and last > EXPLODE_FACTOR * first and not settled_below_start(losses, last) \
            and risen(losses, first) and not returned(losses, first):
        return Verdict("diverged", "exploding", f"the loss rose from {first:.3g} to "
                       f"{last:.3g} (> {EXPLODE_FACTOR:g}x)",
                       drift.note(losses) + hints.DIVERGED + (
                           hints.OUT_OF_RANGE if last > ORDERS * first else ""),
                       {"loss_first": first, "loss_last": last, "loss_max": tally.max,
                        "explode_factor": EXPLODE_FACTOR})
    return None


def _jumped(losses: list[float]) -> bool:
    """The first report positive and every report of the last window above JUMP_FACTOR x
    it: orders of magnitude above where the run began, whatever its first window holds."""
    return losses[0] > 0 and min(losses[-window(len(losses)):]) > JUMP_FACTOR * losses[0]


def window(n: int) -> int:
    """How many reports the first (and the last) window of `n` holds."""
    return max(WINDOW_MIN, int(n * WINDOW_FRAC))


def risen(losses: list[float], first: float) -> bool:
    """Every report of the last window lies above EXPLODE_FACTOR x the start: not one noisy
    series whose window medians happen to differ by 2x (fresh14 `correct_b14_reptile_sine`,
    a new random task at each report: medians 0.455 -> 1.37, the last window 0.43-1.38)."""
    return min(losses[-window(len(losses)):]) > EXPLODE_FACTOR * first


def returned(losses: list[float], first: float) -> bool:
    """After its first report above EXPLODE_FACTOR x the start, a report of the later half
    lies at or below the start: batches with gross outliers between ordinary ones, not a
    blow-up, which leaves no batch at the level it began (fresh31 `gradclip_value_override_ok`:
    batch_mse 0.90, 4128, 0.54, 0.25, 6758, 5238, 0.48, 175, 1020, 34 while the clean
    validation MSE fell 0.77 -> 0.46)."""
    high = next((i for i, v in enumerate(losses) if v > EXPLODE_FACTOR * first), None)
    later = losses[max(len(losses) // 2, (high or 0) + 1):]
    return high is not None and any(v <= first for v in later)


def settled_below_start(losses: list[float], last: float) -> bool:
    """The loss rose from its best but ended under SETTLED_SHARE of its first report, steady
    (its last third within SETTLED_RANGE of its median) or falling again (`falling`): a run
    that traded some fit for something else switched on (a constraint's multiplier, a
    regulariser, a harder data stage), not a blow-up, which passes its start or climbs on
    (fresh74 `knitting_stitch_curriculum`: train_mse 0.36 -> 0.0004 on rows of 4, then
    0.051 and 0.114 at the switches to rows of 8 and 16, falling to 0.0042 after each)."""
    tail = losses[-max(WINDOW_MIN, len(losses) // 3):]
    middle = statistics.median(tail)
    return losses[0] > 0 and last <= SETTLED_SHARE * losses[0] and middle > 0 and (
        max(tail) - min(tail) <= SETTLED_RANGE * middle or falling(tail))


def falling(tail: list[float]) -> bool:
    """The reports end lower than they began and their second half's median lies below
    their first half's: still falling at the end, where a blow-up climbs on."""
    half = len(tail) // 2
    return tail[-1] < tail[0] and statistics.median(tail[-half:]) < statistics.median(
        tail[:half])


def _spiked(raw: RawResult, losses: list[float], tally: Tally,
            start: int = 0) -> Verdict | None:
    """A loss that blew far past its start, even if it later settled (often in a dead state:
    huge parameters, normalisation overflowing to zero output, loss back at ln(vocab)).

    The peak after the first window beats every loss before it exactly when the whole run's
    maximum first occurs after that window: then it is that maximum, and where it was (the
    tally's), so no series is needed beyond the first window's median."""
    if tally.n < MIN_POINTS or tally.max is None or tally.max_at is None:
        return None
    first = window_median(losses, WINDOW_FRAC, WINDOW_MIN, tail=False)
    after = window(tally.n)  # only after the first window
    peak, at = tally.max, tally.max_at
    if first > 0 and peak > SPIKE_FACTOR * first and at > after and (
            peak > SPIKE_FACTOR * early_max(losses, tally.n) and not (
                recovered(losses, peak) and learns(raw, losses)) or held_out_rose(raw)) \
            and not renamed_peak(raw, losses, peak, start):
        return Verdict("diverged", "spike", f"the loss spiked to {peak:.3g} at reported step "
                       f"{at} (> {SPIKE_FACTOR:g}x its start {first:.3g})", hints.DIVERGED,
                       {"loss_first": first, "loss_max": peak, "loss_max_step": at,
                        "spike_factor": SPIKE_FACTOR})
    return None


def renamed_peak(raw: RawResult, losses: list[float], peak: float, start: int) -> bool:
    """The peak was printed under another name than most of the curve's reports: another
    quantity on a line with no training loss, not the loss blowing up (fresh124
    `maple_sap_sgdr_zero_warm`: `huber` 0.0089 -> 0.0068 over its last cycle, and each
    cycle's end line, `val MAE 0.135  RMSE 0.173`, gave the loss its `rmse`, read as a 20x
    spike). Where the records were thinned (their losses are not the series), no name is
    read and the spike stands."""
    records = phases.loss_records(raw)[start:]
    if len(records) != len(losses) or peak not in losses:
        return False
    names = [r.get("loss_name", "loss") for r in records]
    return names[losses.index(peak)] != max(set(names), key=names.count)


def recovered(losses: list[float], peak: float) -> bool:
    """The peak was one excursion: every one of >= RECOVERED_AFTER reports after it lies
    within the largest of the later half of the reports before it, so the run went on where it
    was (fresh26 `grpo_trainer_swallowed_step_ok`: loss 0.024-0.030, one report of 2.22 with
    its KL term at 111, then 0.024 and 0.027 while the reward kept rising 0.53 -> 0.55). A
    blow-up that leaves the model dead sits at ln(vocab) after it, above its recent level,
    and one that wipes the model climbs back from there: neither has come back. A peak lost
    to a thinned series is not excused."""
    if peak not in losses:
        return False
    at = losses.index(peak)
    before, after = losses[at // 2:at], losses[at + 1:]
    return bool(before) and len(after) >= RECOVERED_AFTER and max(after) <= max(before)


def learns(raw: RawResult, losses: list[float]) -> bool:
    """The run shows learning beside a recovered spike: its loss trend fell, or a
    higher-is-better metric rose (fresh26's GRPO reward 0.12 -> 0.55). A run that thrashes
    at the level it started from and spikes keeps its spike (fresh8
    `b8_lamb_trust_ratio_clamp_floor`: mse ~0.57 throughout, one epoch at 124)."""
    fit = program.trend(losses)
    return bool(fit and not program.flat(fit)) or program.rising_metric(
        metrics.series(raw)) is not None


def held_out_losses(raw: RawResult) -> Iterator[tuple[str, list[float]]]:
    """Each held-out error measure (`val_loss`, `test_mse`) and its finite values."""
    for name, points in metrics.series(raw).items():
        if metric_names.held_out_loss(name):
            yield name, [v for _, v in points if math.isfinite(v)]


def _held_out_blew(raw: RawResult, losses: list[float]) -> Verdict | None:
    """A held-out loss (`val_loss`) that never came back within HELD_OUT_FACTOR of its first
    evaluation: the run broke in its first updates, whatever its training loss did after.
    Its fix names a compiled step's captured weights first when the training loss stayed
    flat and the program compiles (`_stale_compiled`)."""
    for name, values in held_out_losses(raw):
        if len(values) < HELD_OUT_MIN or values[0] <= 0:
            continue
        lowest = min(values[1:])
        if lowest > HELD_OUT_FACTOR * values[0]:
            return Verdict("diverged", "held_out", f"the held-out loss `{name}` went from "
                           f"{values[0]:.3g} at its first evaluation to {values[-1]:.3g}, "
                           f"every later one above {HELD_OUT_FACTOR:g}x it (lowest "
                           f"{lowest:.3g})", _stale_compiled(raw, losses) + hints.DIVERGED,
                           {"metric": name, "first": values[0], "last": values[-1],
                            "lowest_after_first": lowest, "evaluations": len(values),
                            "held_out_factor": HELD_OUT_FACTOR})
    return None


def _stale_compiled(raw: RawResult, losses: list[float]) -> str:
    """The held-out loss blew up while the training loss stayed flat, in a program that
    compiles: the loss it reports does not follow the weights it changes, as when a compiled
    function captured the model's weights at its first trace (fresh11
    `b11_compiled_grad_captures_weights`: train loss 15.46986 at every epoch, val_mse 3.67 ->
    4.29e+05)."""
    fit = program.trend(losses)
    return program.at_sites(raw, hints.STALE_COMPILED) if fit and program.flat(fit) else ""


def early_max(losses: list[float], n: int) -> float:
    """The largest loss of the first window: a series whose early reports already range
    widely (a new random task per report, outlier batches of a heavy-tailed target) spikes
    only past SPIKE_FACTOR x that (fresh14 `correct_b14_reptile_sine`: 0.29-1.93 early,
    8.26 later; `a14_clipped_grads_unused_ok`: 0.22 and 232 early, 259 later, while its
    validation error fell 0.18 -> 0.017)."""
    early = losses[:window(n)]
    return max(early) if early else 0.0


def held_out_rose(raw: RawResult) -> bool:
    """A held-out error measure (`val_loss`, `test_mse`) whose whole last window lies above
    EXPLODE_FACTOR x its first window's median: outliers as large as the early ones are a
    spike when the model gets worse on held-out data too."""
    for _, values in held_out_losses(raw):
        first = window_median(values, WINDOW_FRAC, WINDOW_MIN, tail=False) \
            if len(values) >= MIN_POINTS else 0.0
        if first > 0 and risen(values, first):
            return True
    return False


# --- leak, learning, pass ----------------------------------------------------------------

def memory_at_steps(raw: RawResult, view: str) -> list[tuple[int, float]]:
    """(step, MB) of one memory view at each heartbeat: `rss` and `device` from the latest
    outside sample at its arrival, `mx_active` from the heartbeat's own counters."""
    if view == "rss":
        return rss_at_steps(raw)
    if view == "mx_active":
        return [(step, value / MB) for step, value in working_set.counter_at_steps(raw, view)]
    out, samples, i = [], raw.samples, 0
    for rec in raw.steps:
        while i + 1 < len(samples) and samples[i + 1].t <= rec.get("t", 0.0):
            i += 1
        if samples and samples[i].t <= rec.get("t", 0.0) and samples[i].device is not None:
            out.append((int(rec.get("step", len(out) + 1)), samples[i].device / MB))
    return out


def view_fit(points: list[tuple[int, float]]) -> dict | None:
    """The leak measurement of one view: slope, growth, baseline after warm-up."""
    fit = points[int(len(points) * LEAK_WARMUP_FRAC):]
    if len(fit) < LEAK_MIN_STEPS or fit[-1][0] == fit[0][0]:
        return None
    xs, ys = [p[0] for p in fit], [p[1] for p in fit]
    slope = theil_sen(xs, ys)
    half = len(fit) // 2
    late = theil_sen(xs[half:], ys[half:])
    return {"mb_per_step": round(slope, 5), "late_mb_per_step": round(late, 5),
            "growth_mb": round(slope * (xs[-1] - xs[0]), 3), "baseline_mb": round(ys[0], 2),
            "fitted_steps": len(fit), "tail_moved": tail_moved(xs, ys)}


def tail_moved(xs: list[int], ys: list[float]) -> float:
    """How far the view moved over the last LEAK_TAIL_SHARE of the fitted steps, as a share
    of its highest value there."""
    points = list(zip(xs, ys))
    return moved_after(points, last_share_start(points, LEAK_TAIL_SHARE))


def leak_fit(raw: RawResult) -> dict | None:
    """The RSS leak measurement: slope, growth, baseline after warm-up; None if too few."""
    fit = view_fit(rss_at_steps(raw))
    if fit is None:
        return None
    return {"rss_mb_per_step": round(fit["mb_per_step"], 4),
            "late_rss_mb_per_step": round(fit["late_mb_per_step"], 4),
            "growth_mb": round(fit["growth_mb"], 2), "baseline_mb": round(fit["baseline_mb"], 1),
            "fitted_steps": fit["fitted_steps"]}


def _grew(fit: dict, min_mb: float, min_rel: float) -> bool:
    sustained = fit["late_mb_per_step"] >= LEAK_SUSTAIN * fit["mb_per_step"] \
        and fit["tail_moved"] > LEAK_HELD
    growth = fit["growth_mb"]
    return growth >= min_mb and growth >= min_rel * fit["baseline_mb"] and sustained


def memory_views(raw: RawResult) -> dict:
    """Each memory view's fit, with its floors and whether it grew (the leak rule)."""
    out = {}
    for view, _, min_mb, min_rel in MEMORY_VIEWS:
        fit = view_fit(memory_at_steps(raw, view))
        if fit is not None:
            out[view] = {**fit, "min_growth_mb": min_mb, "min_growth_rel": min_rel,
                         "grew": _grew(fit, min_mb, min_rel)}
    if out.get("rss", {}).get("grew"):
        _larger_steps(raw, out)
    if any(fit.get("grew") for fit in out.values()):
        _staged(raw, out)
    if out.get("mx_active", {}).get("grew"):
        _kept(raw, out["mx_active"])
    _reported(raw, out)
    return out


def _reported(raw: RawResult, views: dict) -> None:
    """A view that grew by what the program prints it keeps is no leak (`reported_memory`);
    the printed sizes are read once, and a view's memory only when there are some."""
    grown = [(view, fit) for view, fit in views.items() if fit.get("grew")]
    printed = reported_memory.sizes(raw) if grown else {}
    if not printed:
        return
    for view, fit in grown:
        found = reported_memory.accounted(printed, memory_at_times(raw, view))
        if found:
            fit.update(grew=False, reported=found)


def memory_at_times(raw: RawResult, view: str) -> list[tuple[float, float]]:
    """(time, MB) of one memory view: `rss` and `device` from the outside samples,
    `mx_active` from the heartbeats' own counters."""
    if view == "mx_active":
        return [(r["t"], r["memory"]["mx_active"] / MB) for r in raw.steps
                if isinstance((r.get("memory") or {}).get("mx_active"), int)
                and isinstance(r.get("t"), (int, float))]
    key = "rss" if view == "rss" else "device"
    return [(s.t, getattr(s, key) / MB) for s in raw.samples if getattr(s, key) is not None]


def _kept(raw: RawResult, fit: dict) -> None:
    """Active memory that rose only by whole weight copies kept at spaced steps is no leak
    (`kept_copies`)."""
    points = working_set.counter_at_steps(raw, "mx_active")
    found = kept_copies.kept(raw, points[int(len(points) * LEAK_WARMUP_FRAC):],
                             fit["growth_mb"])
    if found:
        fit.update(grew=False, kept_copies=found)


def _staged(raw: RawResult, views: dict) -> None:
    """Memory that stepped with the program's printed stages is no leak (`staged_memory`)."""
    found = staged_memory.stepped(raw, memory_at_steps(raw, "mx_active"), rss_at_steps(raw))
    if found:
        for fit in views.values():
            fit.update(grew=False, staged=found)


def _larger_steps(raw: RawResult, views: dict) -> None:
    """RSS that followed a larger working set and then held (`working_set`), that held
    still over the run's last tenth (`held_end`), or whose saw-tooth's peaks held
    (`held_peaks`), MLX's memory flat, is no leak."""
    points = rss_at_steps(raw)
    fitted, active_grew = points[int(len(points) * LEAK_WARMUP_FRAC):], \
        views.get("mx_active", {}).get("grew")
    found = working_set.grew(raw, fitted, active_grew, LEAK_HELD)
    if found:
        views["rss"].update(grew=False, working_set=found)
    elif still := held_end.held(raw, fitted, active_grew):
        views["rss"].update(grew=False, held_end=still)
    elif bounded := held_peaks.held([(s.t, s.rss / MB) for s in raw.samples], active_grew):
        views["rss"].update(grew=False, held_peaks=bounded)


def _leak(raw: RawResult, meta: dict) -> Verdict | None:
    views = memory_views(raw)
    grown = [(v, words) for v, words, _, _ in MEMORY_VIEWS if views.get(v, {}).get("grew")]
    if not grown:
        return None
    view, words = grown[0]
    fit = views[view]
    evidence = {"view": view, "grew_in": [v for v, _ in grown], "views": views,
                "min_growth_mb": fit["min_growth_mb"], "min_growth_rel": fit["min_growth_rel"],
                "sustain_ratio": LEAK_SUSTAIN, **_mx_active(raw), **_device_note(raw)}
    rss = leak_fit(raw)
    if rss:  # the RSS numbers under their historical keys (reports, comparisons)
        evidence.update(rss)
    unit = f"{fit['mb_per_step'] * 1024:.1f} KB" if fit["mb_per_step"] < 0.1 else \
        f"{fit['mb_per_step']:.3f} MB"
    also = f"; also grew: {', '.join(w for _, w in grown[1:])}" if len(grown) > 1 else ""
    shape = _shape(raw)
    if shape:
        evidence["memory_shape"] = shape
    how = f"; RSS over time: {memory_shape.words(shape)}" if shape else ""
    return Verdict("leak", view, f"{words} grew {unit}/step (+{fit['growth_mb']:.2f} MB over "
                   f"{fit['fitted_steps']} steps after warm-up, from {fit['baseline_mb']:.2f} "
                   f"MB){also}{how}", hints.leak_for(program.call_sites(raw)), evidence)


def _shape(raw: RawResult) -> dict | None:
    """The shape of RSS over the run's samples (`memory_shape`)."""
    return memory_shape.describe([(s.t, s.rss / MB) for s in raw.samples])


def _views_note(raw: RawResult) -> dict:
    """A pass's memory views (each fit and its floors), the shape of RSS over time, and how
    device memory was seen."""
    views, shape = memory_views(raw), _shape(raw)
    return {**({"memory_views": views} if views else {}),
            **({"memory_shape": shape} if shape else {}), **_device_note(raw)}


def _device_note(raw: RawResult) -> dict:
    return {"device_memory": raw.device_status} if raw.device_status else {}


def _mx_active(raw: RawResult) -> dict:
    active = [r.get("memory", {}).get("mx_active") for r in raw.steps]
    active = [a for a in active if isinstance(a, int)]
    if len(active) < 2:
        return {}
    return {"mx_active_mb_first": round(active[0] / MB, 2),
            "mx_active_mb_last": round(active[-1] / MB, 2)}


def learning(raw: RawResult, meta: dict) -> dict | None:
    """First/last window medians of the learning metric; None when too few points."""
    name = str(meta.get("learning_metric", "loss"))
    values = [v for v in metric_series(raw, name) if math.isfinite(v)]
    if len(values) < MIN_POINTS:
        return None
    first = window_median(values, WINDOW_FRAC, WINDOW_MIN, tail=False)
    last = window_median(values, WINDOW_FRAC, WINDOW_MIN, tail=True)
    drop = (first - last) / abs(first) if first else 0.0
    points = metric_tally(raw, name).finite if name in EXACT else len(values)
    return {"metric": name, "first": round(first, 4), "last": round(last, 4),
            "drop": round(drop, 4), "points": points}


def _not_learning(raw: RawResult, meta: dict) -> Verdict | None:
    if raw.watched:
        return _not_learning_trend(raw)
    if not raw.steps and not raw.of_kind("check"):
        return Verdict("not_learning", "no_steps", "the loop finished without a single step "
                       "or check: nothing was trained or verified", hints.NO_STEPS, {})
    fit = learning(raw, meta)
    if fit is None or fit["drop"] >= MIN_DROP:
        return None
    return Verdict("not_learning", fit["metric"], f"{fit['metric']} went from "
                   f"{fit['first']:.4g} to {fit['last']:.4g} ({-fit['drop']:+.1%}; needs "
                   f"a {MIN_DROP:.0%} drop)", hints.NOT_LEARNING,
                   {"learning": fit, "min_drop": MIN_DROP})


def _program_pass(raw: RawResult) -> Verdict:
    """A watched program's pass says what was seen: the trend, or why learning was not
    judged (too few loss values, or none: no source showed a loss)."""
    losses = metric_series(raw, "loss")
    start = _judged_start(raw, losses)
    fit = program.trend(losses[start:])
    evidence: dict = {"sources": raw.sources, "loss_values": len(losses)}
    curve = _curve_note(raw, start)
    if fit:
        evidence["trend"] = {**fit, **({"from_report": start + 1} if start else {})}
        reason = (f"finished cleanly; loss {fit['first']:.4g} -> {fit['last']:.4g} over "
                  f"{fit['points']} values{curve} (fitted change {fit['fitted_change']:+.1%})")
    elif losses:
        reason = (f"finished cleanly; learning not judged: {len(losses) - start} loss "
                  f"values{curve}, fewer than {program.TREND_MIN_POINTS}")
    else:
        reason = "finished cleanly; learning not judged: no loss was seen"
    if not raw.sources:
        reason += "; progress could not be observed"
    if fit and fit["fitted_change"] > 0:  # a loss that rose and was not judged: say why
        reason += _elsewhere_note(raw)
    if fit and program.flat(fit):  # a flat loss that was not judged: say what rose instead
        reason += _rising_note(raw) + _noisy_note(raw, fit) + _schedule_note(raw)
    leak = leak_fit(raw)
    if leak:
        evidence["memory"] = leak
    evidence.update(_views_note(raw))
    return Verdict("pass", "", reason, "" if raw.sources else hints.UNOBSERVED, evidence)


def _curve_note(raw: RawResult, start: int) -> str:
    """Which part of the loss was judged, when not all of it."""
    if not start:
        return ""
    held = ", ".join(f"`{n}` held {v:g}" for n, v in weighting.held_since(raw).items())
    return f" in the last loss curve (from report {start + 1}{', after ' + held if held else ''})"


def _rising_note(raw: RawResult) -> str:
    """The higher-is-better metric whose rise took a flat loss's verdict back, with its
    first value and its last third's median."""
    series = metrics.series(raw)
    name = program.rising_metric(series)
    if name is None:
        return ""
    values = [v for _, v in series[name] if math.isfinite(v)]
    last = statistics.median(program.last_third(values))
    return f"; the loss is flat, and `{name}` rose ({values[0]:.4g} -> {last:.4g}, last third)"


def _schedule_note(raw: RawResult) -> str:
    """Why a loss that rose and held was not judged: its reports are a coefficient's warm-up
    (`weighting.scheduled_loss`), not a measured loss."""
    found = weighting.scheduled_loss(raw)
    if found is None:
        return ""
    ramp = ", ".join(f"{v:g} at step {s}" for s, v in found["ramp"])
    return (f"; not judged: `{program.loss_name(raw)}` reads as a warm-up schedule, not a "
            f"measured loss ({ramp}, each the same multiple of its step within "
            f"{found['tolerance']:.0%}, then {found['held']:g} at the "
            f"{found['held_reports']} reports after)")


def _noisy_note(raw: RawResult, fit: dict) -> str:
    """Why a flat loss was not judged: a level with noise and nothing else saying it does not
    learn (`program.noisy_level`), or noise that hides a fall (`program.resolved`)."""
    if unjudged_level(fit, metrics.series(raw)):
        return (f"; not judged: a level with noise from its first report (fitted change "
                f"{fit['change_low']:+.1%} .. {fit['change_high']:+.1%}, scatter "
                f"{fit['noise']:.1%}), as a loss that converged before it was first printed is")
    if program.resolved(fit):
        return ""
    return (f"; too noisy to call flat: a fall of up to {-fit['change_low']:.0%} over the run "
            f"fits its noise (judged only below {program.MAX_HIDDEN_FALL:.0%})")


def _elsewhere_note(raw: RawResult) -> str:
    """Why a loss that rose was not judged: the run learned on another measure."""
    found = elsewhere.learning_elsewhere(raw, program.loss_name(raw).lower())
    if not found:
        return ""
    other = found.get("accuracy_rose") or found.get("other_loss_fell")
    return (f"; the loss read by its name (`{program.loss_name(raw)}`) is not judged alone: "
            f"`{other}` {'rose' if 'accuracy_rose' in found else 'fell'} over the run")


def _not_learning_trend(raw: RawResult) -> Verdict | None:
    """A user's run: judged on the whole run's trend and its noise (`program`); never on a
    loss that rose as a printed coefficient ramped while a term it weighs gave way, then held
    (`_weighted_rise`: fresh180 `bellcast_partials_betavae_jsonl`, correct, a beta-VAE whose
    total went 2.88 -> 1.45 -> 3.90 as beta went 0 -> 1 and kl_nats 15.3 -> 2.3, flat at beta
    1; once judged on a fall by half its first report, 0.504 of it in one run); never on a
    surrogate objective (a loss that is negative or changes sign, as a policy-gradient
    loss does: its value is not progress), never on one player's loss of a two-player game
    (`d_loss`, `g_loss`, `critic_loss`: a GAN's losses go to an equilibrium, a
    discriminator's BCE to ln 4 = 1.386, as both learn; measured on the fresh corpus half's
    `correct_gan_two_optimizers`: d_loss 1.311 -> 1.381), and never when a higher-is-better
    metric the program reports rose significantly (a reward, an accuracy: learning seen)."""
    losses = metric_series(raw, "loss")
    losses = losses[_judged_start(raw, losses):]  # the last curve of one objective
    fit = program.trend(losses)
    if fit is None or not program.flat(fit) or program.surrogate(losses) \
            or not program.resolved(fit):
        return None
    if fell_by_half(losses) or program.fell_and_held(losses):
        return None  # it learned; a later rise is the diverged rules' to judge
    if weighting.scheduled_loss(raw):
        return None  # the "loss" is a coefficient's warm-up (`weighting.scheduled_loss`)
    if _weighted_rise(raw):
        return None  # the objective grew as a coefficient ramped (`_weighted_rise`)
    if program.two_player(raw) or constant.printed_reference(raw, losses):
        return None  # a GAN's losses seek an equilibrium; a fixed baseline read as the loss
    series = metrics.series(raw)
    if program.rising_metric(series) or program.converged(losses, series):
        return None
    if program.falling_held_out(series):
        return None  # learning measured on held-out data (`program.falling_held_out`)
    if unjudged_level(fit, series):
        return None  # a level with noise: what a loss at its floor from the start shows too
    if elsewhere.other_loss_fell(raw, program.loss_name(raw).lower()):
        return None  # an error measure among several, not the objective (`elsewhere`)
    if program.learned_first(raw) or settled(raw):
        return None  # it learned before it printed the loss: a flat loss at its floor
    return Verdict("not_learning", "trend", f"the loss shows no fall over {fit['points']} "
                   f"values ({fit['first']:.4g} -> {fit['last']:.4g}; "
                   f"{program.flat_words(fit)})",
                   program.load_note(raw) + _low_precision(raw) + _compiled(raw) + decay.note(raw)
                   + rising_rate.note(raw) + own_step.note(raw) + dead_gradient.note(raw)
                   + (stalls.hint(series, losses, program.loss_name(raw)) or hints.NOT_LEARNING),
                   {"trend": fit})


def unjudged_level(fit: dict, series: dict) -> bool:
    """A noisy level (`program.noisy_level`) with no second measure agreeing: not judged."""
    return program.noisy_level(fit) and not corroborated(series)


def corroborated(series: dict) -> bool:
    """A second measure agrees that a noisy level is no learning: a higher-is-better metric
    the run reports that did not rise (`rising_metric` ran first), a share of errors that
    did not fall (`unmoved_error`), or a learning rate that sat at its floor
    (`stalls.tiny_rate`)."""
    if any(metric_names.role(name) == metric_names.ACCURACY for name in series):
        return True
    if any(metric_names.error_measure(n) and unmoved_error(p) for n, p in series.items()):
        return True
    return stalls.tiny_rate([v for _, v in series.get("learning_rate", [])]) is not None


def unmoved_error(points: list[tuple[int, float]]) -> bool:
    """A share of errors (values in [0, 1]) reported at least MIN_TAIL_ERRORS times, none of
    them MIN_DROP below its first: the complement of an accuracy that never rose (fresh360
    `reedbank_dictation`: a digit error rate of 0.872 at each of its 3 evaluations against a
    stated chance of 0.900, while the training loss scattered 3.05-3.44 from 3.13)."""
    values = [v for _, v in points]
    return len(values) >= MIN_TAIL_ERRORS and all(0 <= v <= 1 for v in values) and \
        min(values) >= (1 - MIN_DROP) * values[0] > 0


def _judged_start(raw: RawResult, losses: list[float]) -> int:
    """Where the loss curve the trend rule judges begins: the last phase (`phases`); or,
    when that curve shows no fall but the part after a printed coefficient stopped ramping
    does (a significant trend, or `_fell_once_held`), that part (`weighting`): the cut only
    ever takes a verdict back, never makes one."""
    start = phases.last_start(raw, losses)
    held = weighting.held_from(raw, losses)
    if held <= start:
        return start
    whole, after = program.trend(losses[start:]), program.trend(losses[held:])
    return held if whole and program.flat(whole) and (
        after and not program.flat(after) or _fell_once_held(raw, losses)) else start


def _fell_once_held(raw: RawResult, losses: list[float]) -> bool:
    """Too few reports after a coefficient (no learning rate: its warm-up changes the steps,
    not what the loss measures) held for a trend, each lower than the one before
    (`program.fell_at_each`): fresh238 `seismovault_pgd_ramp`, four reports 0.556 -> 0.550
    after its attack radius held, its whole curve 0.22 -> 0.55 as the radius grew."""
    held = weighting.held_from(raw, losses, rates=False)
    return held > 0 and program.fell_at_each(losses[held:])


def fell_by_half(losses: list[float]) -> bool:
    """The loss once fell to half its first report or below (a positive loss): the run
    learned, whatever its curve did after (fresh11 `correct_a11_lagrangian_dual_ascent`:
    1.59 -> 0.0094, then a constraint switched on, 0.47 flat)."""
    finite = [v for v in losses if math.isfinite(v)]
    return bool(finite) and finite[0] > 0 and min(finite) >= 0 and \
        min(finite) <= SETTLED_SHARE * finite[0]


def _low_precision(raw: RawResult) -> str:
    """The low-precision part of a learning hint, when the model trains in float16/bf16."""
    dtype = params.low_precision(raw)
    return hints.LOW_PRECISION.format(dtype=dtype) if dtype else ""


def _compiled(raw: RawResult) -> str:
    """The compiled-step part of a learning hint, when the program calls `mx.compile`."""
    return program.at_sites(raw, hints.COMPILED_STEP)


def _pass(raw: RawResult, meta: dict) -> Verdict:
    if raw.watched:
        return _program_pass(raw)
    fit = learning(raw, meta)
    evidence: dict = {"learning": fit} if fit else {}
    leak = leak_fit(raw)
    if leak:
        evidence["memory"] = leak
    evidence.update(_views_note(raw))
    reason = "finished cleanly"
    if fit:
        reason += (f"; {fit['metric']} fell {fit['drop']:.0%} "
                   f"({fit['first']:.4g} -> {fit['last']:.4g})")
    return Verdict("pass", "", reason, "", evidence)
