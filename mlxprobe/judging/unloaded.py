"""Rule unit: a `load_weights(..., strict=False)` that put none of the weights it was given
into the model, in a run that went on and exited 0.

Job: with `strict=False`, MLX skips every name that matches no parameter and says nothing.
A checkpoint saved from the encoder alone (`embeddings.*`, `encoder.*`) and loaded into a
wrapper that holds it under an attribute (`model.embeddings.*`) matches nothing: the call
returns, the model keeps its random init, and the fine-tune that follows trains from scratch:
its loss falls, slowly, and nothing in the curve tells it from a slow fine-tune. The watched
program's own call reports how many of the given names matched a parameter
(`inside/loads.py`); a load that matched none of them loaded nothing.

Thresholds and why: a non-strict load of >= 1 named weight into a model with >= 1 parameter
that matched 0 of them, with no later load into a model of the same class that matched any
(a program that tries one layout and then another is fine). A partial match is left alone:
loading a backbone and leaving a new head at its init is what `strict=False` is for.
Measured over the 560 kept runs of fresh303-fresh350: 19 non-strict loads, all of which
matched every name they were given (a backbone into a model with new heads or adapters),
but one: fresh350 `gazetteer_span_warmstart`'s broken twin (plpxsk/bert-qa 3c39fa0:
`BertQA.load_weights(path, strict=False)` of a checkpoint without the `model.` prefix, 0 of
33 matched, test exact match 0.148 against its fixed twin's 0.984, which matched 31 of 33).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..protocol import WEIGHTS
from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict


def loaded_nothing(raw: RawResult) -> dict | None:
    """The first non-strict load that matched none of its names, where no later load into a
    model of the same class matched any."""
    loads = raw.of_kind(WEIGHTS)
    for i, record in enumerate(loads):
        if not record.get("strict") and record.get("matched") == 0 and \
                int(record.get("given") or 0) > 0 and int(record.get("parameters") or 0) > 0 \
                and not any(later.get("model") == record.get("model") and
                            int(later.get("matched") or 0) > 0 for later in loads[i + 1:]):
            return record
    return None


def unloaded(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.exit_code != 0:
        return None
    found = loaded_nothing(raw)
    if found is None:
        return None
    return Verdict("wrong_result", "weights_unloaded", f"`{found.get('model')}.load_weights"
                   f"(..., strict=False)` matched 0 of the {found.get('given')} weights it was "
                   f"given: all {found.get('parameters')} parameters kept their initial "
                   "values and the run trained from them", program.load_note(raw).rstrip(),
                   {key: found.get(key) for key in ("model", "strict", "given", "matched",
                                                    "parameters", "unmatched_names",
                                                    "without_weight_names")})


RULES = (
    Rule("wrong_result.weights_unloaded", "records", "a `load_weights(..., strict=False)` "
         "that matched 0 of its >= 1 given names (and no later load into that model class "
         "matched any), in a run that exited 0", "failure corpus: fresh350 "
         "gazetteer_span_warmstart (plpxsk/bert-qa 3c39fa0)", unloaded),
)
