"""Rule unit: a classifier that predicts at chance for the whole run.

Job: a model whose output distribution is uniform over K classes has a cross-entropy of
exactly ln K and an accuracy of 1/K on average; so when a run reports a loss L and an
accuracy A, and A stays at exp(-L) (the accuracy a uniform guess with that loss gives)
while the loss does not fall, the model has learned nothing: the updates do not move it
(an optimizer other than the one configured, a learning rate far too small for the
optimizer used, labels not matched to their inputs). A slow fine-tune is never judged on
this: its accuracy sits far above exp(-L) (a language model at loss 2.3 with token
accuracy 0.45: exp(-L) = 0.10), and a classifier that learned anything beats chance.

A loss one value at every report of the tail is left to the trend rule, whose hint for a
loss that never moves (units saturated, a loss computed from something that never changes)
says more than chance does.

Thresholds and why: the last third of the reports (at least MIN_TAIL values of each; a
run of at least the trend rule's 10 reports gives its last MIN_TAIL when a third is fewer);
the accuracy's median at most RATIO x exp(-L's median) (at chance, mini-batch accuracies
scatter around 1/K: 0.047-0.156 for K = 10 on batches of 64, median ~0.11-0.12, 1.1-1.2x);
exp(-L) at most MAX_CHANCE (K >= 3: for 2 classes, a trained model at loss 0.3 and
accuracy 0.9 has A / exp(-L) = 1.2, indistinguishable); the loss fell less than MIN_DROP
over the run (the trend rule's window drop). A run of MIN_TAIL to 9 reports, too short
for the trend rule, is judged on all its reports, its fall measured from its first value to
its lowest (any fall counts); measured (failure corpus fresh9,
`vision_inputs_dropped_for_embedded`: the images never reach the model): 9 reports, loss
1.375-1.386 (ln 4 = 1.386), val_acc 0.24-0.26, fell 0.0%; its fixed twin 0.61 -> 0.04.
Measured (failure corpus fresh4,
`optimizer_choice_ignored`, Soup PR 734): ce 2.33 -> 2.31 over 24 reports, acc 0.05-0.16
(exp(-ce) = 0.100); its fixed twin: ce 2.3 -> 0.3, acc -> 0.9.

Two classes are judged only at chance itself: the loss's last-third median within
BINARY_TOL of ln 2, every accuracy's at most BINARY_ACC, and the loss fell less than
BINARY_DROP (a binary model that learned anything leaves ln 2; a correct run on labels with
45% noise sits at H(0.55) = 0.688, 0.7% under ln 2, but it falls there from its start by
more than BINARY_DROP and its accuracy is ~0.55-0.6). Measured (failure corpus fresh7,
`shuffle_inputs_targets_separately`: inputs and labels permuted apart): xent 0.6949 ->
0.6925 over 12 reports, train_acc 0.506-0.515; its fixed twin: 0.59 -> 0.004, acc 0.999.
A binary loss that started above ln 2 counts only its fall below ln 2 when every accuracy
held one value at its last MIN_TAIL reports (one class predicted for every example): fresh301
`drumlin_voxel_sumpool` (a sum pool mixing every channel, mlx-lattice 9296aa1): loss 0.715 ->
0.6926-0.6932 over 6 epochs, a 3.1% fall, val_acc 0.458 at each of the last five.

A run that states its chance loss (`chance-level mlm loss = ln(16) = 2.773`: a value the
line gives as ln K or log2 K of a class count K, and equal to it within 1%) is judged on that
too, with no accuracy needed: the training loss's last-third median within STATED_TOL (2%)
of it and the same fall below MIN_DROP. Measured (failure corpus fresh186
`mbert_eager_softmax_allaxes`, modern-bert-mlx 12b248b: attention's softmax taken over every
axis of the scores, each weight ~1/(B*H*L*L)): mlm_loss 3.06 -> 2.78 with a last-third
median of 2.777 against the stated 2.773, its batch accuracies 2-19% around 1/16 (median
1.67x chance: the accuracy clause's 1.3x misses such small batches); the fixed twin's loss
fell to 0.0026.

A loss of one player of a two-player game (`metric_names.adversarial`: `d_loss`, `loss_D`,
`critic_loss`) is never judged here: a GAN's discriminator at ln 2 with its accuracy on real
samples at 50% is the equilibrium both players seek (fresh74 `bus_headway_gan_csv`, correct:
d_loss 0.673 -> 0.693, d_acc_real 41% -> 50% while the generated distribution's distance to
the data fell 2.89 -> 0.45-1.0, was called `not_learning:chance`).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re
import statistics

from .. import metric_names
from ..watching.facts import RawResult
from . import anatomy, hints, metrics, phases, program, schedule
from .rule import Rule, Verdict

MIN_TAIL = 5
RATIO = 1.3
RISEN_LAST = 3  # `rose_from_stated`: the reports an accuracy must sit above chance at, last
ANSWERED, ANSWERED_LAST = 0.9, 2  # `answered`: an accuracy this high at its last reports
STATED_TOL = 0.02
# a chance loss the output states as the log of a class count: `chance ... = ln(16) = 2.773`
STATED = re.compile(r"(?i)\b(?:chance|uniform|random)[^\n]{0,60}?\b(ln|log2?)\s*\(?\s*(\d+)"
                    r"\s*\)?\s*=\s*(\d*\.\d+)")
# a uniform guess's loss stated as a number: `uniform-guess loss 3.178`, `chance ce = 2.30`
STATED_LOSS = re.compile(r"(?i)\b(?:chance|uniform|random)\b[^\n\d]{0,40}?\b(?:loss|ce|nll|xent)"
                         r"\b[^\n\d]{0,12}?(\d+\.\d+)")
# a chance accuracy the output states: `(chance 20.0%)`, `chance acc 0.125`
STATED_ACC = re.compile(r"(?i)\bchance\b[^\n\d%]{0,12}?(\d*\.?\d+)\s*(%)?")
MAX_CHANCE = 1 / 3
MIN_DROP = 0.05
BINARY_TOL, BINARY_ACC, BINARY_DROP = 0.01, 0.6, 0.01
HINT = ("the model predicts at chance: its accuracy is what a uniform guess with this loss "
        "gives, so the updates do not move it. Check that the optimizer your config asks "
        "for is the one built and stepped (an SGD at a learning rate tuned for Adam/AdamW, "
        "1e-3, barely moves a classifier: SGD needs ~0.1; a config's optimizer, schedule "
        "or weight decay ignored by the builder), that the learning rate reaches it, and "
        "that labels are matched to their inputs: shuffled together, one permutation "
        "indexing both (`perm = mx.random.permutation(n); x, y = x[perm], y[perm]`), never "
        "one shuffle for the inputs and another for the labels; that each batch mixes the "
        "classes (a dataset sorted by length or by label and cut into batches in order "
        "gives batches of one class each, and every step pulls toward that batch's class: "
        "shuffle the examples before batching, not only the order of the batches); and "
        "that the inputs that "
        "decide the label reach the model at all (an input such as the images or a feature "
        "column dropped on the way, passed as None or replaced by zeros or a placeholder "
        "leaves only the prior to learn; a graph convolution without self-loops aggregates "
        "only a node's neighbours and drops its own features: add them, `A + I`, "
        "`add_self_loops=True`), and arrive in an order that keeps what decides the "
        "label (a reshape or transpose that scrambles positions, such as a hand-written "
        "pooling or patching that averages the wrong axes: `x.reshape(B, H // k, k, W // k, "
        "k, C).mean(axis=(2, 4))` averages k x k blocks, `.mean(axis=(1, 3))` averages pixels "
        "k apart over the whole image); and that attention normalises over the keys: "
        "`mx.softmax(scores)` with no axis normalises over every element of the (batch, "
        "heads, queries, keys) scores, each weight ~1/(B*H*L*L), so no position reads "
        "another: `mx.softmax(scores, axis=-1)`; and that a deep stack of blocks keeps its "
        "skip connections: post-norm blocks with no residual, `x = norm1(attn(x))`, stack "
        "sublayers with no identity path, so the gradient to the early ones vanishes: add "
        "the input back in each block, `x = norm1(attn(x)) + x`, `x = norm2(ff(x)) + x`")


def tail(values: list[float]) -> list[float]:
    """The last third of the finite values, at least MIN_TAIL of them when the run has
    as many as the trend rule judges (a run of 12 reports: its last 5); a shorter run's
    values all (its drop is then judged from its first value to its lowest: `short_drop`)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < program.TREND_MIN_POINTS:
        return finite
    return finite[-max(MIN_TAIL, len(finite) // 3):]


def short_drop(losses: list[float]) -> float | None:
    """A run too short for the trend rule: how far its loss ever fell below its first
    value, over the first (any fall counts, so a short run that learned is never judged)."""
    finite = [v for v in losses if math.isfinite(v)]
    if len(finite) < MIN_TAIL or finite[0] <= 0:
        return None
    return (finite[0] - min(finite)) / finite[0]


def accuracies(raw: RawResult) -> dict[str, list[float]]:
    """Every accuracy-like metric's values as fractions (a percentage scaled to [0, 1])."""
    out = {}
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points]
        if metric_names.role(name) != metric_names.ACCURACY or not values:
            continue
        scale = 100.0 if 1 < max(values) <= 100 else 1.0
        out[name] = [v / scale for v in values]
    return out


def fractions(raw: RawResult) -> dict[str, list[float]]:
    """`accuracies` that are shares of right answers: none of their values negative (a
    return or a reward below zero has no chance level: fresh305 `mashtun_steam_ddpg`,
    correct, a DDPG controller's episode return -95.7 -> -13.7 read as an accuracy at
    chance against exp(-actor_loss))."""
    return {n: v for n, v in accuracies(raw).items() if not any(x < 0 for x in v)}


def task_accuracies(raw: RawResult) -> dict[str, list[float]]:
    """`accuracies` without the objectives among them (a reward, a return, a score: an RL
    reward may sit at 0 and has no known ceiling)."""
    return {n: v for n, v in accuracies(raw).items() if not metric_names.objective(n)}


def finite_task_accuracies(raw: RawResult) -> dict[str, list[float]]:
    """`task_accuracies` with the non-finite values left out (a report of nan is no score)."""
    return {n: [v for v in vs if math.isfinite(v)] for n, vs in task_accuracies(raw).items()}


def stated_chance(text: str) -> float | None:
    """The last chance loss the output states as ln K (or log2 K) and gives equal to it."""
    for found in reversed(list(STATED.finditer(text))):
        count, value = int(found.group(2)), float(found.group(3))
        expect = math.log2(count) if found.group(1).lower() == "log2" else math.log(count)
        if count >= 2 and abs(value - expect) <= 0.01 * expect:
            return value
    return None


def chance_accuracy(text: str) -> float | None:
    """ln K for the last chance accuracy the output states, when it is 1/K for a whole K >= 2
    within 1% (`(chance 20.0%)`: ln 5 = 1.609): fresh304 `gearbox_hum_cutout_pseudo`, a cutout
    that wrote into the labelled set until its inputs were all zero, its supervised loss
    1.06 -> 1.6094 at each of its last twelve epochs, 1.6094 = ln 5. Only `at_stated` reads
    it, where the loss must sit at ln K itself, and `rose_from_stated`, where an accuracy
    must start at it: a stated chance may be another metric's (fresh182
    `vlm_nested_ids_collate`: `(chance 0.0006%)` for an exact match of three tokens), so it
    never stands a verdict down alone."""
    for found in reversed(list(STATED_ACC.finditer(text))):
        share = float(found.group(1)) / (100.0 if found.group(2) else 1.0)
        count = round(1 / share) if 0 < share <= 0.5 else 0
        if count >= 2 and abs(1 / share - count) <= 0.01 * count:
            return math.log(count)
    return None


def stated_uniform(text: str) -> float | None:
    """The loss of a uniform guess the output states: as ln K (`stated_chance`), or as a
    number on a line that names chance, uniform or random and a loss (`uniform-guess loss
    3.178`, `uniform baseline loss = 3.0445`)."""
    found = stated_chance(text)
    if found is not None:
        return found
    numbers = STATED_LOSS.findall(text)
    return float(numbers[-1]) if numbers else None


def below_stated(raw: RawResult) -> bool:
    """The loss's last-third median lies below the uniform-guess loss the program states by
    more than MIN_DROP: the model is not uniform over the task's classes, whatever its
    accuracy against exp(-loss) says (fresh305 `ferrule_cask_moe_ok`, correct: `uniform-guess
    loss 3.178` over 24 tokens, a model that sees one position at a time learned the three
    possible next tokens, loss 1.46 -> 1.14, val acc 34% at its ceiling of 1/3)."""
    stated = stated_uniform(raw.stdout_tail or "")
    losses = tail(program.losses(raw))
    return stated is not None and bool(losses) and statistics.median(losses) < (
        1 - MIN_DROP) * stated


def rose_from_stated(raw: RawResult) -> bool:
    """An accuracy that began at the chance accuracy the output states (its first report
    within RATIO of 1/K) and sat above RATIO x 1/K at each of its last RISEN_LAST reports:
    it rose from chance, so the model is not guessing, whatever its loss against exp(-loss)
    says (fresh360 `sluicegate_ledger_recursion`, correct: `chance token acc 0.250`, val acc
    0.252 -> 0.414 over 7 reports while ce 1.54 -> 1.08 sat above -ln of the accuracy's
    median). The accuracy must start at the stated chance, so a chance stated for another
    metric (fresh182's `(chance 0.0006%)` of an exact match) never stands a verdict down."""
    stated = chance_accuracy(raw.stdout_tail or "")
    if stated is None:
        return False
    level = math.exp(-stated)
    return any(len(v) >= MIN_TAIL and v[0] <= RATIO * level and min(v[-RISEN_LAST:]) > RATIO
               * level for v in finite_task_accuracies(raw).values())


def answered(raw: RawResult) -> bool:
    """An accuracy at ANSWERED (0.9) of its scale or more at each of its last ANSWERED_LAST
    reports: a model that answers nine in ten right twice is not guessing among three or more
    classes, whatever its median or its loss against exp(-loss) says (fresh363
    `cablegram_clerk_convs2s`, correct: greedy_em 0 -> 7 -> 33.5 -> 100 -> 100% over a short
    run, median 33.5%, beside a label-smoothed loss of 1.14 whose nll was 0.18)."""
    return any(len(v) >= ANSWERED_LAST and min(v[-ANSWERED_LAST:]) >= ANSWERED
               for v in finite_task_accuracies(raw).values())


def at_stated(raw: RawResult, median: float) -> dict | None:
    """The loss's last-third median at the chance loss the program states."""
    text = raw.stdout_tail or ""
    stated = stated_chance(text) or chance_accuracy(text)
    if stated is None or abs(median - stated) > STATED_TOL * stated:
        return None
    chance = math.exp(-stated)
    return {"chance_stated": stated, "loss_median": round(median, 4), "stated_tol": STATED_TOL,
            "chance_from_loss": round(chance, 4), "classes_from_loss": round(1 / chance, 1),
            "accuracy_medians": {}, "min_drop": MIN_DROP}


def at_chance(raw: RawResult) -> dict | None:
    """The evidence that every accuracy sits at exp(-loss) in the run's last third, or that
    the loss sits at the chance loss the program states, or None."""
    losses = tail(program.losses(raw))
    if len(losses) < MIN_TAIL or min(losses) < 0 or len(set(losses)) == 1:
        return None
    median = statistics.median(losses)
    chance = math.exp(-median)
    if chance <= 0.0:  # a loss beyond ~745: no uniform guess gives it
        return None
    tails = {n: t for n, v in fractions(raw).items() if len(t := tail(v)) >= MIN_TAIL}
    accs = held_out_first({n: statistics.median(t) for n, t in tails.items()})
    if not accs or not (_many_classes(chance, accs) or binary(chance, accs)):
        return at_stated(raw, median)
    return {"chance_from_loss": round(chance, 4), "classes_from_loss": round(1 / chance, 1),
            "accuracy_medians": {n: round(a, 4) for n, a in accs.items()},
            "one_class": all(len(set(tails[n][-MIN_TAIL:])) == 1 for n in accs),
            "ratio_max": RATIO, "max_chance": round(MAX_CHANCE, 3), "min_drop": MIN_DROP}


def held_out_first(accs: dict[str, float]) -> dict[str, float]:
    """The held-out accuracies when the run reports any (`metric_names.held_out`: val, test,
    eval), else all: a training accuracy above chance on its own examples while a held-out
    one sits at chance is memorisation, not learning (failure corpus fresh28
    `gcnconv_no_self_loops`: train_acc 0.36, test_acc 0.25 against exp(-loss) 0.27)."""
    held = {n: a for n, a in accs.items() if metric_names.held_out(n)}
    return held or accs


def _many_classes(chance: float, accs: dict[str, float]) -> bool:
    return chance <= MAX_CHANCE and max(accs.values()) <= RATIO * chance


def binary(chance: float, accs: dict[str, float]) -> bool:
    """Two classes at chance itself: the loss at ln 2 (exp(-loss) at 0.5) within
    BINARY_TOL, no accuracy above BINARY_ACC."""
    return abs(math.log(chance) + math.log(2)) <= BINARY_TOL * math.log(2) \
        and max(accs.values()) <= BINARY_ACC


def below_chance(losses: list[float], found: dict) -> float:
    """How far the loss fell below the loss of a uniform guess at the accuracy the run
    scores (ln K, K = 1 / its best accuracy median), when it started above it: a fall from
    a start worse than uniform down to uniform is no learning (fresh244
    `hive_waggle_charlm`: a hand-written LSTM whose gates were matrix products fell 5.02 ->
    2.51 while val_acc sat at 0.076-0.096 over 12 symbols, ln(1 / 0.082) = 2.50; its fixed
    twin's accuracy rose to 0.98). Any fall when there is no accuracy or no such start, and
    for two classes (an accuracy above 1/2 gives no class count)."""
    finite = [v for v in losses if math.isfinite(v)]
    accs = [a for a in found.get("accuracy_medians", {}).values() if 0 < a < 1]
    if not finite or not accs:
        return math.inf
    if found["chance_from_loss"] > MAX_CHANCE:
        return _binary_below(finite, found)
    uniform = -math.log(max(accs))
    if finite[0] <= uniform:
        return math.inf
    return (uniform - min(finite)) / uniform


def _binary_below(finite: list[float], found: dict) -> float:
    """Two classes: how far the loss fell below ln 2 from a start above it, when every
    accuracy held one value at its last MIN_TAIL reports (one class predicted for every
    example: fresh301 `drumlin_voxel_sumpool`, a sum pool mixing every channel: loss 0.715
    -> 0.6926-0.6932, val_acc 0.458 five times); any fall otherwise (two classes are judged
    at ln 2 itself, `binary`: a correct run on noisy labels falls from above ln 2 to just
    under it with an accuracy that moves, 0.55-0.6)."""
    if not found.get("one_class") or finite[0] <= math.log(2):
        return math.inf
    return (math.log(2) - min(finite)) / math.log(2)


def guessing(raw: RawResult, meta: dict) -> Verdict | None:
    if program.two_player(raw):
        return None  # a GAN's discriminator at ln 2 and 50%: the equilibrium it seeks
    found = at_chance(raw)
    if found is None:
        return None
    losses = program.losses(raw)
    drop = schedule.loss_drop(raw)
    drop = _with_last_phase(raw, losses, short_drop(losses) if drop is None else drop)
    if drop is None:
        return None
    drop, least = min(drop, below_chance(losses, found)), _min_drop(found)
    if drop >= least or below_stated(raw) or rose_from_stated(raw) or answered(raw):
        return None
    found["loss_drop"], found["min_drop"] = round(drop, 4), least
    return Verdict("not_learning", "chance", f"predictions at chance: {_where(raw)} "
                   f"{_against(found)}, and the loss fell {drop:.1%} over the run",
                   _hint(raw), found)


def _with_last_phase(raw: RawResult, losses: list[float],
                     drop: float | None) -> float | None:
    """The larger of the run's fall and its last phase's (`phases`: a new model or stage
    whose loss starts again), when there are phases: the loss climbing back at a restart is
    no failure to fall (fresh304 `shearing_shed_seed_study`, correct: four seeds trained to
    val_acc 0.75, then a permuted-label control whose train_ce fell 1.393 -> 1.292, 7.3%,
    read over the whole run as a 64% rise). Only ever takes a verdict back."""
    start = phases.last_start(raw, losses)
    if not start or drop is None:
        return drop
    fit = program.trend(losses[start:])
    phase = fit["window_drop"] if fit else short_drop(losses[start:])
    return drop if phase is None else max(drop, phase)


def _against(found: dict) -> str:
    if "chance_stated" in found:
        return (f"the loss's median {found['loss_median']:.4g} at the chance loss the program "
                f"states, {found['chance_stated']:g} (within {STATED_TOL:.0%}: a uniform guess "
                f"over ~{found['classes_from_loss']:.0f} classes)")
    shown = ", ".join(f"{n} {a:.3f}" for n, a in found["accuracy_medians"].items())
    return (f"{shown} against exp(-loss) = {found['chance_from_loss']:.3f} (a uniform guess "
            f"over ~{found['classes_from_loss']:.0f} classes)")


def _where(raw: RawResult) -> str:
    if len(program.losses(raw)) < program.TREND_MIN_POINTS:
        return f"at every report of a short run (>= {MIN_TAIL} reports)"
    return f"at the end of the run (its last third, >= {MIN_TAIL} reports)"


def _min_drop(found: dict) -> float:
    return BINARY_DROP if found["chance_from_loss"] > MAX_CHANCE else MIN_DROP


def _hint(raw: RawResult) -> str:
    used = program.optimizer_names(raw)
    uncorrected = hints.NO_BIAS_CORRECTION if program.uncorrected_adam(raw) else ""
    return anatomy.notes(raw) + HINT + (
        f" (the optimizer built here: {', '.join(used)}{uncorrected})" if used else "")


RULES = (
    Rule("not_learning.chance", "metrics", f"every accuracy's (the held-out ones' when "
         f"there are any) last-third median <= {RATIO}x "
         f"exp(-loss) (<= {MAX_CHANCE:.2f}: >= 3 classes) and the loss fell < {MIN_DROP:.0%}; "
         f"two classes: the loss within {BINARY_TOL:.0%} of ln 2, accuracies <= {BINARY_ACC}, "
         f"fell < {BINARY_DROP:.0%}; a run of {MIN_TAIL}-9 reports: all of them, and its "
         "loss never below its first; a loss that started above ln(1 / the best accuracy) "
         "falls only below that; the fall also measured on the last phase (the larger "
         "counts); accuracies with no negative value; none when the loss sits more than "
         f"{MIN_DROP:.0%} below a uniform-guess loss the output states, nor when an "
         f"accuracy began within {RATIO}x a chance accuracy the output states and sat above "
         f"that at each of its last {RISEN_LAST} reports, nor when an accuracy was >= "
         f"{ANSWERED:g} of its scale at each of its last {ANSWERED_LAST}",
         "failure corpus: optimizer_choice_ignored (Soup PR 734), "
         "shuffle_inputs_targets_separately (fresh7), vision_inputs_dropped_for_"
         "embedded (fresh9), gcnconv_no_self_loops (fresh28), mbert_eager_softmax_allaxes "
         f"(fresh186: no accuracy needed where the output states its chance loss as ln K, "
         f"or a chance accuracy of 1/K, the loss's median within {STATED_TOL:.0%} of it), "
         "hive_waggle_charlm (fresh244: "
         "5.02 -> 2.51 at val_acc 0.08 over 12 symbols); a uniform guess over K classes: "
         "loss ln K, accuracy 1/K", guessing),
)
