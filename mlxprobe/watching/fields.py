"""Named numbers and the step position in one line of a program's output, in any common shape.

Job: `read(text)` finds every `name value` pair on a line (`loss 0.5`, `loss=0.5`, `Loss: 0.5`,
`loss(ema) 0.5`, `'loss': 0.5`, `"loss": NaN`, `loss array(0.5, dtype=float32)`, two-word
names like `Train loss`, `val acc 93%`, `Training Loss [3.81]`, a cut-off like `recall@1`)
and where the line is in the run: a step word (`step 12`, `iter 5`, `batch 10/50`), a bare
`N/M` (tqdm's `45/100`), a leading `[N]`, an `epoch E`, a percentage. JSON lines and printed
dicts are read by the same scan (their keys are names, their values numbers; keys that two
nested objects share are named after their parents, `sft_regret`). Three or more numbers
joined by slashes are a breakdown's shares, nobody's value; a held-out metric heading keyed
labels names them as its variants (`val_mse adapters=0.011 fused=0.638`: `val_mse:fused`),
and so does one named by the plain words before a number of no role of its own (`test acc
restored checkpoint 26.7%`: `test_acc:checkpoint`).
A number glued to letters (`30.1it/s`, `1.2s`) is a unit, not a value; a number with no name
before it (a time stamp, a tqdm bar's clock) is nobody's.

Written by hand: no library reads training logs; `re` does the matching. Pure functions.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..metric_names import (
    ACCURACY,
    LOSS,
    OTHER,
    POSITION,
    TIMESTEPS,
    elbo,
    held_out,
    normal,
    role,
)

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
NON_FINITE = {"nan": float("nan"), "-nan": float("nan"), "+nan": float("nan"),
              "inf": float("inf"), "+inf": float("inf"), "-inf": float("-inf"),
              "infinity": float("inf"), "-infinity": float("-inf")}
# an MLX scalar or one-element array as Python prints it: array(0.5, dtype=float32)
# a line break or tab written escaped, as a record on one line (an iCalendar DESCRIPTION,
# a JSON string in a log line: `nll=5.25\nval_nll=5.51`): a separator, never part of a name
# (fresh37 plackett_luce_races_ical read `nval_nll`, `nkendall_tau`)
ESCAPED = re.compile(r"\\[nrt]")
ARRAY = re.compile(r"array\(\s*\[?\s*([^,()\[\]\s]+)\s*\]?\s*,\s*dtype=[\w.]+\)")
# a qualifier in brackets between a name and its colon or `=`: `mean group reward (last 60):
# 0.588` names 0.588, and the 60 is no value
QUALIFIER = re.compile(r"(?<=[A-Za-z_])\s*\([^()\n=:]*\)(?=\s*[:=])")
# a one-word qualifier glued to its name, a space before the value: `loss(ema) 2.597  acc(val)
# 0.21` reads as `loss_ema` and `acc_val` (fresh30 rope_built_never_applied); before a colon
# or `=` the qualifier goes (QUALIFIER)
GLUED = re.compile(r"(?<=[A-Za-z_])\(([A-Za-z][A-Za-z0-9_]{0,15})\)"
                   r"(?=\s+[-+]?(?:\d|\.\d|(?i:nan|inf)))")
# a value in brackets after its name and a space: `Training Loss [3.81]  LR [0.5]` (gpt-mlx's
# log lines); not `x [3]: 0.5`, where the bracket qualifies the name
BRACKETED = re.compile(rf"(?<=[A-Za-z_])(\s+)\[\s*({NUMBER}|(?i:nan|inf))\s*\](?!\s*[:=])")
# a loss named with "at" before its value: `SimMLP Epoch 20/200: loss at 7.5697` (fresh178
# `onehot_namegen_sgd`, a makemore port); only a loss's name: `recall at 5 0.8` and `hits at
# 10` name a cut-off, and `loss at step 5: 0.3` has a step word after "at", no number
LOSS_AT = re.compile(rf"(?i)(?<![\w.])(loss|nll|ppl|perplexity|mse|rmse|mae|cost)\s+at\s+"
                     rf"(?=(?:{NUMBER}|nan|inf)(?![\w.]))")
# a word may end in a cut-off: `acc@1`, `hits@10`, and a detector's IoU threshold, `F1@0.5`,
# `mAP@0.75` (fresh265 `railhead_echo_fcos`: `F1@0.5  96.0%` was read as no metric, and the
# run's rising score was not seen beside its falling IoU loss term)
TOKEN = re.compile(rf"(?P<word>(?:(?<!\S)-)?[A-Za-z_][\w./-]*(?:@\d+(?:\.\d+)?)?)|"
                   rf"(?<![\w.])(?P<num>{NUMBER})(?![\w.])(?P<pct>%)?")
# what may stand between a name and its number: a few separators, or only spaces (an aligned
# column, `it     1  -elbo     3558.823`: f"{name:<6}{value:>12}" pads with more than four)
GAP = re.compile(r"^(?:[\s'\":=|]{0,4}| {5,16})$")
# `held-out loss 1.5404 -> 0.0310`: a change from the first number to the second (the
# catalogue's nan_unchecked example read its untrained value as a report after training),
# each number perhaps labelled in parentheses with no number of their own: `val rmse 8.739
# (mean guess) -> 0.643 (stage A) -> 0.621` (fresh269 `belfry_escapement_precision_stages`:
# the baseline was read as the final val_rmse, `wrong_result:reverted`)
ARROW = re.compile(rf"\s*(?:\([^()\d]{{0,40}}\)\s*)?(?:->|→|=>)\s*(?:{NUMBER}|(?i:nan|inf))")
RATIO = re.compile(r"(?<![\w./])(\d+)\s*/\s*(\d+)(?![\w./])")
# an object nested under a key, `"sft": {"regret": 1.31}` (no braces inside: innermost first)
NESTED = re.compile(r"""(["'])([A-Za-z_][\w.-]*)\1\s*:\s*\{([^{}]*)\}""")
INNER_KEY = re.compile(r"""(["'])([A-Za-z_][\w.-]*)\1(\s*:)""")
# a label keyed to its number, `fused=0.64`, `raw: 0.54`
KEYED = re.compile(rf"([A-Za-z_][\w.-]*)\s*[=:]\s*(?:{NUMBER}|nan|inf)", re.IGNORECASE)
# three or more numbers joined by `/` (`matte/gloss/crackle 2/13/10%`, a date 2024/01/05): a
# breakdown's shares, the value of no one name (fresh203 `raku_glaze_recipe_gan_rmsprop`:
# each family's share of a GAN's samples read as the loss of `matte/gloss/crackle`, 0 -> 17,
# `diverged:exploding`); a table's cells are read so already (`output.shares`)
SHARES = re.compile(rf"(?<![\w./]){NUMBER}%?(?:/{NUMBER}%?){{2,}}(?![\w./])")
LEADING = re.compile(r"^\s*\[\s*(\d+)\s*\]")
# a step word glued to its zero-padded number at the line's start, a record tag
# (`@step0050 lr=4.85e-03 train_ll=-1.3484`: fresh295 `flowcell_readthrough`, correct, whose
# records were read only where a value was nan, its untrained step-0 placeholder, so that nan
# was the metric's one report: `diverged:non_finite_metric`)
GLUED_STEP = re.compile(r"^\s*[@#\[]?(?i:step|iter|iteration|update)_?(\d+)\b")
STEP_WORDS = frozenset({"step", "steps", "iter", "iters", "iteration", "it", "update",
                        "updates", "global_step", "batch", "train_step", "gstep", "n_iter",
                        "batch_idx", "episode", "round"}) | TIMESTEPS
EPOCH_WORDS = frozenset({"epoch", "ep"})
QUALIFIERS = frozenset({"train", "training", "val", "valid", "validation", "test", "eval",
                        "learning", "grad", "gradient", "avg", "average", "mean", "total",
                        "running", "epoch", "recon", "reconstruction", "policy", "value",
                        "entropy", "smoothed", "global", "dev", "trained", "peak",
                        "holdout", "heldout", "held-out", "held_out",
                        # a reference's value is named with it (`naive gives -inf`, fresh122
                        # `skilift_queue_tobit_logphi`: `gives` went non-finite, the run did not)
                        "naive", "baseline", "oracle", "reference"})
# the most words a held-out metric's phrase may run to before a number (`_described`)
DESCRIBED = 4
# words that label no variant of a metric: a number after one is another quantity the phrase
# speaks of (`train ce floor set by 6% tag noise`: fresh255 `apiary_comb_spans`, read as a
# training loss of 6 after one of 0.276, `wrong_result:degraded`)
FUNCTION_WORDS = frozenset({"by", "of", "from", "with", "at", "to", "over", "per", "than",
                            "for", "in", "on", "is", "was", "are", "were", "as"})
SPLITS = frozenset({"train", "training", "val", "valid", "validation", "test", "eval", "dev",
                    "holdout"})
# a unit of information after a number: `bits`, `nats`, `bits/char`, `nats/token`, `bpc`
INFORMATION = re.compile(r"\s*(?:bits?|nats?|bpc|bpb|bpd)\b(?:\s*/\s*\w+)?", re.IGNORECASE)
MEANS = frozenset({"mean", "avg", "average"})  # after a name: `rewards mean 0.3`
RATES = frozenset({"rate", "rates"})  # after a name: `error rate 0.12` (`_rate_of`)
ALIASES = {"lr": "learning_rate", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
           "gradnorm": "grad_norm", "gradient_norm": "grad_norm"}


@dataclass
class Line:
    """What one line says: its named values (in order), and its position words."""

    values: dict[str, float] = field(default_factory=dict)
    step: int | None = None  # a step word's number, or a bare N/M's N, or a leading [N]
    epoch: int | None = None
    percent: float | None = None

    @property
    def empty(self) -> bool:
        return not self.values and self.step is None and self.epoch is None


def read(text: str) -> Line:
    """The named values and the position of one (ANSI-free) line."""
    text = _flattened(ESCAPED.sub(" ", text))
    text = QUALIFIER.sub("", GLUED.sub(r"_\1", ARRAY.sub(r"\1", text)))
    text = LOSS_AT.sub(r"\1 ", BRACKETED.sub(r"\1\2", text))
    line = Line()
    pairs = _headed(text, list(_pairs(text)))
    names = [name for name, _, _, _ in pairs]
    for name, qualified, value, pct in pairs:
        _take(line, qualified if names.count(name) > 1 else name, value, pct)
    if line.step is None:
        line.step = _bare_step(text)
    return line


def _flattened(text: str) -> str:
    """A JSON object or printed dict nested in the line (`"sft": {"regret": 1.31}, "dpo":
    {"regret": 0.10}`) with the keys the line names twice named after their parent's
    (`sft_regret`, `dpo_regret`), innermost first: two objects' like-named keys are two
    metrics, not the first one's value read for both (fresh206 `crossword_clue_editor_dpo`:
    a summary printing the SFT stage's regret beside the DPO stage's read as the trained
    model back at its SFT value, `wrong_result:reverted`)."""
    if "{" not in text or not NESTED.search(text):
        return text
    keys = [key[2] for key in INNER_KEY.finditer(text)]
    twice = {key for key in keys if keys.count(key) > 1}
    while twice:
        flat = NESTED.sub(lambda found: _prefixed(found, twice), text)
        if flat == text:
            break
        text = flat
    return text


def _prefixed(found: re.Match, twice: set[str]) -> str:
    """The object's inside, its keys that the line names twice named after its parent."""
    parent = found[2]
    return INNER_KEY.sub(lambda key: f"{key[1]}{parent}_{key[2]}{key[1]}{key[3]}"
                         if key[2] in twice else key[0], found[3])


def _headed(text: str, pairs: list) -> list:
    """A metric's name heading a line, with no number of its own, names the labelled values
    after it as variants of it (`val_mse adapters=0.011 fused=0.638`: `val_mse:adapters`,
    `val_mse:fused`, readings of `val_mse` for the judging), where a label alone would be
    nobody's metric (fresh204 `lora_fuse_armpose`: the fused model's error, 58x the adapter
    model's, read as a value named `fused`). Only a held-out metric heads (an evaluation after
    training: `final psnr over 1024 px` or `final MAE: hardness 1.66` heads nothing), only
    labels keyed with `=` or `:` are renamed (`(base policy 0.47)` stays a reference's), and
    only where every label is of no role of its own (`loss parts: recon 0.3 kl 0.1` names
    its parts)."""
    head = _header(text)
    if head is None or any(n and role(n) != OTHER for n, _, _, _ in pairs):
        return pairs
    keyed = {_normal(found[1]) for found in KEYED.finditer(text)}
    return [(f"{head}:{n}", f"{head}:{q}", v, p) if n in keyed else (n, q, v, p)
            for n, q, v, p in pairs]


def _header(text: str) -> str | None:
    """The normalised metric name made of the words before the line's first number but the
    last (the first number's own label), when they name a held-out loss or accuracy."""
    first = next((m for m in TOKEN.finditer(text) if m["num"] is not None), None)
    if first is None:
        return None
    words = [m["word"] for m in TOKEN.finditer(text, 0, first.start()) if m["word"]]
    if len(words) < 2 or len(words) > 3:
        return None
    head = _normal(" ".join(words[:-1]))
    return head if role(head) in (LOSS, ACCURACY) and held_out(head) else None


def _pairs(text: str):
    """(normalised name or "", the name with the word before it, value, was a percentage)
    for each number on the line: a line that names two values alike (`sampled reward 0.0 |
    greedy reward 0.02`) keeps them apart by their two-word names."""
    words: list[tuple[str, int]] = []  # (word, end) of the words seen so far
    carried: tuple[str, str] | None = None  # the name of a value `x -> y` changed from
    shared = [(m.start(), m.end()) for m in SHARES.finditer(text)] if "/" in text else []
    for found in TOKEN.finditer(text):
        word, num = found["word"], found["num"]
        if word is not None and word.lower() not in NON_FINITE:
            words.append((word, found.end()))
            continue
        if shared and any(start <= found.start() < end for start, end in shared):
            words.append(("", found.end()))
            continue
        value = NON_FINITE[word.lower()] if word is not None else float(num)
        name, qualified = carried or _headed_by(text, words, found.start(), _names_before(
            text, words, found.start()), value, bool(found["pct"]))
        carried = None
        if ARROW.match(text, found.end()):  # `loss 1.54 -> 0.03`: the name is the new value's
            carried = (name, qualified)
        else:
            yield (*_information(text, found.end(), name, qualified), value, bool(found["pct"]))
        words.append(("", found.end()))  # a number breaks a two-word name


def _information(text: str, end: int, name: str, qualified: str) -> tuple[str, str]:
    """A data split's value in bits or nats (`train 1.678 bits/jump`, `val 2.049 nats`) is
    its cross-entropy: named `train_nll`, `val_nll` (fresh99 `skijump_landing_lrfinder_bar`,
    whose training loss `train ... bits/jump` was read as no loss, so a learning-rate range
    test's blow-up before it was the run's whole loss curve: `diverged:spike`). Only after a
    split's name: `entropy 0.69 nats` (a policy's) and `prior 1.37 bits` stay what they are."""
    if name not in SPLITS or not INFORMATION.match(text, end):
        return name, qualified
    return f"{name}_nll", f"{qualified}_nll"


def _names_before(text: str, words: list[tuple[str, int]], start: int) -> tuple[str, str]:
    """The name of the number at `start` (the word before it, with the word before that when
    it qualifies it: `train loss`, `rewards mean`), and that name with any word before it
    (the same when there is none), or with a bracketed qualifier before it (`[TEST] PSNR`:
    fresh49 flatland_nerf_testcopy printed a train batch's `PSNR` and then the test set's on
    one line): ("", "") when no word names the number."""
    if not words or not words[-1][0] or not GAP.match(text[words[-1][1]:start]):
        return "", ""
    name = words[-1][0]
    between = text[words[-2][1]:words[-1][1] - len(name)] if len(words) > 1 else "x"
    spaced = len(words) > 1 and bool(words[-2][0]) and bool(re.fullmatch(r"\s+", between or "x"))
    tagged = len(words) > 1 and words[-2][0].lower() in QUALIFIERS and bool(
        re.fullmatch(r"\]\s*", between))  # `[TEST] PSNR: 9.59` beside a train `PSNR`
    two = f"{words[-2][0]} {name}" if spaced or tagged else name
    qualifies = spaced and (words[-2][0].lower() in QUALIFIERS or _mean_of(words[-2][0], name)
                            or _rate_of(words[-2][0], name))
    split = _split_over(text, words) if spaced else None
    if split is not None:
        return _normal(f"{split} {two}"), _normal(f"{split} {two}")
    return _normal(two if qualifies else name), _normal(two)


# a data split's word, two words before a metric's name (`val mean loss`)
SPLIT_WORDS = SPLITS | {"heldout", "held-out", "held_out"}


def _split_over(text: str, words: list[tuple[str, int]]) -> str | None:
    """A split's word before a two-word name, spaces alone between: it names whose value
    it is (`val mean loss 1.2`, `held-out summed loss 1.43`: fresh369
    `ropewalk_strand_tsample_resume`, correct, whose held-out loss at a checkpoint, 1.428,
    was read as its training loss, 0.002 the report before, `diverged:spike`)."""
    if len(words) < 3 or words[-3][0].lower() not in SPLIT_WORDS:
        return None
    gap = text[words[-3][1]:words[-2][1] - len(words[-2][0])]
    return words[-3][0] if re.fullmatch(r"\s+", gap) else None


def _headed_by(text: str, words: list[tuple[str, int]], start: int, named: tuple[str, str],
               value: float, pct: bool) -> tuple[str, str]:
    """The name of the number at `start`, as a reading of the held-out metric a phrase
    before it names (`_described`) where its own label has no role, follows its number's
    label with spaces alone (`bs=1` is a setting's), and the value is no count (an integer
    that is no percentage: `val acc before stage 2`, `no val top1 gain for 10 epochs`) nor
    follows a function word (`FUNCTION_WORDS`: `floor set by 6% tag noise`)."""
    if not named[0] or role(named[0]) != OTHER or (value.is_integer() and not pct) or \
            not re.fullmatch(r" +", text[words[-1][1]:start]) or \
            words[-1][0].lower() in FUNCTION_WORDS:
        return named
    head = _described(text, words)
    return (f"{head}:{named[0]}", f"{head}:{named[1]}") if head else named


def _described(text: str, words: list[tuple[str, int]]) -> str | None:
    """The held-out metric a phrase of plain words names before a number whose own label
    has no role (`test acc restored checkpoint 26.7%`: `test_acc:checkpoint`, a reading of
    `test_acc`; fresh212 `rennet_curd_runstats_ckpt`, whose test accuracy of the live model
    and of the restored checkpoint, 95.2% and 26.7%, were values named `model` and
    `checkpoint`, nobody's metric). The phrase: up to DESCRIBED words joined by spaces alone
    since the last number or mark, a split's word and a measure's first among them."""
    run = [words[-1][0]]
    for (word, end), (after, _) in zip(reversed(words[:-1]), reversed(words[1:])):
        gap = text[end:text.find(after, end)] if word else "x"
        if not word or len(run) > DESCRIBED or not re.fullmatch(r" +", gap):
            break
        run.insert(0, word)
    for first, second in zip(run[:-2], run[1:-1]):
        head = _normal(f"{first} {second}")
        if first.lower() in SPLITS and role(head) in (LOSS, ACCURACY):
            return head
    return None


def _normal(name: str) -> str:
    found = normal(name)
    return ALIASES.get(found, found)


def _mean_of(subject: str, name: str) -> bool:
    """`rewards mean 0.3`: a mean named after what it averages (its name, not `mean`)."""
    low = subject.lower()
    return name.lower() in MEANS and bool(low) and low not in STEP_WORDS | EPOCH_WORDS


def _rate_of(subject: str, name: str) -> bool:
    """`digit error rate 0.872`, `hit rate 0.4`: a rate named after what it counts, a loss or
    an accuracy word (`error_rate`), not a bare `rate` of no role (fresh360
    `reedbank_dictation`: its digit error rate, at 0.872 at every evaluation against a stated
    chance of 0.900, was a metric named `rate`)."""
    return name.lower() in RATES and role(normal(subject)) in (LOSS, ACCURACY)


def _take(line: Line, name: str, value: float, pct: bool) -> None:
    if not name:
        if pct and line.percent is None:
            line.percent = value
        return
    if name in EPOCH_WORDS and value.is_integer():
        line.epoch = int(value) if line.epoch is None else line.epoch
    elif name in STEP_WORDS and value.is_integer() and value >= 0:
        line.step = int(value) if line.step is None else line.step
    elif role(name) != POSITION:
        line.values.setdefault(name, value)
        if elbo(name) and value < 0:  # the ELBO itself: its negative is the run's loss
            line.values.setdefault(f"neg_{name}", -value)


def _bare_step(text: str) -> int | None:
    """A step with no word before it: tqdm's `45/100`, or a leading `[12]`, or a step word
    glued to its number at the line's start (`@step0050`)."""
    for found in RATIO.finditer(text):
        before = text[:found.start()].rstrip(" :=[(")
        last = re.search(r"([A-Za-z_][\w]*)$", before)
        done, total = int(found.group(1)), int(found.group(2))
        if done <= total and (last is None or normal(last.group(1)) not in EPOCH_WORDS):
            return done
    leading = LEADING.match(text) or GLUED_STEP.match(text)
    return int(leading.group(1)) if leading else None
