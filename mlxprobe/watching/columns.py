"""Column names of a fixed-width table whose header words do not split into its columns.

Job: a header such as `  upd  episodes  batch mse mse(avg50) rmse vs DP  max err    sec`
names seven columns in eleven words: its names hold spaces and brackets, so splitting it at
spaces gives more names than a row has numbers, and the header is not read. Its rows are
printed aligned under it (printf widths): each number ends where its column's name ends
(right-aligned, the usual for numbers) or starts where it starts. `aligned` finds the names
from that alignment: the header text over each row cell's span, words joined by `_`, a
bracket dropped as a unit's would be (`mse(avg50)` -> `mse`). Source: failure corpus fresh56
`blackjack_mc_value_ledger` (a correct run): the header above was not read, and the table-row
pattern took each row's second number, the episodes played (256 to 384,000), as the loss:
`diverged:exploding`.

Written by hand: no library reads a fixed-width table from one header and one row.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import re

from .. import metric_names
from . import fields

MEASURES = (metric_names.LOSS, metric_names.ACCURACY)

CELL = re.compile(r"\S+")
# `6-digit`, `5-shot`: a name may start with a count and a hyphen;
# `-elbo`: a negated quantity (fresh113 `glacier_hydrograph_vae_anneal`, whose header
# `step beta objective recon nll kl test -elbo secs` was not read, so beta was the loss)
# `|g|`: a norm written with bars (fresh113 `ferry_dock_a2c_silent`)
# `mse(%^2)`, `mm^2`: a unit raised to a power (fresh128 `sailloft_creep_clipvjp_lion`, whose
# header `step  lr  mse(%^2)  huber  val rmse %  naive %` was not read, so each row's
# learning rate was its loss, and the schedule repeated at each warm restart read as a
# replayed curve: `wrong_result:replayed`)
NAME_WORD = re.compile(r"-?(?:\d+-)?[A-Za-z_(\[|][\w()\[\]./@%|^*-]*:?")
UNIT_WORDS = frozenset({"%"})
# a bar standing alone between groups of columns, in a header and its rows alike (fresh188
# `solvent_vae_propclip`: `epoch | beta | recon kl logp_l tpsa_l | logP MAE  TPSA MAE (A^2)`
# was not read, so each row's beta, 0.0 -> 0.5, was its loss: `diverged:exploding`); it
# becomes a space, which keeps every cell where it was
BAR = "|"
LONE_BAR = re.compile(r"(?<!\S)\|(?!\S)")  # a unit standing alone after a name: `ferry %`
NUMBER_WORD = re.compile(rf"(?:{fields.NUMBER}|[-+]?(?:nan|inf))%?", re.IGNORECASE)
UNIT = re.compile(r"\s*\([^()]*\)")
LETTER = re.compile(r"[A-Za-z]")


def header_like(text: str) -> bool:
    """Three or more words, every one a name with a letter in it (no number, bracketed or
    not, nan or inf: `Step [0]  Training Loss [3.81]`, `final mse: nan` are progress
    lines): a table header that may hold names of several words. A bar standing alone
    separates groups of columns (`epoch | beta | recon  kl | logP MAE  TPSA MAE`)."""
    words = [w for w in text.split() if w not in UNIT_WORDS and w != BAR]
    return len(words) >= 3 and all(NAME_WORD.fullmatch(w) and LETTER.search(w)
                                   and not NUMBER_WORD.fullmatch(w) for w in words)


def beneath(header: str, line: str) -> bool:
    """A line of fewer words than the header, each ending where a header word ends or
    starting where one starts: a row of units or second words under the header's names
    (`img  dB  dB  img/s  ms  MB/s` under `phase step batch lr mse test PSNR gain rate step
    time pixels`: fresh389 `microfilm_grain_ramp`, correct, whose units row was taken for
    the header, so no row below it was read and its memory's saw-tooth was not seen to follow
    its three batch-size phases: `leak:rss`)."""
    head, below = (t.expandtabs().rstrip() for t in (header, line))
    spans = [m.span() for m in CELL.finditer(below)]
    return 0 < len(spans) < len(head.split()) and all(
        _word_ends(head, b) or _word_starts(head, a) for a, b in spans)


def aligned(header: str, row: str) -> list[str] | None:
    """The column names the row's cells stand under (right-aligned, else left-aligned), or
    None when some cell is not a number or the header does not line up with the cells."""
    head, line = (LONE_BAR.sub(" ", t.expandtabs().rstrip()) for t in (header, row))
    spans = [m.span() for m in CELL.finditer(line)]
    if len(spans) < 2 or not all(NUMBER_WORD.fullmatch(line[a:b]) for a, b in spans):
        return None
    ends = [_centred_end(head, a, b) for a, b in spans]
    words = _by_ends(head, ends) or _by_starts(head, [a for a, _ in spans])
    if not words or not all(words) or any(map(_two_measures, words)):
        return None
    return ["_".join(cell) for cell in words]


def lines_up(header: str, row: str) -> bool:
    """The row's cells stand under the header's columns as `aligned` places numbers, a word
    in a cell counted as a value of its width (`silent` under `ERLE dB`: a row of the table
    with a value not measured)."""
    return aligned(header, CELL.sub(_as_value, row)) is not None


def _as_value(cell: re.Match) -> str:
    return cell.group() if NUMBER_WORD.fullmatch(cell.group()) else "0" * len(cell.group())


def _two_measures(words: list[str]) -> bool:
    """A column's header words of which two or more each name a metric span two columns,
    not one: `train_ce  val_ce` over fresh82 `ropeway_sway_allsum_earlystop`'s epoch-0 row,
    its train_ce blank, was read as one column `train_ce_val_ce`. A position qualifies a
    metric (`batch mse` is one column), and so does a qualifier before the last word (`recon
    nll`: fresh113 `glacier_hydrograph_vae_anneal`, whose header was not read)."""
    named = [w for i, w in enumerate(words)
             if i == len(words) - 1 or w.lower() not in fields.QUALIFIERS]
    return sum(metric_names.role(metric_names.normal(w)) in MEASURES for w in named) >= 2


def _centred_end(head: str, start: int, end: int) -> int:
    """Where a cell ends for alignment: the end of the header word whose span holds the whole
    cell (a cell centred under its name: `updates` over `60`, a window `1-60` read at its
    end), else its own end."""
    for word in CELL.finditer(head):
        if word.start() <= start and end <= word.end():
            return word.end()
    return end


def _by_ends(head: str, ends: list[int]) -> list[list[str]] | None:
    """Names when every cell ends where a header word ends, and no word is left over."""
    if ends[-1] != len(head) or any(not _word_ends(head, e) for e in ends):
        return None
    return _names(head, [0, *ends])


def _by_starts(head: str, starts: list[int]) -> list[list[str]] | None:
    """Names when every cell starts where a header word starts, and no word comes first."""
    if head[:starts[0]].strip() or any(not _word_starts(head, s) for s in starts):
        return None
    return _names(head, [*starts, len(head)])


def _word_ends(head: str, at: int) -> bool:
    return 0 < at <= len(head) and head[at - 1] != " " and (at == len(head) or head[at] == " ")


def _word_starts(head: str, at: int) -> bool:
    return at < len(head) and head[at] != " " and (at == 0 or head[at - 1] == " ")


def _names(head: str, cuts: list[int]) -> list[list[str]]:
    """The header's words over each span between `cuts`, a unit in brackets dropped."""
    return [UNIT.sub("", head[a:b]).split() for a, b in zip(cuts, cuts[1:])]
