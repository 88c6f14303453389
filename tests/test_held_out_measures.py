"""A held-out loss read beside a training loss (stop 56): one that falls significantly is
learning even where the training loss, read on a buffer that grows or rolls, does not fall
(`program.falling_held_out`, fresh102 `lifeguard_rescue_poisson_stream`); one that rises
past 1.5x where it started while the training loss falls is a model that learns what it is
shown and not the task (`judging.memorised`, fresh102 `shard_restart_first_chunk`)."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# fresh102 `lifeguard_rescue_poisson_stream` as printed, one report a simulated day
TRAIN_NLL = [0.6993, 0.6792, 0.6776, 0.6736, 0.6789, 0.662, 0.6792, 0.6855, 0.6857, 0.7023,
             0.6879, 0.7065, 0.7007]
TEST_NLL = [0.7211, 0.6881, 0.6819, 0.6836, 0.6759, 0.6737, 0.6771, 0.6716, 0.6709, 0.6713,
            0.6785, 0.6708, 0.6721]
# fresh102 `shard_restart_first_chunk`: the first chunk served again and again
TRAIN_CE = [3.179, 3.084, 2.51, 1.62, 0.93, 0.52, 0.31, 0.19, 0.12, 0.083, 0.064, 0.051,
            0.0433]
VAL_CE = [3.1842, 3.1569, 3.41, 4.02, 4.88, 5.71, 6.42, 7.11, 7.83, 8.42, 8.95, 9.41, 9.7789]


def reports(train: list[float], held_out: list[float], name: str = "test_nll",
            restart_at: int | None = None) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 100 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {name: value},
                **({"restart": True} if i == restart_at else {})}
               for i, (loss, value) in enumerate(zip(train, held_out))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_out_loss_that_falls_is_learning_whatever_the_buffer_loss_does():
    assert classify(reports(TRAIN_NLL, TEST_NLL)).kind == "pass"
    # with the same training loss and a held-out loss that does not fall: no learning seen
    flat = [0.7211 + 0.002 * ((-1) ** i) for i in range(13)]
    assert classify(reports(TRAIN_NLL, flat)).label == "not_learning:trend"


def test_a_held_out_loss_that_rises_past_where_it_started_as_training_falls_is_memorising():
    verdict = classify(reports(TRAIN_CE, VAL_CE, "val_loss"))
    assert verdict.label == "not_learning:memorised", verdict.reason
    assert verdict.evidence["times_first"] > 3 and "nonlocal" in verdict.hint


def test_overfitting_that_stays_near_its_start_or_a_rise_before_a_restart_is_not():
    # a held-out loss that falls, then drifts up to 1.1x its first: overfitting by design
    drift = [3.18, 2.9, 2.8, 2.85, 2.95, 3.0, 3.1, 3.2, 3.3, 3.4, 3.45, 3.5, 3.5]
    assert classify(reports(TRAIN_CE, drift, "val_loss")).kind == "pass"
    # the rise belongs to a first stage; the stage after the restart learns
    staged = VAL_CE[:8] + [2.0, 1.8, 1.6, 1.5, 1.4]
    assert classify(reports(TRAIN_CE, staged, "val_loss", restart_at=8)).kind == "pass"


# fresh134 `organpipe_voicing_betavae_allsum` as printed: a VAE whose KL weight restarts a
# 0.245 -> 1.0 ramp every 8 epochs; its reconstruction rises with the weight in both splits
TRAIN_RECON = [3.7015, 1.5447, 1.497, 1.3806, 1.456, 1.4365, 1.39, 1.4092, 0.4733, 0.5897,
               0.881, 1.1628, 1.3608, 1.3439, 1.3421, 1.3462, 0.4878, 0.5835, 0.8325, 1.13,
               1.3051, 1.291, 1.3056, 1.3321]
VAL_RECON = [1.6551, 1.3791, 1.5397, 1.3505, 1.4053, 1.4014, 1.3699, 1.3308, 0.5424, 0.7866,
             1.0028, 1.34, 1.3708, 1.2559, 1.3329, 1.2794, 0.4711, 0.6918, 0.9574, 1.2376,
             1.3167, 1.2686, 1.2831, 1.3846]


def test_a_held_out_loss_that_rose_with_the_training_loss_is_no_memorising():
    # the epoch counter restarts with each cycle: the last cycle is judged
    assert classify(reports(TRAIN_RECON, VAL_RECON, "val_recon", restart_at=16)).kind == "pass"
    # the same held-out curve beside a training loss that kept falling is memorising
    falling = [3.7 * 0.8 ** i for i in range(24)]
    assert classify(reports(falling, VAL_RECON, "val_recon", restart_at=16)).label == \
        "not_learning:memorised"


# fresh135 `padmask_vlm_ce` (unsloth-zoo c78b916): a padding mask handed in as the whole
# attention mask; the causal held-out CE dipped, then rose, while train CE went to ~0
TRAIN_LEAK = [2.9304, 1.5801, 1.4855, 0.3046, 0.0193, 0.0121, 0.0032, 0.0018, 0.0015, 0.0014,
              0.0012, 0.0012]
HELD_LEAK = [2.6843, 1.9217, 2.2775, 3.8722, 6.0343, 6.9767, 7.2992, 7.4926, 7.5795, 7.648,
             7.7499, 7.7499]


def test_memorising_with_a_training_loss_at_zero_names_the_answer_leaking_too():
    verdict = classify(reports(TRAIN_LEAK, HELD_LEAK, "heldout_ce"))
    assert verdict.label == "not_learning:memorised"
    assert "mask=None" in verdict.hint and "causal" in verdict.hint
    # fresh102's training loss ends at 0.0136x its first: no floor, no leak named
    assert "mask=None" not in classify(reports(TRAIN_CE, VAL_CE, "val_loss")).hint
