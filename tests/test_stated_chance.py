"""`not_learning.chance` on a chance loss the program states (`chance-level mlm loss = ln(16) =
2.773`): fresh186 `mbert_eager_softmax_allaxes` (attention's softmax over every axis), whose
batch accuracies scatter too widely for the accuracy clause; against the shapes near it."""

from __future__ import annotations

import pytest

from mlxprobe.judging.chance import stated_chance
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

STATED = "chance-level mlm loss = ln(16) = 2.773\n"
AT_CHANCE = [3.0616, 2.7866, 2.7964, 2.8268, 2.8429, 2.8232, 2.8684, 2.8025, 2.7768, 2.7358,
             2.7839, 2.6949, 2.7800]
ACCURACY = [4.2, 10.4, 18.8, 10.4, 6.2, 2.1, 4.2, 6.2, 14.6, 10.4, 2.1, 12.5, 10.4]


def run(losses: list[float], text: str = STATED) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * (i + 1), "t": float(i),
                "loss": v, "metrics": {"masked_acc": a}}
               for i, (v, a) in enumerate(zip(losses, ACCURACY))]
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=text)


def test_a_loss_at_the_chance_level_the_program_states_is_not_learning() -> None:
    v = classify(run(AT_CHANCE))
    assert v.label == "not_learning:chance" and v.evidence["chance_stated"] == 2.773
    assert "axis=-1" in v.hint


def test_without_the_statement_the_wide_accuracies_keep_it_a_pass() -> None:
    assert classify(run(AT_CHANCE, "")).label == "pass"


def test_a_loss_that_falls_below_the_stated_chance_passes() -> None:
    learning = [3.0, 2.6, 2.2, 1.9, 1.5, 1.2, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert classify(run(learning)).label == "pass"


@pytest.mark.parametrize("text, expected", [
    ("chance-level mlm loss = ln(16) = 2.773", 2.773),
    ("# chance level: log2(3) = 1.5850 bits per game", 1.585),
    ("chance cross-entropy ln(3) = 1.099", 1.099),
    ("chance: val_ce = ln 5 = 1.609, tick_acc = 20.0 %", 1.609),
    ("chance ln(16) = 2.5", None),  # not the log of its count
    ("chance accuracy 0.450 (majority class)", None),
])
def test_a_chance_loss_is_read_only_where_it_is_the_log_of_a_class_count(text: str,
                                                                        expected) -> None:
    assert stated_chance(text) == expected
