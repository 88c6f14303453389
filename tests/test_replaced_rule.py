"""`not_learning.replaced`: parameters that share nothing with the last look's at every look
while the loss does not fall (an optimizer that returns its step). Checked on that shape and
on the correct shapes near it: a run that moves a lot early and then settles, a k-fold loop
that rebuilds its model (its loss falls), a GAN (two players), a single look."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(moves: list[float], losses: list[float], name: str = "mse",
        scales: list[float] | None = None) -> RawResult:
    scales = scales or [0.4] * len(moves)
    looks = [{"kind": "params", "updates": 1, "look": 1, "t": 0.0}]
    looks += [{"kind": "params", "updates": 200 * (i + 1), "look": i + 2, "t": float(i + 1),
               "move_median": m, "scale_median": s} for i, (m, s) in enumerate(zip(moves,
                                                                                   scales))]
    reports = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": 0.1 * i,
                "loss": v, "loss_name": name, "metrics": {name: v}}
               for i, v in enumerate(losses)]
    return RawResult(records=looks + reports, exit_code=0, watched=True)


FLAT = [11.3, 9.7, 10.4, 9.9, 10.8, 9.6, 10.1, 9.8, 10.6, 9.7, 10.0, 9.6]


def test_weights_replaced_at_every_look_with_a_flat_loss_are_not_learning_replaced():
    verdict = classify(run([1.0, 1.0], FLAT, scales=[0.076, 0.416]))
    assert (verdict.kind, verdict.detail) == ("not_learning", "replaced")
    assert verdict.evidence["moves"] == [1.0, 1.0]
    assert "apply_single" in verdict.hint and "parameter - step" in verdict.hint


def test_a_run_that_settles_learns_or_plays_two_players_is_not_replaced():
    assert classify(run([1.7, 0.31], FLAT)).detail != "replaced"
    falling = [1.0 * 0.7 ** i for i in range(12)]
    assert classify(run([2.4, 1.9, 1.4], falling)).detail != "replaced"
    assert classify(run([1.3, 1.6, 1.4], FLAT, name="d_loss")).detail != "replaced"
    assert classify(run([1.0], FLAT)).detail != "replaced"
    # a head trained from a small init grows: it moves by more than its size (fresh10
    # b10_unfreeze_submodule_key_ok: moves 1.62, 1.07, 1.76 at size ratios 2.15, 1.26, 2.26)
    grown = run([1.62, 1.07, 1.76], FLAT, scales=[2.15, 1.26, 2.26])
    assert classify(grown).detail != "replaced"
