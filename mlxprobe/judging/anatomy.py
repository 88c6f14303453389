"""What the trained model's census shows beyond movement: modules kept out of its parameters
under private names, LoRA adapters that are frozen.

Job: read the census (`inside/params.census`, facts from `inside/anatomy`) and give
- `tupled_modules`, a rule unit: no_update when the stepped model keeps modules with arrays
  in a tuple attribute, over >= MIN_STEPS steps: `Module.parameters()` walks dicts and lists
  only, so they never train (fresh14 `a14_tuple_blocks_skipped`: residual blocks in a tuple
  kept their init, val_mse 0.173 -> 0.135 against 0.147 -> 0.00074 in a list). A module
  under a `_` name is left to the fix text: it may be a constant on purpose;
- `frozen_adapters`, a rule unit: no_update when the stepped model has LoRA adapter
  parameters and not one of them is trainable, over >= MIN_STEPS steps: the optimizer runs
  and the adapters, the only part a LoRA fine-tune means to train, never change (failure
  corpus fresh13 `b13_lora_freeze_after_attach`, mlx-vlm issue 2178: `model.freeze()` after
  the adapters were attached; 49 of 3649 values trained, the loss fell 6% where the fixed
  twin's fell 88%);
- `notes(raw)`, the first words of a learning fix: a non-strict load that missed
  (`program.load_note`) and the modules under private attributes (mlx issue 141: MLX treats
  `_` members as constants; fresh11 `a11_underscore_param_frozen`, fresh13
  `a13_underscore_layers_constant`: a layer list kept as `self._layers` never trained).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..protocol import PARAMS
from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict

MIN_STEPS = 5  # as the other census rule (`params.frozen_weights`): the optimizer ran

HIDDEN = ("{where} hold(s) {values} values of modules kept under attribute names that start "
          "with an underscore or in a tuple: MLX's Module.parameters() leaves every `_` "
          "attribute out (private members are constants) and walks only dicts and lists, so "
          "the optimizer never sees those weights and they never train: {fix}. ")
RENAME = ("rename the attribute (`self.{public} = ...` instead of `self.{private} = ...`); "
          "keep a `_` name only for what must not train")
LISTED = "keep modules in a list, not a tuple (`self.{name} = [Block(), Block()]`)"
ADAPTERS = ("the LoRA adapters ({names}) are frozen, so only {values} values of the model "
            "train: a `model.freeze()` after the adapters were attached froze them too. "
            "Freeze the base model first, then attach the adapters (mlx-lm: `model.freeze()` "
            "before `linear_to_lora_layers(...)`), or unfreeze them after the freeze: "
            "`model.unfreeze(keys=[\"lora_a\", \"lora_b\"], strict=False)`")

IDLE_ADAPTERS = ("the {count} LoRA adapter parameters are trainable and none of them moved: "
                 "unless the learning rate is 0, their gradient was 0, so the forward pass "
                 "never runs them: an adapter "
                 "assigned under a new attribute name (`expert.gate_proj = "
                 "LoRALinear.from_linear(expert.w1)`) is a registered child that nothing "
                 "calls while `__call__` still calls `self.w1(x)`: assign it under the name "
                 "the forward uses (`expert.w1 = LoRALinear.from_linear(expert.w1)`). "
                 "Otherwise: ")


ADAPTER_SCALE = ("; this is a fine-tune ({frozen} weight matrices frozen, {trainable} "
                 "trainable: adapters): check the adapter's scale, the low-rank update scaled "
                 "by alpha / rank (scaling by alpha alone is rank times too large), and a "
                 "learning rate ~10x below full training's")


def census(raw: RawResult) -> dict | None:
    """The trained model's census: the one taken after the first optimizer update when
    there is one (what trains as it trains), else the first look's."""
    found = censuses(raw)
    return found[-1][0] if found else None


def trainable_dtypes(raw: RawResult) -> dict[str, int]:
    """The census's trainable values per dtype (`{"float32": 76417}`), empty when unknown."""
    return (census(raw) or {}).get("trainable_dtypes") or {}


def censuses(raw: RawResult) -> list[list[dict]]:
    """Each census the looks took: one entry per model censused, in the looks' order."""
    return [r["census"] for r in raw.of_kind(PARAMS) if r.get("census")]


def trains_matrices(models: list[dict]) -> bool:
    """One of a census's models has trainable weight matrices."""
    return any(c.get("trainable_matrices") for c in models)


def any_trains_matrices(raw: RawResult) -> bool:
    """One of the models the last census lists has trainable weight matrices: the run
    trains weights, whatever a frozen copy beside them holds (fresh97 `braille_ema_smooth`:
    a frozen EMA shadow updated by hand, listed before the model its hand-written Nesterov
    step trains)."""
    found = censuses(raw)
    return bool(found) and trains_matrices(found[-1])


def last_trained_look(raw: RawResult) -> float | None:
    """When the last census with trainable weight matrices was taken: what the program
    reports after it (the adapted model's baseline reading, then a stage that trains vectors
    alone) is the last stage's."""
    trained = [r for r in raw.of_kind(PARAMS) if trains_matrices(r.get("census") or [])]
    return trained[-1].get("t") if trained else None


def frozen_since(raw: RawResult) -> float | None:
    """When the census after the last one with trainable weight matrices was taken (the
    first to find them frozen), or None."""
    looks = [r for r in raw.of_kind(PARAMS) if r.get("census")]
    trained = [i for i, r in enumerate(looks) if trains_matrices(r["census"])]
    return looks[trained[-1] + 1].get("t") if trained and trained[-1] + 1 < len(looks) else None


def trained_until(raw: RawResult) -> float | None:
    """When weight matrices were last seen training: the last look that saw one move, or
    the last census that counted one trainable, whichever came later; or None."""
    seen = [r.get("t") for r in raw.of_kind(PARAMS)
            if (r.get("matrices") or [0])[0] or trains_matrices(r.get("census") or [])]
    return seen[-1] if seen else None


def trained_matrices_before(raw: RawResult) -> bool:
    """An earlier census of the same model had trainable weight matrices: a stage before the
    last trained them (fresh93 `quasar_tempscale_reliability`: an MLP trained, then frozen
    but for its temperature, fitted on a calibration split)."""
    found = [models[0] for models in censuses(raw)]
    return any(c.get("trainable_matrices") and c.get("model") == found[-1].get("model")
               for c in found[:-1])


def hidden_note(raw: RawResult) -> str:
    """The private-attribute part of a learning fix, or ""."""
    found = (census(raw) or {}).get("hidden") or {}
    if not found:
        return ""
    where = ", ".join(f"`{name}`" for name in found)
    name = next(iter(found)).rpartition(".")[2]
    fix = RENAME.format(private=name, public=name.lstrip("_") or "layers") \
        if name.startswith("_") else LISTED.format(name=name)
    return HIDDEN.format(where=where, values=sum(found.values()), fix=fix)


def adapter_note(raw: RawResult) -> str:
    """For a loss that blew up in a fine-tune whose base weights are frozen while a few
    matrices train (adapters): the adapter's scale, the usual cause there (failure corpus
    fresh16 `lora_scale_raw_alpha`, mlx-vlm issue 845: the update scaled by alpha, not
    alpha / rank, 8x too large; loss 2.97 -> 69 in 7 steps)."""
    found = census(raw) or {}
    if not (found.get("frozen_matrices") and found.get("trainable_matrices")):
        return ""
    return ADAPTER_SCALE.format(frozen=found["frozen_matrices"],
                                trainable=found["trainable_matrices"])


def idle_adapters_note(raw: RawResult) -> str:
    """For a run in which no parameter moved: when the model trains LoRA adapters (every
    one of them trainable), their gradient was 0, so the forward pass never runs them
    (failure corpus fresh29 `moe_expert_lora_names`, mzbac/mlx-lora: adapters assigned
    under new attribute names while `__call__` still called the wrapped layers)."""
    adapters = (census(raw) or {}).get("adapters") or {}
    if not adapters.get("count") or adapters.get("trainable") != adapters["count"]:
        return ""
    return IDLE_ADAPTERS.format(count=adapters["count"])


def notes(raw: RawResult) -> str:
    """What the model's loading and structure say, to lead a learning fix."""
    return program.load_note(raw) + hidden_note(raw)


def frozen_adapters(raw: RawResult, meta: dict) -> Verdict | None:
    found = census(raw)
    adapters = (found or {}).get("adapters") or {}
    if not adapters.get("count") or adapters.get("trainable") or raw.step_count < MIN_STEPS:
        return None
    names = ", ".join(adapters.get("frozen_names") or [])
    return Verdict("no_update", "frozen_adapters", f"all {adapters['count']} LoRA adapter "
                   f"parameters of the trained {found['model']} are frozen ({names}) while "
                   f"the optimizer stepped it for {raw.step_count} steps; "
                   f"{found['trainable_values']} values train",
                   ADAPTERS.format(names=names, values=found["trainable_values"]),
                   {"census": found, "min_steps": MIN_STEPS})


def in_tuples(found: dict) -> dict[str, int]:
    """The hidden module paths that no private name explains: modules kept in a tuple."""
    hidden = found.get("hidden") or {}
    return {p: v for p, v in hidden.items() if not any(s.startswith("_") for s in p.split("."))}


def tupled_modules(raw: RawResult, meta: dict) -> Verdict | None:
    """Modules kept in a tuple attribute of the stepped model, over >= MIN_STEPS steps: MLX's
    parameters() never walks a tuple, so their weights never train (a `_` name may be meant
    as a constant, a teacher kept out of training; a tuple of layers has no such use)."""
    found = census(raw)
    tupled = in_tuples(found or {})
    if not tupled or raw.step_count < MIN_STEPS:
        return None
    where = ", ".join(f"`{p}`" for p in tupled)
    return Verdict("no_update", "hidden_modules", f"{where} of the trained {found['model']} "
                   f"hold(s) {sum(tupled.values())} values of modules in a tuple, which "
                   "Module.parameters() never walks: the optimizer never updates them while "
                   f"{found['trainable_values']} other values train", hidden_note(raw),
                   {"census": found, "min_steps": MIN_STEPS})


RULES = (
    Rule("no_update.hidden_modules", "params", "the stepped model keeps modules with arrays "
         f"in a tuple attribute (not a `_` name), over >= {MIN_STEPS} steps", "failure corpus: "
         "a14_tuple_blocks_skipped (mlx-swift issue 362: children in a container kind the "
         "module walk skips)", tupled_modules),
    Rule("no_update.frozen_adapters", "params", "the stepped model has LoRA adapter "
         f"parameters (a path part `lora*` or `*adapter*`), none trainable, over >= "
         f"{MIN_STEPS} steps", "failure corpus: b13_lora_freeze_after_attach (mlx-vlm issue "
         "2178, PR 2181: freeze first, then attach the adapters)", frozen_adapters),
)
