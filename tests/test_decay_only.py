"""Weight decay acting alone (`inside.params.shrunk`, `judging.params.frozen_all`): a look
tells a group whose values all shrank by one common factor (AdamW with a zero gradient) from
one a gradient step moved, and a run whose every look saw only such shrinks is no_update
(fresh172 `scratchgpt_outside_logits`: the forward pass run before `nn.value_and_grad`)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

from mlxprobe.inside.params import ParamWatch
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


class Sink:
    def __init__(self) -> None:
        self.got: list[dict] = []

    def emit(self, kind: str, **fields: object) -> None:
        self.got.append(fields)


def looked(step_with_gradient: bool, lr: float = 1e-3, wd: float = 0.1, steps: int = 1) -> dict:
    """The second look's record around one AdamW step, with a zero or a real gradient."""
    mx.random.seed(0)
    model = nn.Linear(16, 16)
    optimizer = optim.AdamW(learning_rate=lr, weight_decay=wd)
    mx.eval(model.parameters())
    sink = Sink()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    watch.after_eval((model.parameters(),), {}, step=1)
    x = mx.random.normal((4, 16))
    grads = nn.value_and_grad(model, lambda m: (m(x) ** 2).mean())(model)[1]
    if not step_with_gradient:
        grads = tree_map(mx.zeros_like, grads)
    for _ in range(steps):
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    watch.next_at = 0.0
    watch.after_eval((model.parameters(), optimizer.state), {}, step=2)
    return sink.got[-1]


def test_adamw_with_a_zero_gradient_is_a_shrink_not_a_move() -> None:
    record = looked(step_with_gradient=False)
    assert record["changed"] == 2 and record["moved"] == 0
    assert record["shrunk"] == ["bias", "weight"]


def test_a_gradient_step_under_adamw_moves() -> None:
    record = looked(step_with_gradient=True)
    assert record["changed"] == 2 and record["moved"] == 2 and record["shrunk"] == []


def test_a_shrink_as_small_as_float32_rounding_is_still_a_shrink() -> None:
    """lr 2e-3 and wd 1e-4 shrink by 2e-7 a step, ~2-3 float32 spacings: each value rounds
    its own way at each of the 8 steps between two looks, and one factor within the rounding
    of every value is still found (fresh374 `velvet_pile_shearing`: blocks under
    `mx.checkpoint(block)` read as moved)."""
    record = looked(step_with_gradient=False, lr=2e-3, wd=1e-4, steps=8)
    assert record["changed"] == 2 and record["moved"] == 0
    assert record["shrunk"] == ["bias", "weight"]


def test_a_gradient_step_beside_that_small_a_decay_still_moves() -> None:
    record = looked(step_with_gradient=True, lr=2e-3, wd=1e-4, steps=8)
    assert record["changed"] == 2 and record["moved"] == 2 and record["shrunk"] == []


def look(step: int, moved: int, shrunk: list[str]) -> dict:
    return {"kind": "params", "step": step, "updates": step, "look": step, "leaves": 4,
            "compared": 2, "changed": 2, "unchanged": [], "unchanged_count": 0,
            "nonfinite": [], "moved": moved, "shrunk": shrunk}


def run(moved: int, shrunk: list[str]) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    records += [look(s, moved, shrunk) for s in (5, 15, 25, 35)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_every_look_seeing_only_shrinks_is_no_update_naming_weight_decay() -> None:
    v = classify(run(moved=0, shrunk=["head", "embed"]))
    assert v.label == "no_update:params"
    assert v.evidence["shrunk_groups"] == 2 and "weight decay" in v.hint


def test_looks_where_a_group_moved_are_not_that_verdict() -> None:
    assert classify(run(moved=1, shrunk=["embed"])).label != "no_update:params"
