"""Progress read from a program's output lines: the heartbeat source that needs no Python.

Job: strip ANSI codes from a line and find a step number and a loss in it, with the common
forms built in (`step 12 loss 3.45`, `Iter 10: Train loss 6.170, ...`, `iter 5 | loss 2.3`,
`[step 100/1000] loss=2.3`, `Epoch 1 Step 10 Loss: 2.3`, mlx-lm's table rows) or with the
user's `--progress REGEX` (named groups `step` and `loss`, `loss` optional). A validation line
(`Val loss`, `val_loss`) gives a `val_loss` metric, never the training loss. A table (a
header line of column names with a position or a metric among them, then rows of numbers
only) is read by its header: each row's numbers take the column names. The result is a
`progress` record like every other source's.

Written by hand: the line forms are ours to choose, and `re` does the matching.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import math
import re

from .. import metric_names
from ..protocol import HEADING, OUTPUT, PROGRESS, encode_number
from . import columns, fields

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
STEP_WORD = r"(?:step|iter(?:ation)?|it|update)"
BUILT_IN = (
    # "step 12 loss 3.4", "Iter 10: Train loss 6.170", "[step 100/1000] loss=2.3"
    re.compile(rf"(?i)\b{STEP_WORD}\b\s*[:#=]?\s*(?P<step>\d+)(?:\s*/\s*\d+)?\b.*?"
               rf"\b(?P<val>val(?:idation)?[ _])?loss\b\s*[:=]?\s*(?P<loss>{NUMBER})"),
    # "loss 3.4 at step 12", "loss=2.3 step=100"
    re.compile(rf"(?i)\b(?P<val>val(?:idation)?[ _])?loss\b\s*[:=]?\s*(?P<loss>{NUMBER})"
               rf".*?\b{STEP_WORD}\b\s*[:#=]?\s*(?P<step>\d+)"),
    # a validation table row: "  60    val 6.337    0.89s" (mlx-lm 0.32)
    re.compile(rf"^\s*[|│]?\s*(?P<step>\d+)\s*[|│]?\s+(?P<val>val)\s+(?P<loss>{NUMBER})\b"),
)
# a table row: "|  10 | 6.170 | ..." or "  10   6.170 ▼  1234.5" (mlx-lm 0.32's table); not
# on a line that names a loss itself (strace's `40117  0.928610 epoch(1, train_ce=1.6370, ...)
# = 224`: a process id and a clock, fresh65 `collatz_bits_strace`, read as a loss that rose
# from 2e-06 to 7.28 and called `diverged:exploding`); the loss a real number written with
# a decimal point or an exponent (or nan/inf): a whole number second is a counter column
# (`1   6    50    3.264 | 20.473`: stage, legs, step, error; fresh70
# `dead_reckoning_curriculum`, whose curriculum's passage length 6 -> 32 was read as a loss
# and called `diverged:exploding`); nor under a table header whose names could not be placed
# over the row (`ProgressParser._under_unread`)
DECIMAL = r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+|[-+]?(?:nan|inf)"
HEADERLESS_ROW = re.compile(rf"^\s*[|│]?\s*(?P<step>\d+)\s*[|│]?\s+(?P<loss>{DECIMAL})\s*"
                            rf"(?:[|│]|\s\S|$)")


# metrics named on a progress line: `grad_norm 0.12`, `lr=1e-4`, `learning rate: 3e-4`
METRICS = {"grad_norm": "grad_norm", "gradnorm": "grad_norm", "grad norm": "grad_norm",
           "lr": "learning_rate", "learning_rate": "learning_rate",
           "learning rate": "learning_rate"}
METRIC = re.compile(rf"(?i)\b(?P<name>grad[_ ]?norm|learning[_ ]rate|lr)\b\s*[:=]?\s*"
                    rf"(?P<value>{NUMBER})")


def strip_ansi(line: str) -> str:
    return ANSI.sub("", line)


class ProgressParser:
    """Turns output lines into progress records (or None for a line without one).

    The built-in forms are tried first (mlx-lm's table rows need them); any other line with
    a position (`fields.read`: a step word, `N/M`, `[N]`, an epoch) and a named number, or
    with a loss-like or accuracy-like number and no position, is progress too: its best
    loss-like value is the record's loss (`loss_name` says which when it is not `loss`), the
    other values its metrics. Steps never go back: a counter that restarts each epoch
    continues from the last step; a program that prints no step gets its lines counted."""

    def __init__(self, user_regex: str | None = None) -> None:
        self.user = re.compile(user_regex) if user_regex else None
        self.steps = Steps()
        self.header: list[str] | None = None  # the last table header's column names
        self.pending: str | None = None  # a header whose words are not its columns (yet)
        self.foreign = 0  # the cells of a header that names no metric, over the rows below it
        self.foreign_head: tuple[str, int] | None = None  # its text and column count
        self.unread = 0  # the cells of the first row under a header it could not be read by
        self.barred = False  # the last header was barred into columns
        self.words: list[str] | None = None  # a barred header's words, one a column each
        self.groups: list[list[str]] | None = None  # a barred header's words, per group
        self.diff = False  # a unified diff's hunk was seen: `-` lines are values replaced
        self.block = KeyValueBlock()

    def parse(self, line: str) -> dict | None:
        text = strip_ansi(line)
        if self.user is not None:
            found = self.user.search(text)
            return _with_metrics(_record(found), text) if found is not None else None
        text = self._undiffed(text)
        if text is None or reference_line(text):
            return None
        text = uncommented(window_end(without_asides(text)))
        if self.block.takes(text):
            return None
        if self.block.rows:
            named = self.block.close()
            return self._placed(_general(named), named, "")
        cells = table_cells(text)
        self._foreign(text, cells)
        heading = header_cells(text, cells)
        if not is_header(heading) and delimited(text):
            heading = cells  # bars around groups of columns (`step | D  G | D(x)  D(G)`)
        if is_header(heading):
            self.header, self.unread, self.barred = unitless(heading), 0, delimited(text)
            self.foreign_head = None
            self.words = cells if delimited(text) and is_header(cells) else None
            self.groups = [g.split() for g in bar_cells(text)] if delimited(text) else None
            self.pending = text if columns.header_like(text) else None
            return None
        if columns.header_like(text) and self._under_pending(text):
            return None  # a row of units under the header's names
        if columns.header_like(text):
            self.pending, self.unread, self.barred = text, 0, delimited(text)
            self.foreign_head = None
            return stage_heading(text)
        self._align(text, cells)
        row = self._row(text, cells)
        if row is not None:
            named = fields.read(" ".join(f"{h} {c}" for h, c in row))
            return self._placed(_general(named), named, text)
        if (self.foreign == len(cells) and numeric(cells)) or self._under_foreign(text, cells):
            return None  # a row of a table that names no metric (`_foreign`)
        line_fields = fields.read(text)
        headerless = not _named_loss(line_fields) and not self._under_unread(text, cells)
        patterns = (*BUILT_IN, HEADERLESS_ROW) if headerless else BUILT_IN
        for pattern in patterns:
            found = pattern.search(text)
            if found is not None and not _held_out_match(found, line_fields):
                return self._placed(_with_fields(_record(found), line_fields), line_fields,
                                    text)
        return self._placed(_general(line_fields, text), line_fields, text) or stage_heading(
            text) or run_heading(text, line_fields)

    def _undiffed(self, text: str) -> str | None:
        """A unified diff of metric files (`--- a/epoch_00.metrics`, `@@ -1,10 +1,10 @@`,
        `-train_ce = nan`, `+train_ce = 0.5930`: fresh66 `pv_iv_fault_unidiff`, whose removed
        line `-train_ce = nan`, the untrained placeholder, was read as a negated metric gone
        non-finite): after a hunk header, a removed line is the value before (not read), an
        added line is read without its `+`, and the file headers are no progress."""
        if HUNK.match(text):
            self.diff = True
            return None
        if not self.diff or not text or text[0] not in "+-":
            return text
        if text[0] == "-" or text.startswith("+++"):
            return None
        return text[1:]

    def _foreign(self, text: str, cells: list[str]) -> None:
        """A line of FOREIGN_CELLS or more column names none of which is a position or a
        metric (`pos  team  learned  true`) heads a table that is no progress: the rows of
        numbers right below it, as many as its names, are not read as headerless step/loss
        rows (fresh61 `davidson_matchday_ratings`: a final league table's team ids were read
        as a training loss of 6, 37, 27, ... and called `diverged:exploding`). Any other
        line ends it."""
        if self.foreign and not (len(cells) == self.foreign and numeric(cells)):
            self.foreign = 0
        if len(cells) >= FOREIGN_CELLS and all(HEADER_CELL.fullmatch(c) for c in cells) \
                and not is_header(cells):
            self.foreign, self.foreign_head = len(cells), (text, len(cells))

    def _align(self, text: str, cells: list[str]) -> None:
        """Under a header whose words did not split into columns, the first row of numbers
        names them by alignment (`columns.aligned`); the header is tried on one row only. A
        line of words between them (`(first step: 8 gradient leaves)`) is no row: fresh99
        `ean_scanline_conv_rangetest`, whose header was not read after such a note, so each
        row's learning rate was read as its loss. Names that line up but name no position or
        metric head a table that is no progress, as in `_foreign` (fresh289
        `chaffinch_phrase_elman_floor`: `pass  lr start  lr end  first win  last10 win
        held-out  gap  secs`, whose rows' starting learning rate, 1.0 at every pass, was
        read as a loss that never moved: `not_learning:trend`)."""
        if self.pending is None or not numeric(cells) or (
                self.header is not None and len(cells) == len(self.header)):
            return
        names = columns.aligned(self.pending, text)
        if names is not None and is_header(names):
            self.header = unitless(names)
        elif names is not None:  # names found, none a position or metric
            self.foreign, self.foreign_head = len(cells), (self.pending, len(cells))
        else:
            self.unread = len(cells)
        self.pending = None

    def _under_foreign(self, text: str, cells: list[str]) -> bool:
        """A row of the last table that names no metric after a line that is not one of its
        rows: as many cells as its columns, two or more of them numbers, every cell lined up
        under its header (`columns.lines_up`, a word counted as a value: `silent` under `ERLE
        dB`). A note between rows (`----- block 300: echo path changed -----`) or a row with
        a word in it ends `foreign`'s count of rows, not the table (fresh380
        `sedge_echo_canceller`, correct: `block  resid pow  floor  ERLE dB  misalign dB`,
        whose rows after the first `silent` were read as a headerless step and loss, the
        residual power, and the echo path changed on purpose at block 300 read as a 10x
        spike: `diverged:spike`)."""
        if self.foreign_head is None or len(cells) != self.foreign_head[1]:
            return False
        return sum(numeric([c]) for c in cells) >= 2 and columns.lines_up(
            self.foreign_head[0], text)

    def _under_pending(self, text: str) -> bool:
        """A line of words under a header not yet read (no row of numbers since it), lined
        up with its words (`columns.beneath`): the header's units, not a new header."""
        return self.pending is not None and columns.beneath(self.pending, text)

    def _under_unread(self, text: str, cells: list[str]) -> bool:
        """A row that its table's header names could not be placed over (a barred row under
        a barred header, not read as its row, or cells not lined up with the names when they
        were tried on the first row of numbers): the program named its columns, and the
        second is not known to be the loss, so the row is not read as a headerless step and
        loss (fresh369 `ropewalk_strand_tsample_resume`, correct: `step | lr |
        draws l/g/k | huber ce_grade ce_kink | ...` over rows `300 | 1.98e-03 | 148/ 93/ 59
        | ...`, whose learning rate was read as the loss, as fresh56, fresh99, fresh128 and
        fresh188's were before their headers could be read)."""
        return (self.barred and delimited(text)) or (self.unread > 0 and len(cells) == self.unread)

    def _row(self, text: str, cells: list[str]) -> list[tuple[str, str]] | None:
        """A row of the last table header: (column name, number) pairs, or None. Rows of
        numbers only, as many as the columns; in a table with bars, the cells between its
        bars, where a cell may be empty or hold words under a column that names no position
        or metric (a `note` column: `150 | 12 | 0.09128 | widened`; fresh19
        `correct_net2net_widening`, whose `width` column was read as the loss otherwise),
        and a dash marks a value not there yet (`0 | - | 2.3232 | 1.000`: the evaluation
        before training), as an empty cell of a CSV row does (`comma_cells`)."""
        if self.header is None:
            return None
        aligned = self._aligned(cells, self.header)
        if aligned is None and self.words is not None and len(cells) == len(self.words):
            aligned = self._aligned(cells, self.words)  # bars around groups of columns
        if aligned is not None:
            return aligned
        between = bar_cells(text) if delimited(text) else comma_cells(text)
        if len(between) != len(self.header):
            return None
        groups = self.groups if self.groups and len(self.groups) == len(between) else None
        pairs = [(h, c) for h, c in zip(self.header, between) if c and numeric([c])]
        pairs += [p for i, c in enumerate(between) if groups and not numeric([c])
                  for p in grouped(groups[i], c)]
        words = [h for i, (h, c) in enumerate(zip(self.header, between))
                 if c and c not in EMPTY_CELLS and not numeric([c])
                 and not (groups and grouped(groups[i], c))]
        return pairs if len(pairs) >= 2 and not any(_measured(h) for h in words) else None

    def _aligned(self, cells: list[str], header: list[str]) -> list[tuple[str, str]] | None:
        """A row of as many cells as the header's names: numbers only, or numbers with words
        under position columns only (`init`, `final`, `best`: an evaluation outside the
        count, read without its position; fresh76 `geyser_interval_nll_seeds`: `init  nan
        1.4133  88.4%  11.34` under `epoch  train_nll  test_nll  cover90  mae_min` was read as
        a metric `init` that was nan at every seed's start, `diverged:non_finite_metric`).
        Words after the last column with no number among them are a note on the row (`132
        1.42e+00  55.4202  <- blew up, sweep stopped`: fresh99 `ean_scanline_conv_rangetest`,
        whose blown-up row was read as a headerless step and loss, its learning rate). A dash
        under any column is a value not there (`EMPTY_CELLS`: fresh107 `refill_dpsgd_rst`, a
        reference run's `clipped_%` column printed `-`, whose rows were read headerless, each
        row's test loss lost). Numbers joined by `/` under a column that names no metric are
        skipped (`shares`: fresh166 `seaglass_frost_gan_refcols`, a mixture's shares under
        `green/white/brown`, whose rows were read headerless, the discriminator's loss at its
        equilibrium as the run's loss: `not_learning:trend`). A word under the first column,
        when it names no position or metric, labels the row (`bias-1` under `session`: fresh383
        `platen_bias_tune`, correct, whose rows were not read, so its bias-only stage showed
        one loss and was called `no_update:frozen_weights`)."""
        cells = cells[:len(header)] if not any(numeric([c]) for c in cells[len(header):]) \
            else cells
        if len(cells) != len(header):
            return None
        pairs = [(h, c) for h, c in zip(header, cells) if numeric([c])]
        words = [(i, h) for i, (h, c) in enumerate(zip(header, cells)) if not numeric([c])
                 and c not in EMPTY_CELLS and not (shares(c) and not _measured(h))]
        placed = all(metric_names.role(metric_names.normal(h)) == metric_names.POSITION
                     or (i == 0 and not _measured(h)) for i, h in words)
        return pairs if placed and len(pairs) >= 2 else None

    def _placed(self, record: dict | None, line: fields.Line, text: str) -> dict | None:
        """The record at its run step, a loss's with the words its line starts with
        (`head`: lines of one kind share them; `facts.without_mixed` and `judging.phases`
        read them)."""
        if record is not None:
            record["step"] = self.steps.place(record.get("step"), line.epoch)
            if self.steps.restarted:  # the program's counter went back (judging/phases)
                record["restart"] = True
            if "loss" in record:
                record["head"] = head(text)
            units = byte_units(text, record.get("metrics") or {})
            if units:
                record["units"] = units
            sizes = unnamed_sizes(text, record.get("metrics") or {})
            if sizes:
                record["sizes"] = sizes
        return record


RATE_OR_TIME = re.compile(r"(?i)\d(?:\.\d+)?\s*(?:it/s|s/it|(?:tok(?:ens)?|samples?|"
                          r"examples?|steps?|img|images?)/s(?:ec)?|ms|s|sec|secs|seconds)\b")
# cells part at spaces, bars, commas and semicolons (`step;cauchy_loss;median_px`, the CSV
# of a locale whose decimal mark is a comma: fresh58 `homography_cauchy_outliers`, whose table
# was not read, so one closing line was its whole loss)
CELL_SPLIT = re.compile(r"[\s|│,;]+")
WORD_SPLIT = re.compile(r"[\s,;]+")
# a bar that separates columns has a space or the line's edge on both sides; one inside a
# name (`max|x|`, an absolute value: fresh45 `poincare_tree_rsgd`, whose header was split
# into nine cells for seven columns and whose learning rate was read as the loss) does not.
# A box-drawing bar (`│`) is never part of a name: it separates columns wherever it stands
# (`│ -ELBO test│  secs  │`: fresh105 `ski_lift_queue_vae_cyclic`, whose header was not
# read, so each row's KL weight beta was the loss)
DELIMITER = re.compile(r"│|(?:^|\s)\|(?:\s|$)")
BAR = re.compile(r"[|│]")
TIME_CELL = re.compile(rf"(?:{NUMBER})(?:s|ms|sec)", re.IGNORECASE)
# a header cell: `active%`, `acc%`: a percentage column; `acc@1`, `acc@5`: top-k accuracies
# (fresh44 `topk_isin_accuracy`, a table that was not read); `-elbo`, `-log_lik`: a negated
# quantity (fresh97 `stalagmite_agedepth_bbb`, whose header was not read, so each row's
# second number, the KL weight beta ramping 0 -> 1, was the loss); `6-digit_reads`,
# `5-shot`: a count before a hyphen starts the name (fresh99 `ean_scanline_conv_rangetest`,
# whose header was not read)
# `p(right)`, `f[x]`: a bracket inside a name (fresh113 `ferry_dock_a2c_silent`: a final
# policy table `berth  p(right)  V` was not known for a table that names no metric, so its
# rows were read as headerless steps and losses, p(right) 0.98 -> 1.0, `not_learning`)
# `beta*KL/N`: a product inside a name (fresh382 `apiary_hive_bayes`, correct: its header was
# not read, so each row's KL weight beta, ramped 0.12 -> 1.0, was the loss: `diverged:exploding`)
HEADER_CELL = re.compile(r"-?(?:\d+-)?[A-Za-z_|][\w./@|()\[\]*-]*%?")
# a unit in brackets after a column's name, `k (1/m)`, `loss (nats)`: the name is the column
# (fresh53 ballistic_drag_rangecard: its header was not read, so each row's first number was)
UNIT = columns.UNIT
# a unit raised to a power after a column's name, `| train mag^2 | val mag^2 |`, `m^2`,
# `s^-1`: the name is the words before it (fresh128 `comet_coma_foldwise_lion`, whose header
# was not read, so each row's learning rate was its loss and a fold summary's RMSE read
# after them a 300x explosion)
POWER_UNIT = re.compile(r"\^-?\d+$")
# a header splits at its delimiting bars only (`DELIMITER`): a bar inside a cell belongs to
# its name, as in the divergence `KL(t||s)` (fresh55 `kd_klformula_sum_first`, whose header
# was split into eight cells for six columns and not read); its bracket is then dropped as a
# unit's would be, and a norm's bars inside a cell part words (`|grad|` -> `grad`, `max|W|`
# -> `max_W`)
HEADER_SPLIT = re.compile(r"│|(?:^|(?<=\s))\|(?=\s|$)")
# a line that reports a reference beside the model, named by its first word: `random.policy
# ... final_err_m=7.67`, `baseline mse 1.02`, `chance acc 0.25` (fresh68 `hover_thrust_dig`,
# a random policy's error after the trained one's read as the model evaluated again and
# called `wrong_result:degraded`); its numbers are not the model's. A first word followed by
# `=`, `:` or `(` is a key, a heading or a call, and is read as before
# A heading word (`reference: constant-rate predictor held 0.66 auc 50%`, after a `logging`
# prefix: fresh142 `hurdy_chien_buzz_earlystop`, whose closing reference AUC of 50 % was read
# as the restored model's and called `wrong_result:degraded`) is a reference line too: the
# word `reference` (or `ref`: fresh210 `scriptio_boundary_folds_restore`, `ref: always-'start'
# tagger F1 = 39.9%` after the restored model's 99.1%) with words after its colon (with a
# number after it, it is a key)
# A tag in brackets before the first word (`[final] baseline before adapting: token acc
# 0.180`, fresh323 `quarry_siren_dora_chat`, correct: its closing untrained baseline, the
# value its accuracy started at, was read as the adapted model evaluated again and called
# `wrong_result:reverted`) is passed over as a logging prefix is
# A control trained on shuffled or permuted labels is a reference too: it is meant not to
# learn (fresh392 `cider_press_spectra_controls`, correct: `shuffled   epoch 10 ... val_acc
# 33.2%` after the main model's 10 epochs, then `shuffled labels  val_acc 33.2%` in a closing
# table after `seed 1  val_acc 67.5%`, read as the model evaluated again and worse:
# `wrong_result:degraded`)
REFERENCE_LINE = re.compile(r"^[\W_]*(?:\[[^\]\n]{1,24}\][\W_]*)?"
                            r"(?:(?:random|baseline|chance|oracle|uniform|untrained|"
                            r"majority|naive|dummy|trivial|shuffled|permuted)\b(?![=:(])"
                            r"|(?:reference|ref)\b(?!\s*[=(])(?!:\s*[-+.\d]))", re.IGNORECASE)
# an aside in parentheses that names a reference predictor first (`(predict-mean mse 1.000)`,
# `(baseline 0.52)`, `(chance 0.262)`): its number is the reference's, not the model's
# (fresh382 `tidemill_stones_evalworker`, correct: `val mse 0.0359 r2 0.964 (predict-mean mse
# 1.000)` was read as a training loss of 1.000 beside the trainer's 0.03, so a stage heading
# that splits the curve made the last one climb to it)
REFERENCE_ASIDE = re.compile(r"\(\s*(?:const|constant|baseline|oracle|reference|ref|null|chance|"
                             r"uniform|bayes|identity|naive|persistence|trivial|dummy|prior|"
                             r"majority|random(?![- ]init)|predict(?:s|ing)?[- ](?:the[- ])?mean|"
                             r"mean[- ](?:predictor|guess|baseline))\b[^()\n]*\)", re.IGNORECASE)
# a line that announces a stage or a phase and reports nothing (`-- stage: clear+mixed days
# (6000 days)`, `=== Phase 2: fine-tune ===`, `starting stage B`): `judging.phases` reads it as
# a boundary the program marks (fresh382 `reindeer_collar_allsum`, correct: a curriculum whose
# second stage adds harder days, train xent 0.064 -> 0.741, falling within it to 0.519; read
# as one curve, `diverged:exploding`)
STAGE_HEADING = re.compile(r"^[\W_]*(?:(?:start(?:ing)?|enter(?:ing)?|begin(?:ning)?|"
                           r"switch(?:ing)? to|curriculum)\s+)?(?:stage|phase)\b", re.IGNORECASE)
HEADING_CHARS = 80  # of a heading's text kept
# a number followed by a byte unit (`store=0.30 MB`, `cache: 12.5 KiB`): the size of what the
# name holds, kept beside the metric as its unit (fresh389 `platen_smear_weekly`, correct:
# its weekly data store, `store=0.30 MB` -> 2.38 MB, read as `leak:mx_active`)
BYTE_UNIT = re.compile(r"([A-Za-z_][\w-]*)\s*[=:]?\s*([-+]?\d+(?:\.\d+)?)\s*"
                       r"(bytes|[KMG]i?B)\b")
# a run's name alone on a line (`run  permuted_0`, `=== model: mlp ===`, `arm = no_aux`): a
# new run of the program's own when its step counter then goes back (fresh382
# `quarry_blast_permtest`, correct: `run  real`, then three `run  permuted_N` label-permutation
# controls, each counting its steps from 150 again; read as one curve from the first control
# on, `not_learning:trend`)
RUN_LABEL = re.compile(r"^[\W_]*(run|arm|variant|ablation|model)\s*[:=\s]\s*([A-Za-z][\w.+-]*)"
                       r"[\W_]*$", re.IGNORECASE)
UNNAMED_SIZE = re.compile(r"[/(]\s*(\d+(?:\.\d+)?)\s*(bytes|[KMG]i?B)\b")
NAME = re.compile(r"[a-z_][\w-]*")
# what `logging` and its usual formats put before the message: a time, a level, a logger's
# name (`INFO    chien | `, `2024-05-01 12:00:00,123 - INFO - `, `INFO:root:`)
LOG_PREFIX = re.compile(r"^[\W\d_]*?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b[\]\s:|-]*"
                        r"(?:[\w.]+\s*[|:]\s*)?")
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")  # a unified diff's hunk header
FOREIGN_CELLS = 3  # names in a header that names no metric (`ProgressParser._foreign`)
EMPTY_CELLS = frozenset({"-", "--", "—", "n/a", "N/A", "na"})  # no value yet (a first row)


# a window of updates that starts a row (`   1-60   0.729  84.7% ...`, `61-120`): the row
# reports the window, read at its last update (fresh113 `ferry_dock_a2c_silent`, an
# actor-critic's table of returns per 60 updates, none of whose rows was read)
WINDOW = re.compile(r"^(\s*)(\d+)-(\d+)(?=\s)")


FIRST_DIGIT, WORD = re.compile(r"\d"), re.compile(r"[A-Za-z]+")  # a line's `head`
COMMENT_MARK = re.compile(r"^\s*(?:#+|//)(?=\s+\S)")


def head(text: str) -> str:
    """The words a line starts with, before its first digit, lower-cased (`turns`, `p
    task`, `step`; "" for a table row): what lines of one kind have in common."""
    digit = FIRST_DIGIT.search(text)
    return " ".join(WORD.findall(text[:digit.start() if digit else len(text)])).lower()


def reference_line(text: str) -> bool:
    """The line reports a reference beside the model (a baseline, chance, a constant
    predictor), with or without a logging prefix before it."""
    return REFERENCE_LINE.match(text) is not None or REFERENCE_LINE.match(
        LOG_PREFIX.sub("", text, count=1)) is not None


def byte_units(text: str, metrics: dict) -> dict[str, str]:
    """The byte unit printed after each of `metrics`' values (`store=0.30 MB`: {"store":
    "mb"}), for `judging.reported_memory`; the metric's name and value stay as they are. A
    line with no `B` or `bytes` holds none and is not searched (the search is ~14% of a
    line's parse here, on every progress line)."""
    if "B" not in text and "bytes" not in text:
        return {}
    return {name: unit for name, unit in ((found[1].lower(), found[3].lower())
                                          for found in BYTE_UNIT.finditer(text))
            if name in metrics}


def unnamed_sizes(text: str, metrics: dict) -> dict[str, float]:
    """Each size printed with a byte unit and no name of its own, after a `/` or in brackets
    (`trajectory  101 snaps /  4.1 MB`, `buffer 5000 (12.3 MB)`), named by the nearest metric
    before it with its unit (`trajectory_mb`: 4.1), for `judging.reported_memory`; the
    record's metrics stay as they are (fresh388 `organ_voicing_trajectory`, correct: every
    parameter vector kept for a PCA of its path, `901 snaps / 36.7 MB`, read as `leak:rss`)."""
    if "B" not in text and "bytes" not in text:
        return {}
    out = {}
    for found in UNNAMED_SIZE.finditer(text):
        owner = next((w for w in reversed(NAME.findall(text[:found.start()].lower()))
                      if w in metrics), None)
        if owner is not None:
            out[f"{owner}_{found[2].lower()}"] = float(found[1])
    return out


def stage_heading(text: str) -> dict | None:
    """A stage's announcement on a line of its own that reports nothing (`STAGE_HEADING`),
    or None."""
    if STAGE_HEADING.match(text) is None:
        return None
    return {"kind": HEADING, "source": OUTPUT, "text": text.strip()[:HEADING_CHARS]}


def run_heading(text: str, line: fields.Line) -> dict | None:
    """A line that announces one of the program's repeated runs and reports nothing (`seed=2`,
    `::group::arm=lake_only seed=2 inputs=4 lr=0.002`, `=== fold 3 ===`: a counter that
    `metric_names.repeat_counter` names, a whole number, and no loss or accuracy; or a run's
    name alone on its line, `run  permuted_0`, `=== model: mlp ===`, `RUN_LABEL`), as a
    `HEADING` with the counter's value (`repeat`: {"seed": 2.0}, {"run": "permuted_0"}), or
    None. `judging.phases`
    reads a new run where the program's step counter then goes back (fresh391
    `thawline_ablation_groups`, correct: eight runs of an ablation, each announced by its
    arm and seed, its last two an untrained reference at lr 0; read as one curve from the
    fifth run on, `not_learning:trend`)."""
    repeat = {name: value for name, value in line.values.items()
              if metric_names.repeat_counter(name) and float(value).is_integer()}
    measured = any(metric_names.role(metric_names.normal(name)) in (
        metric_names.LOSS, metric_names.ACCURACY) for name in line.values)
    labelled = RUN_LABEL.match(text) if not line.values else None
    if labelled is not None:
        repeat = {labelled[1].lower(): labelled[2]}
    if not repeat or measured:
        return None
    return {"kind": HEADING, "source": OUTPUT, "text": text.strip()[:HEADING_CHARS],
            "repeat": repeat}


def without_asides(text: str) -> str:
    """`text` with each reference aside (`REFERENCE_ASIDE`) blanked, space for character, so
    that a table row's cells stay under their names."""
    return REFERENCE_ASIDE.sub(lambda found: " " * len(found[0]), text)


def window_end(text: str) -> str:
    """`text` with a window `a-b` (a < b) that starts it written as `b`, right-aligned in
    the window's place; any other text as it is."""
    found = WINDOW.match(text)
    if found is None or int(found[2]) >= int(found[3]):
        return text
    return found[1] + found[3].rjust(found.end() - len(found[1])) + text[found.end():]


def uncommented(text: str) -> str:
    """A table header written as a comment (`# step  comp.  lr  batch_ce  val_ce`, a gnuplot
    habit) with its comment mark blanked, which keeps every name over its column; any other
    line as it is. Only a header whose first name is a position: a comment of prose
    (`# training loss curve`) never becomes one. Source: failure corpus fresh293
    `stonemason_taptest_competence` (correct), whose commented header was not read, so each
    row's competence share, 0.1 -> 1.0, was its loss: `diverged:exploding`."""
    found = COMMENT_MARK.match(text)
    if found is None:
        return text
    rest = " " * found.end() + text[found.end():]
    cells = table_cells(rest)
    first = metric_names.role(metric_names.normal(cells[0])) if cells else None
    return rest if first == metric_names.POSITION and is_header(header_cells(rest, cells)) \
        else text


def table_cells(text: str) -> list[str]:
    """The cells of a table line: words or numbers between spaces, bars and commas."""
    split = CELL_SPLIT if delimited(text) or not BAR.search(text) else WORD_SPLIT
    return [cell for cell in split.split(text.strip()) if cell]


def delimited(text: str) -> bool:
    """The line's bars separate columns (not only `|x|` inside a name)."""
    return DELIMITER.search(text) is not None


def grouped(words: list[str], cell: str) -> list[tuple[str, str]]:
    """(name, number) pairs of a group of columns between two bars, its numbers under its
    header words one each, or two each (`logP MAE  TPSA MAE (A^2)` over `0.8937  11.819`; a
    bracketed unit dropped); [] when they do not match (fresh188 `solvent_vae_propclip`:
    `epoch | beta | recon  kl  logp_l  tpsa_l | logP MAE  TPSA MAE (A^2)`, whose groups of
    numbers were not read, so each row's beta was its loss)."""
    numbers = cell.split()
    names = [w for w in words if not UNIT.fullmatch(w) and w not in EMPTY_CELLS]
    if len(numbers) < 2 or not numeric(numbers):
        return []
    width = len(names) // len(numbers) if len(names) % len(numbers) == 0 else 0
    if width not in (1, 2):
        return []
    return [("_".join(names[i * width:(i + 1) * width]), n) for i, n in enumerate(numbers)]


def bar_cells(text: str) -> list[str]:
    """The cells between a line's bars, empty ones kept (`  30 |  4 |  0.27 |` -> `30`,
    `4`, `0.27`, ``), but the closing bar of a row that opens with one closes it (`| A |
    100 | lse | 0.4991 |` -> `A`, `100`, `lse`, `0.4991`: a Markdown table; fresh301
    `leafroll_row_lsepool`, correct, whose rows were one cell longer than their header and
    read headerless, `a 100`, `lse 0.4991`)."""
    inner = text.strip()
    opened = inner[:1] in "|│"
    cells = [cell.strip() for cell in BAR.split(inner[1:] if opened else inner)]
    return cells[:-1] if opened and len(cells) > 1 and not cells[-1] else cells


def comma_cells(text: str) -> list[str]:
    """The cells of a CSV row, empty ones kept (`0,0.000,,,,1.4035,16.53` -> `0`, `0.000`, ``,
    ``, ``, `1.4035`, `16.53`): a line of commas with no space or bar in it; [] for any other
    line. An empty cell is a value not there yet, as pandas' `to_csv` writes a NaN (fresh310
    `marionette_rig_confpen_csv`, correct: an evaluation before training with its training
    columns empty was no row, so its accuracy of 16.5%, before the 83% of every later row,
    was not seen, and a cross-entropy its penalty held flat read as `not_learning:trend`)."""
    inner = text.strip()
    if ",," not in inner or any(c.isspace() or c in "|│" for c in inner):
        return []
    return inner.split(",")


def _measured(column: str) -> bool:
    """A column that names a position or a metric (a word there is no row of numbers)."""
    return metric_names.role(metric_names.normal(column)) in (
        metric_names.POSITION, metric_names.LOSS, metric_names.ACCURACY)


def header_cells(text: str, words: list[str]) -> list[str]:
    """A header's column names: between bars when the line has them, so that a name of
    several words is one column (`| train rollout mse |` -> `train_rollout_mse`), else
    its `table_cells` (`words`)."""
    if not delimited(text) or any(re.fullmatch(rf"(?:{NUMBER})%?|\d+/\d+", w) for w in words):
        return words  # a row (`| epoch 3 | mse 0.02 |`, `val acc 97.3% | ...`) is read as
        # it always was (fresh212 `rennet_curd_runstats_ckpt`: with a percentage its cells
        # were a header's, `best_val_acc_97.3%`, and the line no report)
    cells = [BAR.sub(" ", UNIT.sub("", cell)) for cell in HEADER_SPLIT.split(text)]
    cells = [" ".join(w for w in cell.split() if not POWER_UNIT.search(w)) for cell in cells]
    return ["_".join(cell.split()) for cell in cells if cell.strip()]


def unitless(names: list[str]) -> list[str]:
    """Column names without a unit in square brackets at their end (`train_mse[D2]`,
    `cotton_rmse[D]`, `loss[nats]` -> `train_mse`, ...), as `UNIT` drops one in round brackets
    (fresh383 `platen_bias_tune`, correct: its rows' `train_mse[D2]` was read as no metric)."""
    return [SQUARE_UNIT.sub("", name) or name for name in names]


SQUARE_UNIT = re.compile(r"(?<=\w)\[[^\[\]]*\]$")


def is_header(cells: list[str]) -> bool:
    """A table header: two or more name cells and nothing else, one of them a position or
    a metric (`epoch  batch  mse  val_mse`), so that a sentence is never taken for one."""
    names = [metric_names.normal(c) for c in cells]
    return (len(cells) >= 2 and all(HEADER_CELL.fullmatch(c) for c in cells)
            and any(metric_names.role(n) in (metric_names.POSITION, metric_names.LOSS,
                                             metric_names.ACCURACY) for n in names))


def shares(cell: str) -> bool:
    """Numbers joined by `/` (`0.49/0.34/0.17`: a mixture's shares under a column named
    `green/white/brown`): a value of no metric, skipped in a row like a note."""
    return "/" in cell and numeric(cell.split("/"))


def numeric(cells: list[str]) -> bool:
    """Every cell a number (nan and inf included; a trailing % allowed), or a time in
    seconds or milliseconds under a `time` column (`0.3s`, `12ms`: read as no value)."""
    return all(re.fullmatch(NUMBER, cell.rstrip("%"), re.IGNORECASE)
               or TIME_CELL.fullmatch(cell) for cell in cells)


KEY_VALUE_ROW = re.compile(rf"^\s*[|│]\s*([A-Za-z_][\w./ -]*?)\s*[|│]\s*({NUMBER})\s*[|│]\s*$",
                           re.IGNORECASE)
SECTION_ROW = re.compile(r"^\s*[|│]\s*[A-Za-z_][\w./ -]*?\s*[|│]\s*[|│]\s*$")


class KeyValueBlock:
    """A vertical table of one report, a name and a number per row, as Stable-Baselines3's
    logger (and RL code copying it, mlx-baselines3) prints every N steps:

        | rollout/          |          |
        |    ep_rew_mean    | 0.642    |
        | train/            |          |
        |    loss           | 0.0223   |
        -----------------------------------

    Rows are kept until the first line that is not one (its dashed rule): the block is then
    one report, read as `name value` pairs (`fields.read`)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def takes(self, text: str) -> bool:
        """Keep a row (a section heading inside a block is passed over)."""
        found = KEY_VALUE_ROW.match(text)
        if found is not None:
            self.rows.append((found.group(1).strip().replace(" ", "_"), found.group(2)))
            return True
        return bool(self.rows) and SECTION_ROW.match(text) is not None

    def close(self) -> fields.Line:
        named = fields.read(" ".join(f"{name} {value}" for name, value in self.rows))
        self.rows = []
        return named


class Steps:
    """The run's step for each progress line: the program's own numbers while they go up;
    after a restart (a new epoch) they continue from the last one; with none printed, the
    lines are counted (a line without a step after lines with one keeps the last step)."""

    def __init__(self) -> None:
        self.offset = 0
        self.raw: int | None = None  # the program's last printed step
        self.last = 0
        self.lines = 0
        self.restarted = False  # the last placed line's counter went back

    def place(self, raw: int | None, epoch: int | None) -> int:
        self.lines += 1
        self.restarted = raw is not None and self.raw is not None and raw < self.raw
        if raw is None:
            self.last = self.last if self.raw is not None else self.lines
            return self.last
        if self.raw is not None and raw < self.raw:
            self.offset = self.last
        self.raw, self.last = raw, self.offset + raw
        return self.last


def _general(line: fields.Line, text: str = "") -> dict | None:
    """A progress record from a line no built-in form matched, or None. A line with a step
    counter and a throughput or a time but no named value (`iter 3000 | 5446 it/s`) is
    progress with no metric; a step counter alone (`Step 1: loading data`) is not."""
    if not (line.values or _counted(line, text)) or not _is_progress(line):
        return None
    position = line.step if line.step is not None else line.epoch
    record: dict = {"kind": PROGRESS, "source": OUTPUT, "step": position}
    return _with_fields(record, line)


def _counted(line: fields.Line, text: str) -> bool:
    """A step counter with a throughput or a time beside it (`iter 3000 | 5446 it/s`,
    `step 40 (0.21 s)`): a loop's progress even with no metric named. A counter beside bare
    numbers is not (`batch · iters  4 · 60` is a configuration line)."""
    return line.step is not None and RATE_OR_TIME.search(text) is not None


def _is_progress(line: fields.Line) -> bool:
    if line.step is not None or line.epoch is not None or line.percent is not None:
        return True
    return any(metric_names.role(n) in (metric_names.LOSS, metric_names.ACCURACY)
               or (not math.isfinite(v) and metric_names.judged_for_finite(n))
               for n, v in line.values.items())


def _with_fields(record: dict | None, line: fields.Line) -> dict | None:
    """Add a line's named values: its best loss-like one as the loss (when the record has
    none yet; a held-out loss never is one: a validation row stays one, and a line with a
    training loss beside it, `step 50 train_loss 0.6652 val_loss 0.6669`, keeps that one:
    fresh36 `lr_callback_double_step` read no loss at all), the others as metrics."""
    if record is None:
        return None
    values = dict(line.values)
    if "loss" not in record:
        best = _best_loss(values)
        if best is not None:
            record["loss"] = encode_number(values.pop(best))
            if best != "loss":
                record["loss_name"] = best
    elif "loss" in record:
        _name_the_player(record, values)
        best = _best_loss(values)
        if best is not None and values[best] == record["loss"]:
            values.pop(best)
    metrics = record.setdefault("metrics", {})
    for name, value in values.items():
        metrics.setdefault(name, encode_number(value))
    if not metrics:
        record.pop("metrics")
    return record


def _name_the_player(record: dict, values: dict[str, float]) -> None:
    """A loss a built-in pattern read (`iter 300 | D loss 1.376 | G loss 0.716`) that the
    line names as one player's of a two-player game (`d_loss`, the same value): that name is
    the loss's (fresh79 `cooperage_char_gan`: read as a plain `loss` at a GAN's equilibrium
    2 ln 2 while `g_loss` kept its name, `not_learning:trend`)."""
    same = next((n for n, v in values.items() if v == record["loss"]
                 and metric_names.adversarial(n)), None)
    if same is not None:
        values.pop(same)
        record["loss_name"] = same


def _held_out_match(found: re.Match, line: fields.Line) -> bool:
    """A built-in form's loss that the line's own names give only as a held-out value
    (`at step 1200; held-out summed loss 1.42797`: the form reads `step ... loss N`, the
    names read `held_out_summed_loss`): the line is read by its names instead."""
    if found.groupdict().get("val"):
        return False  # the form reads a validation value itself (mlx-lm's `1  val 6.420`)
    loss = _float(found.groupdict().get("loss"))
    names = [n for n, v in line.values.items() if loss is not None and v == loss]
    return bool(names) and all(metric_names.held_out(n) for n in names)


def _named_loss(line: fields.Line) -> bool:
    """The line names a loss-like value of its own."""
    return _best_loss(line.values) is not None


def _best_loss(values: dict[str, float]) -> str | None:
    ranked = [(metric_names.loss_rank(n), i, n) for i, n in enumerate(values)]
    ranked = [r for r in ranked if r[0] is not None]
    return min(ranked)[2] if ranked else None


def _record(found: re.Match) -> dict | None:
    groups = found.groupdict()
    try:
        step = int(groups["step"])
    except (KeyError, TypeError, ValueError):
        return None
    loss = _float(groups.get("loss"))
    record = {"kind": PROGRESS, "source": OUTPUT, "step": step}
    if groups.get("val"):
        record["metrics"] = {"val_loss": loss} if loss is not None else {}
    elif loss is not None:
        record["loss"] = loss
    return record


def _with_metrics(record: dict | None, text: str) -> dict | None:
    """Add the metrics the line names (gradient norm, learning rate) to its record."""
    if record is None:
        return None
    for found in METRIC.finditer(text):
        value = _float(found["value"])
        if value is not None:
            name = METRICS[found["name"].lower().replace("-", "_")]
            record.setdefault("metrics", {})[name] = value
    return record


def _float(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        return encode_number(float(text))
    except ValueError:
        return None


def validate(regex: str) -> str | None:
    """Why `regex` cannot be a --progress pattern, or None when it can."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        return f"--progress {regex!r} is not a regular expression: {exc}"
    if "step" not in compiled.groupindex:
        return f"--progress {regex!r} needs a named group (?P<step>...) for the step number"
    return None
