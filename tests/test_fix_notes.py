"""Fix texts picked from evidence any run has (`judging/variational.py`, `judging/ascent.py`,
`judging/shape_notes.py`, `hints.for_non_finite`), on records shaped like fresh24's runs:
each note appears where its fact holds and not where it does not; and the trend rule's
exception for a loss that fell before its second report and held (`program.fell_and_held`),
on the same records."""

from __future__ import annotations

import pytest

from mlxprobe.judging import ascent, hints, shape_notes, variational
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(losses: list[float], name: str = "loss", metrics: dict | None = None) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 100 * (i + 1),
                "t": float(i), "loss": v, "loss_name": name, "metrics": metrics or {}}
               for i, v in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_variational_runs_explosion_names_both_gradient_paths():
    # fresh24 advi_samples_outside_grad: -elbo 3558 -> 9.7e4 -> ... -> 3.5e5
    losses = [3558.8, 96533.2, 1.54e6, 4.05e7, 2.82e7, 2.86e8, 1.69e7, 5.46e6, 8.9e5,
              2.3e5, 6.1e5, 2.1e6, 3.1e6, 1.2e6, 2.6e5, 3.5e5]
    verdict = classify(run(losses, "minus_elbo"))
    assert verdict.label == "diverged:exploding"
    assert verdict.hint.startswith("a variational objective (`minus_elbo`) blew up")
    assert "inside the function given to `value_and_grad`" in verdict.hint


def test_a_flat_elbo_names_the_per_sample_advantage():
    # fresh24 bernoulli_vi_averaged_baseline: elbo -35.2 -> -42.1, noisy
    elbo = [-35.2, -39.3, -38.0, -40.7, -39.5, -38.0, -37.3, -39.7, -41.0, -41.5, -42.0,
            -40.1, -42.5, -44.1, -40.7, -42.1]
    verdict = classify(run([-v for v in elbo], "neg_elbo", {"elbo": -35.0}))
    assert verdict.label == "not_learning:trend"
    assert "per-sample objective before averaging" in verdict.hint


def test_a_run_without_an_elbo_gets_no_variational_text():
    assert variational.flat_hint(["loss", "acc"]) is None
    assert variational.blown_note(["mse"]) == ""
    assert variational.elbo_name(["loss", "train_elbo"]) == "train_elbo"


def test_a_loss_rising_at_every_report_leads_with_another_objective():
    # fresh24 d24_update_hardcoded_ce: train mse 1.99e4 -> 1.57e12, up at every epoch
    losses = [1.99e4 * 1.9 ** i for i in range(25)]
    verdict = classify(run(losses, "train_mse"))
    assert verdict.label == "diverged:exploding"
    assert verdict.hint.startswith("the loss rose at every one of its 25 reports")
    assert "cross_entropy" in verdict.hint


def test_a_rise_with_a_fall_between_is_no_ascent():
    assert ascent.note([1.0, 2.0, 4.0, 3.0, 8.0, 16.0, 32.0]) == ""
    assert ascent.note([1.0, 2.0, 4.0, 8.0, 16.0]) == ""  # under six reports
    assert ascent.note([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]).startswith("the loss rose")


def test_an_ascent_names_a_loss_term_held_out_of_the_gradient():
    # fresh35 precision_logdet_detached: the NLL's log-determinant under mx.stop_gradient
    nll = [19.37, 40.40, 59.23, 79.57, 106.73, 129.69, 153.82, 186.04, 209.92, 224.56, 245.72]
    text = ascent.note(nll)
    assert "held out of its gradient" in text and "log-determinant" in text


MATMUL = ("ValueError: [addmm] Last dimension of first input with shape (32,288) must match "
          "second to last dimension of second input with shape (32,4).")


def test_a_square_multiple_of_the_layer_width_names_a_flattened_spatial_map():
    # fresh24 d24_resnet9_head_flatten: a 3 x 3 x 32 map flattened into nn.Linear(32, 4)
    note = shape_notes.note(MATMUL)
    assert "288 = 32 x 3 x 3" in note and "x.mean(axis=(1, 2))" in note
    assert hints.for_error("ValueError", MATMUL.split(": ", 1)[1], "").count("3 x 3") == 2


def test_other_widths_get_no_spatial_note():
    assert shape_notes.note(MATMUL.replace("288", "96")) == ""  # 3x: not a square
    assert shape_notes.note(MATMUL.replace("288", "100")) == ""  # not a multiple
    assert shape_notes.note("ValueError: [reshape] Cannot reshape array") == ""


PACKED = ("ValueError: [matmul] Last dimension of first input with shape (500,64) must match "
          "second to last dimension of second input with shape ({w},8).")


@pytest.mark.parametrize("width", [256, 60])  # 8 bits with 2 * bits; 6 bits with 32 // 6
def test_a_packed_width_with_the_wrong_factor_names_the_quantized_layer(width: int) -> None:
    # fresh213 maltfloor_qlora8_dims, fresh204 tollbooth_axle_qlora8, fresh140 inkjet (6 bits)
    note = shape_notes.note(PACKED.format(w=width))
    assert "quantized" in note and "* 32 // linear.bits" in note


@pytest.mark.parametrize("width", [128, 32, 63])
def test_other_layer_widths_get_no_packed_note(width: int) -> None:
    assert "quantized" not in shape_notes.note(PACKED.format(w=width))


BROADCAST = "ValueError: [broadcast_shapes] Shapes (48) and (384) cannot be broadcast."


def test_a_per_sample_array_against_a_batch_names_its_rank() -> None:
    # fresh218 dreambooth_sampler_tshape: FLUX's t of shape (B,) against (B, L, C) latents
    note = shape_notes.note("[broadcast_shapes] Shapes (4,16,8) and (4) cannot be broadcast.")
    assert "per-sample" in note and "t.reshape(-1, 1, 1)" in note
    assert shape_notes.note("[broadcast_shapes] Shapes (4,16,4) and (4) cannot be "
                            "broadcast.") == ""  # the last axis matches: no broadcast error


def test_a_broadcast_whose_one_axis_is_a_multiple_names_a_whole_batch_array():
    # fresh34 slot_mask_concat: 8 samples' masks each built from the batch's 48 slot indices
    note = shape_notes.note(BROADCAST)
    assert "8x the other's (48 and 384)" in note and "x[i]" in note
    assert "48 and 384" in hints.for_error("ValueError", BROADCAST.split(": ", 1)[1], "")


def test_broadcasts_of_other_shapes_get_no_note():
    for shapes in ("(48) and (100)", "(8,48) and (4,96)", "(4,6) and (4,6,2)"):
        assert shape_notes.note(BROADCAST.replace("(48) and (384)", shapes)) == ""


def test_a_loss_non_finite_from_its_first_report_checks_the_inputs_first():
    # fresh24 d24_normalize_zero_std: a constant feature standardised by its std of 0
    text = hints.for_non_finite([])
    assert text.startswith("the loss was non-finite from its first report")
    assert "std" in text and "sqrt or log at 0" in text
    assert not hints.for_non_finite([0.5, 0.4]).startswith("the loss was non-finite")


def test_a_loss_that_fell_before_its_second_report_and_held_is_no_stall():
    # fresh24 bernoulli_vi_averaged_baseline_ok: neg_elbo 35.4, then 23.99-24.08 flat
    held = [35.36, 24.04, 24.08, 23.99, 24.06, 24.03, 24.01, 24.05, 24.0, 24.07, 24.02,
            24.04, 23.99, 24.06, 24.03, 24.03]
    assert classify(run(held, "neg_elbo")).label == "pass"
    bounced = held[:-3] + [36.0, 24.0, 24.1]  # a last third that reaches its start again
    assert classify(run(bounced, "neg_elbo")).label == "not_learning:trend"


def test_a_float16_model_that_went_non_finite_is_told_of_float16s_range():
    census = {"model": "Net", "trainable_dtypes": {"float16": 900}, "trainable_matrices": 2,
              "frozen_matrices": 0, "frozen_quantized": 0}
    look = {"kind": "params", "step": 1, "updates": 1, "leaves": 4, "compared": 4,
            "changed": 4, "unchanged": [], "unchanged_count": 0, "nonfinite": [],
            "zero_groups": [], "census": [census]}
    nan = [float("nan")] * 12
    half = run(nan)
    half.records.insert(0, look)
    assert classify(half).hint.startswith("the model computes in float16")
    assert "mx.finfo(x.dtype).min" in classify(half).hint
    assert not classify(run(nan)).hint.startswith("the model computes in float16")


def test_a_padding_mask_met_by_attention_scores_says_pass_none_or_expand_it():
    # fresh50 vlm_mask_passthrough (mlx-vlm PR 763)
    note = shape_notes.note("ValueError: [broadcast_shapes] Shapes (8,18) and (8,4,17,17) "
                            "cannot be broadcast.")
    assert "(8, 18) met attention scores (8, 4, 17, 17)" in note and "`mask=None`" in note
    assert shape_notes.note("[broadcast_shapes] Shapes (8,18) and (8,4,17,16) cannot be "
                            "broadcast.") == ""  # not square: no attention scores


SHRUNK = ("ValueError: Inputs shape (20, 6, 6, 6, 1) does not match targets shape "
          "(20, 12, 12, 12, 1).")


def test_predictions_smaller_on_every_spatial_axis_name_a_convs_padding():
    # fresh56 voxel_conv3d_arg_swap: nn.Conv3d(ch, ch, 5, 1, 1, 2) in the docs' old order
    note = shape_notes.note(SHRUNK)
    assert "less 6 on every spatial axis" in note and "nn.Conv3d" in note
    assert "padding" in note and "dilation" in note and "keyword" in note
    assert shape_notes.note(SHRUNK.replace("6, 6, 6", "6, 8, 6")) == ""  # not one amount
    assert shape_notes.note(SHRUNK.replace("(20, 6, 6, 6, 1)", "(20, 6, 6, 6, 2)")) == ""
    assert shape_notes.note("ValueError: Inputs shape (20, 1) does not match targets shape "
                            "(20,).") == ""


RESHAPE = "ValueError: [reshape] Cannot reshape array of size 96 into shape (8,6)."


def test_a_reshape_of_a_whole_multiple_names_an_axis_never_reduced():
    # fresh183 digit_echo_grpo_weights: (48, 2) rewards of two reward functions, summed over
    # the functions only when no weights were given, reshaped to (8 prompts, 6 answers)
    note = shape_notes.note(RESHAPE)
    assert "2x the elements" in note and "(x * weights).sum(axis=-1)" in note
    assert "96 into (8, 6), 48" in hints.for_error("ValueError", RESHAPE.split(": ", 1)[1], "")


def test_a_reshape_of_a_short_or_odd_size_gets_no_note():
    for size in ("24", "90", "48"):  # short (a last batch), not a multiple, the same size
        assert shape_notes.note(RESHAPE.replace("96", size)) == ""


def test_no_trainable_parameter_names_targets_that_match_no_layer():
    # fresh183 lantern_lora_targets (mini-llm aa929fb): targets 'self_attn.q_proj' compared
    # with each module's last name
    hint = hints.for_error("ValueError", "[grad] Must specify at least one argument.", "")
    assert "self_attn.q_proj" in hint and "split('.')[-1]" in hint


def test_a_held_out_nan_names_a_batch_of_empty_padding_rows():
    # fresh184 digitsort_emptypad_eval (unsloth-zoo 90841da): a sharded evaluation's padding
    # batch of empty rows, 0/0 per token, NaN * 0 in the weighted total
    assert "empty rows" in hints.NAN_HELD_OUT and "mx.where(ntoks > 0" in hints.NAN_HELD_OUT


def test_a_held_out_nan_names_a_one_pass_stream_read_again():
    # fresh252 gambit_ledger_winbins (chessNetV2 e8dd49f): mlx.data streams built once and
    # re-wrapped every epoch and every evaluation: the second test() reads a drained stream
    assert "one-pass" in hints.NAN_HELD_OUT and "fresh inside each evaluation and each epoch" \
        in hints.NAN_HELD_OUT


def test_a_loss_at_zero_with_a_zero_score_names_a_constant_target():
    # fresh253 saddlery_ledger_chat (mlx-tuning-fork 678f023): the output template printed
    # the literal word instead of the record's answer, so every target was one string
    from mlxprobe.judging import zero_score
    assert "f-string missing its braces" in zero_score.HINT and "{record" in \
        zero_score.HINT.format(name="recall")
