"""Rule units on parameter movement: the looks the bootstrap takes after the program's evals.

Job: each `params` record (`inside/params.py`) says which parameter groups (module paths)
were compared with the previous look, which did not change at all, and which hold a
non-finite value. From the run of looks:
- `frozen_all`: no_update when no compared group changed in any of at least MIN_LOOKS
  comparisons spanning at least MIN_STEPS steps (the optimizer ran, nothing moved: a zero
  learning rate, a gradient that never reaches the parameters, updates applied to a copy,
  steps smaller than the dtype's resolution); a group whose values all changed by one
  common factor below 1 counts as unchanged: weight decay alone shrank it, with a zero
  gradient (fresh172 `scratchgpt_outside_logits`, LLMs-from-scratch-mlx 1b7001e: the forward
  pass run before `nn.value_and_grad`, so every gradient was 0 and AdamW's decay moved every
  parameter by the same 0.2% per look; loss 3.358 -> 3.348, at chance).
- `frozen_part`: no_update naming the groups that never changed in any comparison while
  other groups did (part of the model never trains while the rest does); a run too short
  for MIN_LOOKS is judged as `frozen_all` judges one, over MIN_UPDATES updates, with the
  other groups changing at each of its comparisons. It comes after the leak rules (a part
  may be fixed on purpose; memory that climbs ends the run whatever was meant). As in
  `frozen_all`, a group that changed at every look only by one common shrink counts as never
  changed (fresh238 `quarry_hoist_blocklm`, cppmega_mlx 966611d: each decoder block under
  `mx.checkpoint(layer)` got a zero gradient, so AdamW's decay alone moved its 12 groups at
  each of 15 looks while the embedding and head trained; loss 2.54 -> 1.01). It stands down
  on parameters a design leaves unread: the top layer of a stack read below it
  (`unused_tail`), the key and value projections of layers that share another's
  (`shared_kv`), a sublayer of a stack's top layer whose namesake below it trained
  (`top_sublayer`: the last N-BEATS block's backcast), and leaves out groups still by
  design (`set_aside`): vectors all zero at every look (a buffer only a selection reads) and
  groups that moved at an earlier look (a part a finished stage trained).
- `stuck_weights`: no_update naming the float32 weight matrices that never changed in any
  comparison while a bias or norm of their own module did: the gradient reaches the module's
  output but not its weight (an op of zero gradient on its path: `mx.round`, `mx.floor`,
  `mx.sign`; a `stop_gradient`; inputs that are all zero). bfloat16/float16 weights are left
  out: a step below their resolution leaves them unchanged while a bias near 0 moves.
- `non_finite`: diverged when a look found a non-finite parameter.
Both no_update rules stand down when any look saw a non-finite value (nan stays nan: a
diverged model looks "unchanged").

Thresholds and why: MIN_LOOKS = 3 comparisons (looks are at least 0.25 s apart, so a run
is watched for >= 0.75 s of evaluated steps) and MIN_STEPS = 5 steps between the first and
the last compared look: a learning-rate warm-up from 0 or a long validation pass moves
nothing for a while, never for a whole run. A run too short for three looks is judged by
`frozen_all` when its comparisons span MIN_UPDATES = 100 optimizer updates from its first
look (taken after the program's first update) on: failure corpus fresh18
`grpo_stale_logprobs_no_grad`, 0.5 s, one comparison across 271 updates, no group moved;
over 536 dumped corpus runs (20 halves), a clean run's comparison saw nothing move only
after earlier looks had (a hinge loss at 0, training done). Values are compared bit for bit
on a strided sample of 32 per parameter: any update an optimizer applies changes them.

The fix of a model that never moved is led by a loss exactly 0 at every one of >=
ZERO_LOSS_REPORTS = 5 reports (fewer than the 10 a verdict from the loss alone needs: here
the parameters decide, the loss only names the cause): fresh36
`response_marker_template_mismatch`, 7 reports of 0.0, a response marker the chat template
never emits, so every label was -100.

`frozen_weights` stands down on a deliberate last stage: an earlier census trained the
weight matrices and the last loss curve fell to STAGE_FELL = 0.5 of its first report or below
(the trend rules' own "fell by half", `verdict.SETTLED_SHARE`), or, below 0 throughout (a
Gaussian NLL), by half its first's size: a temperature or the biases fitted after training;
unless the program's own last count of the parameters it trains is 0 (`stated_count`: its
adapters attached to nothing; fresh277 `weir_sluice_drafter`, 7.66 -> 3.04 through norm gains).
A run that reports no training loss is judged by its error measures (`lower_is_better`)
reported since the last look that saw the matrices train (fresh282 `indigo_vat_vera_vectors`:
VeRA vectors, test MSE 0.17456 -> 0.00633).
It stands down too on a last stage that picks up where training left off (`_continued`: a
lower-is-better measure reported before the last look that saw matrices train and after the
census that found them frozen, none of its reports across the change above CONTINUES = 2x the
one before): fresh292 `teaestate_flush_ordinal_half` (cut-points refit on a frozen trunk, nll
0.92 -> 0.94) and fresh301 `leafroll_row_lsepool` (a pool's sharpness, val_bce 0.51 -> 0.50),
both correct; the staged unfreezes that missed start a new task at its untrained level
(fresh10 `b10_unfreeze_submodule_key`: 0.0993 -> 1.4731, 15x; fresh13: 0.0007 -> 1.62).
Measured: fresh93 `quasar_tempscale_reliability` 0.786 -> 0.256, fresh260
`hivescale_nectarflow_bitfit` -0.146 -> -0.468; the three kept runs whose unfreeze missed
after a first stage: 1.47 -> 1.33, 0.047 -> 0.032 and flat.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..protocol import PARAMS, PROGRESS, decode_number
from ..watching.facts import RawResult
from . import anatomy, hints, metrics, phases, policy, program, readings, stalls, stated_count
from .rule import Rule, Verdict
from .skipped import nonfinite_seen
from .stats import finite_head

MIN_LOOKS = 3
ZERO_LOSS_REPORTS = 5
MIN_STEPS = 5
MIN_UPDATES = 100
STAGE_FELL = 0.5
CONTINUES = 2.0
LAYER_GROUPS = 4


def looks(raw: RawResult) -> list[dict]:
    """The looks that compared at least one group with a previous look."""
    return [r for r in raw.of_kind(PARAMS) if r.get("compared")]


def judged(raw: RawResult) -> list[dict] | None:
    """The comparisons, when there are enough of them over enough steps, and none of the
    looks saw a non-finite value; else None."""
    compared = looks(raw)
    if len(compared) < MIN_LOOKS or nonfinite_seen(raw):
        return None
    span = int(compared[-1].get("step", 0)) - int(compared[0].get("step", 0))
    return compared if span >= MIN_STEPS else None


def whole_run(raw: RawResult) -> list[dict] | None:
    """Fewer comparisons than MIN_LOOKS that together span MIN_UPDATES optimizer updates from
    the first look on, no look having seen a non-finite value; else None."""
    compared = looks(raw)
    if not compared or nonfinite_seen(raw):
        return None
    return compared if updates_spanned(raw, compared) >= MIN_UPDATES else None


def updates_spanned(raw: RawResult, compared: list[dict]) -> int:
    """Optimizer updates from the first look to the last compared one."""
    first = raw.of_kind(PARAMS)[0]
    return int(compared[-1].get("updates") or 0) - int(first.get("updates") or 0)


def _short_run(raw: RawResult, compared: list[dict]) -> dict:
    """What a run too short for MIN_LOOKS was judged on: from its first look, the updates."""
    return {"first_step": raw.of_kind(PARAMS)[0].get("step"), "min_updates": MIN_UPDATES,
            "updates": updates_spanned(raw, compared)}


def _evidence(compared: list[dict]) -> dict:
    return {"looks": len(compared), "first_step": compared[0].get("step"),
            "last_step": compared[-1].get("step"), "groups": compared[-1].get("compared"),
            "min_looks": MIN_LOOKS, "min_steps": MIN_STEPS,
            "look_cost_us_median": sorted(r.get("cost_us", 0) for r in compared)[
                len(compared) // 2]}


def frozen_all(raw: RawResult, meta: dict) -> Verdict | None:
    compared = judged(raw)
    short = compared is None and (compared := whole_run(raw)) is not None
    if compared is None or any(moved(r) for r in compared):
        return None
    ev = _evidence(compared) | (_short_run(raw, compared) if short else {})
    shrunk = max((len(r.get("shrunk") or []) for r in compared), default=0)
    decay = f"; {shrunk} of them changed only by one common shrink of their values, weight " \
        "decay with a zero gradient" if shrunk else ""
    return Verdict("no_update", "params", f"no trainable parameter changed in {ev['looks']} "
                   f"look{'s' * (ev['looks'] != 1)} from step {ev['first_step']} to "
                   f"{ev['last_step']} "
                   f"({ev['groups']} parameter groups compared bit for bit{decay})",
                   (hints.DECAY_ONLY if shrunk else "") + _frozen_hint(raw),
                   ev | {"shrunk_groups": shrunk})


def moved(look: dict) -> bool:
    """A group changed at this look other than by one common shrink (weight decay alone,
    `inside/params.SHRINK_SPREAD`); a look recorded before that was told counts changes."""
    return bool(look.get("moved", look.get("changed")))


def _frozen_hint(raw: RawResult) -> str:
    """Led by adapters that train and never moved (`anatomy`) and by a compiled step that
    may hold the optimizer's state as traced; then a policy-gradient run's, a zero loss's or
    the plain fix."""
    return (anatomy.idle_adapters_note(raw) + program.at_sites(raw, hints.COMPILED_FROZEN)
            + (policy.frozen_hint(metrics.series(raw)) or _zero_loss(raw)
               or hints.NO_UPDATE_PARAMS))


def _zero_loss(raw: RawResult) -> str | None:
    """A loss exactly 0 at every one of >= ZERO_LOSS_REPORTS reports leads the fix
    (`stalls.zero_loss`)."""
    finite = [v for v in program.losses(raw) if math.isfinite(v)]
    hint = stalls.zero_loss(finite, ZERO_LOSS_REPORTS)
    return hint + " " + hints.NO_UPDATE_PARAMS if hint else None


def settled(compared: list[dict]) -> list[dict]:
    """The looks that compared as many groups as the last one: before the program's models
    are all known (a second model, a module seen updating itself first), a look compares
    another set of groups, and a group it did not compare is in no list of it."""
    last = compared[-1].get("compared")
    return [r for r in compared if r.get("compared") == last]


def _always(compared: list[dict], keys: tuple[str, ...], short: bool = False) -> list[str]:
    """The names listed under one of `keys` in every one of the settled looks (at least
    MIN_LOOKS of them over at least MIN_STEPS steps, or for a run too short for that, `short`,
    every comparison it has; else none)."""
    compared = settled(compared)
    span = int(compared[-1].get("step", 0)) - int(compared[0].get("step", 0))
    if not short and (len(compared) < MIN_LOOKS or span < MIN_STEPS):
        return []
    names = _listed(compared[0], keys)
    for record in compared[1:]:
        names &= _listed(record, keys)
    return sorted(names)


def _listed(look: dict, keys: tuple[str, ...]) -> set[str]:
    return {name for key in keys for name in look.get(key) or []}


def _shown(names: list[str]) -> str:
    """At most six names, then how many more."""
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def frozen_part(raw: RawResult, meta: dict) -> Verdict | None:
    compared = judged(raw)
    short = compared is None and (compared := whole_run(raw)) is not None
    if compared is None or not _others_moved(compared, short):
        return None
    held = set_aside(compared, short)
    names = [n for n in _always(compared, ("unchanged", "shrunk"), short) if n not in held]
    if not names or unused_tail(names, compared) or shared_kv(names, compared) or \
            top_sublayer(names, compared):
        return None
    zero = sorted(set(names) & set(compared[-1].get("zero_groups") or []))
    decayed = sorted(set(names) - set(_always(compared, ("unchanged",), short)))
    ev = {**_evidence(settled(compared)), "never_changed": names, "all_zero_weights": zero,
          "decay_only": decayed, **(_short_run(raw, compared) if short else {})}
    shown = _shown(names)
    return Verdict("no_update", "part", f"parameter group(s) {shown} never changed in "
                   f"{ev['looks']} looks from step {ev['first_step']} to {ev['last_step']} "
                   f"while the other groups did" + (f"; the weights of {_shown(zero)} are "
                                                    "all 0" if zero else "") + (
                       f"; {len(decayed)} of them changed only by one common shrink of their "
                       "values, weight decay with a zero gradient" if decayed else ""),
                   _part_hint(raw, names, zero, compared), ev)


def set_aside(compared: list[dict], short: bool) -> set[str]:
    """Groups that stay still by design, left out of the part judged: those whose leaves
    are vectors that were all zero at every settled look (a buffer a selection reads and no
    gradient reaches: an aux-loss-free MoE router's `e_score_correction_bias`, added to the
    scores only inside a stop-gradient top-k; fresh241 `lockkeeper_tidepool_moe_ok`, correct,
    2 such groups unchanged over its looks while the router's classifier trained; norms
    (gains of 1) and biases beside a weight matrix are never blank), and those that moved at
    an earlier look (a part an earlier stage trained, left out of a later stage's loss: a
    probe trained with the trunk, then replaced by task heads; fresh240
    `tramline_junction_heads_ok`, correct: `probe` moved in stage A and not after)."""
    blank = set(_always(compared, ("blank",), short))
    return blank | {name for look in compared for name in look.get("moved_before") or []}


def top_sublayer(names: list[str], compared: list[dict]) -> bool:
    """Every group that never changed was, at the last look, a sublayer of the top layer of
    an indexed stack whose namesake in a lower layer changed (`inside/params.top_only`): its
    output is read only by a next layer that does not exist, by design (N-BEATS's doubly
    residual stack: the last block's backcast is subtracted from a residual no block reads;
    fresh364 `brinepool_nbeats`, correct, `blocks.2.back` unchanged over 12 looks while
    `blocks.0.back` and `blocks.1.back` trained, test sMAPE 193 -> 4.53). A sublayer frozen
    in every layer, or in a lower one, still judges."""
    return bool(names) and set(names) <= set(compared[-1].get("top_only") or [])


def unused_tail(names: list[str], compared: list[dict]) -> bool:
    """The groups that never changed are LAYER_GROUPS or more groups of one layer
    `<stack>.<K>` of an indexed stack (K >= 1) and none of a layer below it: the stack is
    read from that layer's input, its last layer unused by design. A vision tower whose
    features a language model takes from the penultimate layer (LLaVA's
    `vision_feature_layer = -2`, CLIP features) never trains its last layer: fresh243
    `heron_slate_caption_ok`, correct, `vision_tower.layers.2` (all 8 groups) unchanged over
    9 looks while layers 0 and 1 and the language model trained. A whole stack that never
    trains (fresh238 `quarry_hoist_blocklm`: `layers.0` and `layers.1`), groups of several
    modules, or fewer than LAYER_GROUPS groups (a sublayer cut off inside the top layer, not
    the layer: an attention block and an MLP with their norms hold at least 4) still judge.
    Only where the look listed every unchanged group (the list is capped)."""
    if len(names) < LAYER_GROUPS or not listed_all(compared):
        return False
    heads = {layer_of(name) for name in names}
    if len(heads) != 1 or None in heads:
        return False
    _, index = heads.pop()  # type: ignore[misc]
    return index >= 1


def listed_all(compared: list[dict]) -> bool:
    """The last look listed every group it found unchanged (the list is capped)."""
    last = compared[-1]
    return len(last.get("unchanged") or []) >= int(last.get("unchanged_count") or 0)


def shared_kv(names: list[str], compared: list[dict]) -> bool:
    """The groups that never changed are key and value projections in pairs (`k_proj` with
    its `v_proj`, `wk` with `wv`, `key` with `value`, `to_k` with `to_v`), and nothing else:
    layers that read another layer's keys and values by design (cross-layer KV sharing, as
    in Gemma 3n and Gemma 4) keep projections they never use, while their queries, outputs
    and MLPs train (fresh260 `lantern_ferry_kvshare_ok`, correct: layers 1-3 read layer 0's
    K/V; 6 groups unchanged over its looks, val acc 0.32 -> 0.49). A query or an output
    projection that never changes, or a key without its value, still judges, and so do
    pairs outside an indexed stack or in its first layer: the layers shared from sit below
    the ones that share, and train their own (fresh216 `kvshare_gradckpt_source`, broken:
    the source layer's `src.k_proj`/`src.v_proj` never trained, the shared layer reading them
    inside `mx.checkpoint` from a cache object). Only where the look listed every unchanged
    group (the list is capped)."""
    if not listed_all(compared):
        return False
    split = [name.rpartition(".") for name in names]
    return all(leaf in KV_PAIRS and f"{head}.{KV_PAIRS[leaf]}" in names
               for head, _, leaf in split) and above_first_layer(names)


def above_first_layer(names: list[str]) -> bool:
    """Every name lies in one indexed stack (`layer_of`), none in its first layer."""
    layers = [layer_of(name) for name in names]
    found = [layer for layer in layers if layer is not None]
    return len(found) == len(layers) and len({stack for stack, _ in found}) == 1 and min(
        index for _, index in found) >= 1


KV_PAIRS = {"k_proj": "v_proj", "v_proj": "k_proj", "wk": "wv", "wv": "wk", "key": "value",
            "value": "key", "to_k": "to_v", "to_v": "to_k"}


def layer_of(name: str) -> tuple[str, int] | None:
    """(`vision_tower.layers`, 2) of `vision_tower.layers.2.fc1`: the first numbered part
    (the outermost stack)."""
    parts = name.split(".")
    at = next((i for i, p in enumerate(parts) if p.isdigit()), None)
    return None if at is None else (".".join(parts[:at]), int(parts[at]))


def _others_moved(compared: list[dict], short: bool) -> bool:
    """Some group changed at some look; in a run too short for MIN_LOOKS, at every one of
    its settled looks (its few comparisons must each show the rest training)."""
    if short:
        return all(r.get("changed") for r in settled(compared))
    return any(r.get("changed") for r in compared)


def _part_hint(raw: RawResult, names: list[str], zero: list[str],
               compared: list[dict]) -> str:
    """The part fix, led by what the run showed: a model in float16 or bfloat16, weights
    that are all 0, a checkpoint."""
    dtype = low_precision(raw)
    lead = hints.LOW_PRECISION_PART.format(dtype=dtype) if dtype else ""
    lead += hints.FLOAT16_OVERFLOW if dtype == "float16" else ""
    lead += hints.ZERO_WEIGHTS.format(groups=_shown(zero)) if zero else ""
    lead += program.at_sites(raw, hints.CHECKPOINTED, "checkpoint")
    lead += hints.MATRICES_ONLY if matrices_only(compared) else ""
    lead += hints.MODALITY_PART.format(groups=_shown(names)) if modality(names) else ""
    return lead + hints.NO_UPDATE_PART.format(groups=_shown(names))


MODALITY_WORDS = ("vision", "visual", "image", "img", "pixel", "audio", "speech", "video",
                  "mm_projector", "multi_modal")


def modality(names: list[str]) -> bool:
    """Every unchanged group lies in a part named for another modality than text
    (`vision_tower.layers.0`, `audio_encoder.conv1`, `multi_modal_projector`)."""
    return bool(names) and all(any(w in part.lower() for part in name.split(".")
                                   for w in MODALITY_WORDS) for name in names)


def matrices_only(compared: list[dict]) -> bool:
    """At every settled look some vector (a 1-D leaf) was compared and none moved, and at
    some look a matrix moved: the update reaches the matrices only (fresh139
    `pyranometer_offset_muon`, a Muon step that returns a non-matrix parameter unchanged)."""
    looks = settled(compared)
    return bool(looks) and all(
        (r.get("vectors") or [1, 0])[0] == 0 and (r.get("vectors") or [0, 0])[1] > 0
        for r in looks) and any((r.get("matrices") or [0, 0])[0] > 0 for r in looks)


def stuck_weights(raw: RawResult, meta: dict) -> Verdict | None:
    """float32 weight matrices unchanged at every comparison while another parameter of
    their own module (its bias, a norm) changed: the gradient reaches the module's output,
    never its weight."""
    compared = judged(raw)
    if compared is None:
        return None
    names = _always(compared, ("stuck",))
    if not names:
        return None
    shown = _shown(names)
    ev = {**_evidence(settled(compared)), "stuck_weights": names}
    return Verdict("no_update", "stuck_weights", f"weight matrix {shown} never changed in "
                   f"{ev['looks']} looks from step {ev['first_step']} to {ev['last_step']} "
                   "while another parameter of its own module (a bias, a norm) changed at "
                   "each", hints.STUCK_WEIGHTS.format(weights=shown), ev)


def frozen_weights(raw: RawResult, meta: dict) -> Verdict | None:
    """The model the optimizer steps has weight matrices, and every one of them is frozen:
    only vectors (biases, norms) can learn; unless that is a deliberate last stage."""
    found = anatomy.census(raw)
    if found is None or raw.step_count < MIN_STEPS or found["trainable_matrices"] \
            or not found["frozen_matrices"] or anatomy.any_trains_matrices(raw):
        return None
    said = stated_count.zero_line(raw)
    if said is None and _deliberate_last_stage(raw):
        return None
    quantized = found["frozen_quantized"]
    what = (f", {quantized} of them quantized (integer weights)" if quantized else "")
    stated = f"; the program itself prints \"{said}\"" if said else ""
    return Verdict("no_update", "frozen_weights", f"every weight matrix of the trained "
                   f"{found['model']} is frozen ({found['frozen_matrices']} matrices{what}); "
                   f"only {found['trainable_values']} values of vectors (biases, norms) can "
                   f"learn{stated}", hints.FROZEN_QUANTIZED if quantized else frozen_hint(found),
                   {"census": found, **({"stated": said} if said else {})})


def _deliberate_last_stage(raw: RawResult) -> bool:
    """An earlier census trained the weight matrices, and the last loss curve, trained
    through vectors alone, fell to STAGE_FELL of its first report or below: a stage fitted on
    purpose after training (fresh93 `quasar_tempscale_reliability`: an MLP trained, then
    frozen but for its temperature; calibration NLL 0.786 -> 0.256). A stage whose unfreeze
    missed (fresh10 `b10_unfreeze_submodule_key`: 1.47 -> 1.33 with only a logit scale
    training; fresh15 `b15_frozen_head_reassigned`: flat at 1.0986) does not fall that far."""
    if not anatomy.trained_matrices_before(raw):
        return False
    if _continued(raw):
        return True
    losses = [v for v in program.losses(raw) if math.isfinite(v)]
    if not losses:
        return _error_fell(raw)
    curve = losses[phases.last_start(raw, losses):]
    return len(curve) >= 2 and fell_by_half(curve)


def _continued(raw: RawResult) -> bool:
    """The stage that trains vectors alone picks up where the trained model left off: a
    lower-is-better measure (the loss too) reported both before the last look that saw
    weight matrices train and after the census that found them frozen, and no report of any
    such measure across the change more than CONTINUES times the one before it (fresh292
    `teaestate_flush_ordinal_half`, correct: cut-points refit on a frozen trunk, train nll
    0.92, then 0.94; fresh301 `leafroll_row_lsepool`, correct: a pool's bias and sharpness,
    val_bce 0.51, then 0.50). A stage meant to train a new head on a new task starts at
    that task's untrained level (fresh10 `b10_unfreeze_submodule_key`: loss 0.0993, then
    1.4731; fresh13 `b13_lora_freeze_after_attach`: batch_mse 0.0007, then 1.6195), and one
    reported under other names (fresh15 `b15_frozen_head_reassigned`: mse, then xent) shows
    nothing either way. The change itself is not seen: looks come at most four a second, so
    the reports between those two looks are read as the change's."""
    start, end = anatomy.trained_until(raw), anatomy.frozen_since(raw)
    if start is None or end is None:
        return False
    spans = [span for span in _across(raw, start, end).values()
             if span[0][0] <= start and span[-1][0] >= end]
    return bool(spans) and not any(
        0 < before and after > CONTINUES * before
        for span in spans for (_, before), (_, after) in zip(span, span[1:]))


def _across(raw: RawResult, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    """(time, value) of each lower-is-better measure: its last report at or before `start`,
    every one between, and its first at or after `end`."""
    found: dict[str, list[tuple[float, float]]] = {}
    for record in raw.of_kind(PROGRESS):
        t = float(record.get("t", 0.0))
        for name, value in readings.numbers(record).items():
            if readings.direction(name) is not False or not math.isfinite(value):
                continue
            span = found.setdefault(name, [])
            if t <= start:
                span[:] = [(t, value)]
            elif not span or span[-1][0] < end:
                span.append((t, value))
    return found


def _error_fell(raw: RawResult) -> bool:
    """With no training loss reported: an error measure (`metric_names.lower_is_better`, a
    held-out one too) reported since the last look that saw weight matrices train fell by
    half (fresh282 `indigo_vat_vera_vectors`, correct: VeRA vectors fitted on a frozen MLP,
    printed as `batch`/`test` columns and a closing `test MSE: unadapted 0.17456 -> adapted
    0.00633`)."""
    since = anatomy.last_trained_look(raw)
    found = metrics.series(raw, since=since) if since is not None else {}
    curves = [[v for _, v in values if math.isfinite(v)] for name, values in found.items()
              if metric_names.lower_is_better(name)]
    return any(len(curve) >= 2 and fell_by_half(curve) for curve in curves)


def fell_by_half(curve: list[float]) -> bool:
    """The curve fell to STAGE_FELL of its first report, or, where every report is below 0
    (a Gaussian NLL with a learned variance), by STAGE_FELL of the first's size (fresh260
    `hivescale_nectarflow_bitfit`, correct: biases adapted on a frozen 4-bit base, train NLL
    -0.146 -> -0.468, val MAE 0.227 -> 0.132). A curve that crosses 0 is neither."""
    first, best = curve[0], min(curve[1:])
    if first > 0 and min(curve) >= 0:
        return best <= STAGE_FELL * first
    return max(curve) < 0 and first - best >= STAGE_FELL * -first


def frozen_hint(found: dict) -> str:
    """The frozen-weights fix, naming the frozen matrices and unfreezing the last one's
    module (the output head, most often) when the census lists them."""
    names = found.get("frozen_names") or []
    module = names[-1].rpartition(".")[0] if names else ""
    return hints.FROZEN_WEIGHTS.format(
        names=f" ({', '.join(names)})" if names else "",
        example=f"`model.{module}.unfreeze()`" if module else
        "`model.unfreeze()` or `module.unfreeze()`")


def low_precision(raw: RawResult) -> str | None:
    """float16 or bfloat16 when it holds most of the trained model's trainable values (the
    first look's census), else None."""
    dtypes = anatomy.trainable_dtypes(raw)
    total = sum(dtypes.values())
    low = max(("float16", "bfloat16"), key=lambda d: dtypes.get(d, 0))
    return low if total and dtypes.get(low, 0) * 2 > total else None


def non_finite(raw: RawResult, meta: dict) -> Verdict | None:
    bad = [r for r in raw.of_kind(PARAMS) if r.get("nonfinite")]
    if not bad:
        return None
    first = bad[0]
    groups = ", ".join(first["nonfinite"][:6])
    return Verdict("diverged", "non_finite_params", f"parameters became non-finite by step "
                   f"{first.get('step')} (groups: {groups}; {len(bad)} look(s) saw it)",
                   policy.non_finite_hint(metrics.series(raw), program.loss_name(raw))
                   or hints.for_non_finite(finite_head(program.losses(raw))),
                   {"first_non_finite_look_step": first.get("step"),
                                    "non_finite_groups": first["nonfinite"],
                                    "looks_non_finite": len(bad)})


def value_only(raw: RawResult) -> dict | None:
    """The loss went non-finite while the parameters stayed finite and kept changing: at
    least MIN_LOOKS looks after its first non-finite report (on the parent's clock) changed
    a group, and no look ever saw a non-finite value. A non-finite gradient would have made
    them non-finite at its update (NaN stays NaN under every optimizer), so the gradient
    was finite and the NaN is in the loss's value only (failure corpus fresh28
    `grpo_all_empty_group_nan_mean`: `mx.mean` over an empty selection, NaN at all 16
    reports, its gradient 0; the parameters trained on)."""
    bad = next((r for r in raw.learning if _non_finite(r.get("loss"))), None)
    if bad is None or "t" not in bad or nonfinite_seen(raw):
        return None
    after = [r for r in looks(raw) if r.get("t", -math.inf) >= bad["t"] and r.get("changed")]
    return {"looks_changed_after": len(after), "min_looks": MIN_LOOKS} \
        if len(after) >= MIN_LOOKS else None


def _non_finite(value: object) -> bool:
    number = decode_number(value)
    return number is not None and not math.isfinite(number)


SOURCE = "looks compare 32 strided values per parameter bit for bit (inside/params.py)"
NO_UPDATE = (
    Rule("no_update.params", "params", f"no group changed in >= {MIN_LOOKS} looks over "
         f">= {MIN_STEPS} steps, or in fewer looks over >= {MIN_UPDATES} optimizer updates "
         "from the first look", SOURCE, frozen_all),
    Rule("no_update.stuck_weights", "params", "a float32 weight matrix unchanged in every "
         f"one of >= {MIN_LOOKS} looks over >= {MIN_STEPS} steps while a bias or norm of its "
         "own module changed", "failure corpus: qat_round_no_ste (mlx-lm PR 153: a rounding "
         "without a straight-through estimator)", stuck_weights),
    Rule("no_update.frozen_weights", "params", "the stepped model has weight matrices "
         f"(ndim >= 2), none trainable, over >= {MIN_STEPS} steps; a last stage after one "
         "that trained them stands down when its loss (with no loss reported: an error "
         f"measure reported since) fell to {STAGE_FELL} of its first, unless the program's "
         "own last printed count of trained parameters is 0 (`LoRA params: 0`)",
         "failure corpus: "
         "quantized_weights_frozen (mlx PR 2142: quantized layers are frozen)", frozen_weights),
)
# After the leak rules (`verdict.rulebook`): a part that never moves may be meant to stay fixed
# (a backbone a hand-written update skips), memory that climbs ends the run whatever was meant
# (fresh39 frozen_gradbuf_leak: RSS 109 -> 507 MB beside a backbone skipped on purpose).
PART = (
    Rule("no_update.part", "params", f"groups unchanged in every one of >= {MIN_LOOKS} looks "
         f"over >= {MIN_STEPS} steps while others changed, or in a run too short for that, in "
         f"every comparison over >= {MIN_UPDATES} optimizer updates from the first look, the "
         f"others changing at each; not when they are >= {LAYER_GROUPS} groups of one layer "
         "at the top of a stack (`<stack>.<K>`, K >= 1, nothing below it), nor when each is "
         "a sublayer of a stack's top layer whose namesake in a lower layer changed; after "
         "the leak rules", SOURCE + "; the short run: fresh13 b13_moe_router_stop_gradient "
         "(0.8 s, 2 comparisons over 775 updates); the top layer: fresh243 "
         "heron_slate_caption_ok (a vision tower read before its last layer); the top "
         "sublayer: fresh364 brinepool_nbeats (the last N-BEATS block's backcast)",
         frozen_part),
)
DIVERGED = (
    Rule("diverged.params", "params", "any sampled parameter value non-finite", SOURCE,
         non_finite),
)
