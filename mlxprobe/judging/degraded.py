"""Rule unit: after training, the same metric evaluated again with no update between reads
far worse.

Job: a metric the program reports (a loss, an error, an accuracy, under any name) is
evaluated twice after the run's last optimizer update, and the second reading is far worse
than the first: nothing trained between the two, so the model evaluated second is not the
model evaluated first. A deterministic evaluation of one model on the same data gives the
same number; one on new data of the same task moves it a little, not tenfold. What does it:
a reload that rebuilds the model with defaults instead of what trained (a LoRA scale or
alpha not saved with the adapter weights: mlx-examples issue 622, where the restored
adapter uses the class's default scale), a merge or a re-quantization that breaks the
weights (fresh260 `tidepool_lantern_smoothround`: rounding learned on SmoothQuant-scaled
weights applied to the raw ones at the save), an adapter file loaded into the wrong layers, a
model mutated by its own evaluation.

Thresholds and why: the last two reports of the metric both after every update the run made
(the bootstrap counts them; only while every step record is kept, and only where the run's
reports sit at >= COUNTED distinct update counts, so that updates are really counted between
reports: a compiled step's updates are not, measured: fresh29
`compiled_warmup_schedule_frozen_ok` reads every report at "2 updates"); the last worse than
the one before by FACTOR (10x) for a lower-is-better metric, or lower by DROP of its scale
(0.2, or 20 points of a percentage) for a higher-is-better one; the second report prints every
measured name the first did (the same evaluation again, perhaps with more: a training line
`loss 0.0744 train_acc 0.960` and then a test line `loss 0.7460 acc 0.840` are two
evaluations, measured: fresh40 `lora_reload_adapters_dropped_ok`, 10.03x). Measured over
every kept run of the corpus (713 cases): on clean runs the largest such change is
selfies_vae's recon 7.36 -> 7.78 (1.06x) and gat_cora's val_acc rising 0.858 -> 0.958; the
runs that fire are broken: fresh42 `adapter_reload_default_scale` (test_ce 1.08 -> 115.7,
test_acc 0.585 -> 0.176), fresh35 `lora_merge_requant` (val_mse 1.4e-05 -> 0.0058), fresh22
`reused_trainer_early_stop_flag` (eval_loss 0.088 -> 19.7), fresh212
`rennet_curd_runstats_ckpt` (test acc of the live model 95.2%, of its restored checkpoint
26.7%: running statistics kept under `_` names, never saved). Two readings labelled as two
variants of one metric (`test acc live model 95.2%`, `test acc restored checkpoint 26.7%`:
`readings.relabelled`) are the same evaluation of two models, whatever else each line prints.
A metric read BREAKDOWN (4) or more times after the last update is a breakdown, not a
re-evaluation: a per-class or per-subset table (fresh66 `yahtzee_deepsets_tcpdump`, correct:
`acc 1.000` for eight hand classes, then `acc 0.000` for the one class with a single test
example, read as the model going from 1 to 0); the broken runs above read theirs 2 or 3 times.
Two reports in which another lower-is-better metric improved by FACTOR while this one got
FACTOR worse (or a higher-is-better one rose by DROP) are two models each best at its own
column, chosen on purpose: a table of adapters by task (fresh246 `portafilter_shotlog_dora`,
correct: `adapter: kenya_light ... mse_kenya_light 0.1804 mse_swiss_water_decaf 3.3259`,
then `adapter: swiss_water_decaf ... mse_kenya_light 3.3273 mse_swiss_water_decaf 0.1601`),
not the trained model degraded, whose every reading worsens (the broken runs above: test_ce
and test_acc both worse). `wrong_result.reverted` goes first: a value back to its exact
untrained reading names the cause more closely. The last reading equal to one taken earlier
at the same update count is the trained model measured again as it was measured before (fresh176
`hummed_incipit_nce_stages`, correct: a two-stage retrieval curriculum whose training table
ends `pub-singers ... 0.364` at update 1100, then prints `studio ... mrr 0.768` and
`pub-singers ... mrr 0.364`, one line per query style): the reading before it was another
subset, not the same model worse. A report repeats the one before it only when they are two
reports: two columns of one line (fresh252 `loom_shuttle_layout_port`, correct: `[B] val acc
1.000 | mill-A val acc after re-fit 0.733`, the re-fitted model read on two mills at once)
are two data sets, not one model evaluated again, unless both columns are labelled as two
variants (fresh204 `lora_fuse_armpose`: `val_mse adapters=0.01096  fused=0.63773`). Two
reports that print a whole-number setting with two values (a sample count `n`, a horizon:
`readings.resized`) are two subsets or two settings (fresh283 `quire_distmult_scriptorium`,
correct: a per-relation table of three rows, `same_hand n= 131 mrr 0.472` then `copied_from
n= 29 mrr 0.136`; fresh299 `beadwire_chain_relay`, correct: `final 20-step rollout mse
8.02e-06`, then `final 80-step rollout mse 8.83e-05`, each baseline of the line 10x worse
too). So are two reports that print one reference with two values (`most_frequent` 0.162
then 0.111: a reference is fixed by its data; fresh387 `ferry_manifest_stablelm_stages`,
correct: `foot val ... acc 0.545`, then `deck val ... acc 0.183`, one line per held-out set).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..metric_names import variant_of
from ..watching.facts import RawResult
from . import program
from .readings import (
    LINE_BREAKDOWN,
    broken_down,
    companions,
    direction,
    labels,
    last_two,
    one_report,
    relabelled,
    repeated,
    reports,
    resized,
)
from .rule import Rule, Verdict

FACTOR = 10.0
DROP = 0.2
COUNTED = 3
BREAKDOWN = 4
HINT = ("the model evaluated last is not the one that trained: `{name}` read {before:g}, "
        "then {after:g} with no update between. A reload or merge that rebuilds the model "
        "must restore everything the trained one had: the saved weights or adapters, loaded "
        "into the rebuilt model (`model.load_weights(path, strict=True)`); every trained "
        "parameter in the saved file: a save that keeps only some keys (an adapter file "
        "written through a list of suffixes or names to keep or drop) loses what it filters "
        "out, trained biases or norms unfrozen beside the adapters (fresh376 "
        "`vellum_bindery_lora`, unsloth-zoo dfe7459: `.linear.bias` dropped as a base "
        "tensor), so save `dict(tree_flatten(model.trainable_parameters()))` whole; "
        "state that is no parameter, which a checkpoint never holds: `save_weights` "
        "writes `parameters()`, "
        "and MLX leaves out every attribute whose name starts with `_` (a norm layer's "
        "`self._running_mean`), so keep such state public and frozen, `self.running_mean = "
        "mx.zeros(d)` then `self.freeze(keys=['running_mean', 'running_var'], "
        "recurse=False)` (mlx PR 305); and the settings "
        "that are not weights (a LoRA scale or alpha and rank, a dropout, a quantization's "
        "bits and group size) saved in a config next to them and passed back when the layers "
        "are rebuilt, not left at the class defaults; a merge or re-quantization must be "
        "checked against the unmerged model on the same data, and must start from the "
        "weights as they were trained or calibrated: a transform applied to them there (a "
        "per-channel pre-scale such as SmoothQuant's W * s, a rotation, a permutation) "
        "applied again before the exported weights are rounded and saved. A LoRA fuse adds "
        "the update in the layer's own layout: MLX's Linear weights are (out, in), so the delta is "
        "`scale * (lora_b.weight @ lora_a.weight)` (`(lora_a @ lora_b).T` for mlx-lm's "
        "raw (in, r) and (r, out) matrices); the product in the other order, transposed, "
        "has the same shape for a square layer and adds the update's transpose (fresh204 "
        "`lora_fuse_armpose`, mlx-vla bc25ed7). A fuse into a quantized base keeps the "
        "merged layer in full precision: dequantize the base weight, add the update and "
        "leave it float; quantizing it back (`nn.QuantizedLinear.from_linear(merged, ...)` "
        "at 4 bits) rounds most of the update away (mlx-lm PR 1564). Adapters load only "
        "into LoRA layers: convert the rebuilt base's layers first (`linear_to_lora_layers`, "
        "or the script's own wrap), then `load_weights(adapter_file)`; with `strict=False` "
        "on a plain base every lora_a/lora_b key is skipped silently (mlx-examples PR 337)")


def worse(values: list[tuple[int, float]], total: int, higher: bool) -> dict | None:
    """The last two reports both after every update, the last far worse than the one
    before it."""
    if len(values) < 2 or values[-1][0] != total or values[-2][0] != total:
        return None
    if sum(done == total for done, _ in values) >= BREAKDOWN:
        return None  # a table of classes or subsets, not the model evaluated again
    before, after = values[-2][1], values[-1][1]
    if any(done == total and value == after for done, value in values[:-2]):
        return None  # the trained model's own reading again: the one before is a subset
    far = far_worse(before, after, higher)
    return {"before": before, "after": after, "updates": total} if far else None


def far_worse(before: float, after: float, higher: bool) -> bool:
    """`after` FACTOR times `before` (lower-is-better), or lower by DROP of the metric's
    scale (higher-is-better)."""
    if higher:
        scale = 100.0 if max(abs(before), abs(after)) > 1.0 else 1.0
        return before - after >= DROP * scale
    return before > 0 and after >= FACTOR * before


def degraded(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    if not times:
        return None
    named = reports(raw, times)
    if len({done for values in named.values() for done, _ in values}) < COUNTED:
        return None
    shapes, labelled = companions(raw), labels(raw)
    for name, values in named.items():
        found = worse(values, len(times), bool(direction(name)))
        if found is None:
            continue
        again = repeated(shapes, name) and not one_report(raw, name) \
            and not resized(raw, name)
        if (again or relabelled(labelled, name) and not broken_down(raw, name)) and not \
                traded(*last_two(raw, name), name):
            return _verdict(name, found)
    return None


def traded(before: dict[str, float], after: dict[str, float], name: str) -> bool:
    """Another metric of the two reports improved as far as `name` worsened: two models,
    each best at its own column (an adapter per task), not one model degraded."""
    return any(far_worse(after[m], before[m], bool(direction(m)))  # better: worse reversed
               for m in before.keys() & after.keys()
               if variant_of(m) != name and direction(m) is not None)


def _verdict(name: str, found: dict) -> Verdict:
    return Verdict("wrong_result", "degraded", f"`{name}` read {found['before']:g} after the "
                   f"last of {found['updates']} updates, then {found['after']:g} at the next "
                   "report with no update between: the model evaluated second is not the one "
                   "evaluated first", HINT.format(name=name, **found),
                   {"metric": name, **found, "factor": FACTOR, "drop": DROP,
                    "counted": COUNTED})


RULES = (
    Rule("wrong_result.degraded", "metrics", "the last two reports of a metric after every "
         f"optimizer update (no update between them; reports at >= {COUNTED} update counts), "
         "the second printing every measured name the first did (or the two labelled as "
         "two variants of it: `test acc live model` / `test acc restored checkpoint`, fewer "
         f"than {LINE_BREAKDOWN} of them on one line, more are a per-class breakdown; an "
         "unlabelled repeat must be another report, not a column of the same line, and not "
         "one printing another value of a whole-number setting: `n= 131`, then `n= 29`), "
         "fewer than "
         f"{BREAKDOWN} reports of it after the last update (more are a per-class table), "
         f"the last >= {FACTOR:g}x the one before (lower-is-better) or lower by >= {DROP:g} of "
         "its scale (higher-is-better), and no other metric of the two reports better by as "
         "much (a table of models, each best at its own column)",
         "failure corpus: fresh42 adapter_reload_default_scale (mlx-examples issue 622)",
         degraded),
)
