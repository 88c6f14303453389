"""Property tests of the MLX facts the scenarios rely on, on real MLX with small shapes.

- `nn.losses.cross_entropy` is a log-softmax with a label gather; the seed-004 manual loss,
  `-mean(log_softmax)` over the whole vocabulary, is something else (equal only in degenerate
  cases: each row's label log-probability equal to its row mean, e.g. uniform rows).
- Gradient accumulation: averaging the gradients of equal-size micro-batches of a mean-reduced
  loss gives the full-batch gradient, summing gives N times it. For unequal micro-batches the
  plain average does not: the micro-batch gradients must be weighted by their share of the
  batch (both shown).
- `nn.Conv1d` on NLC input equals `conv1d_nlc_reference`; the same series fed NCL with
  channels == length (>= 2) runs without an error and gives something else. (Identical only
  if every series, as a length x channels matrix, is symmetric: the random normal series used
  here never are; with channels == length == 1 NCL and NLC are the same array.)
- `nn.value_and_grad` gradients agree with central finite differences along random
  directions u (standard normal entries), in float32: d = g . u against
  (L(p + h u) - L(p - h u)) / 2h. The relative error is taken against |d|, but never less
  than half a typical directional derivative, |g| |u| / sqrt(size): along a direction nearly
  orthogonal to the gradient, float32 round-off of the loss (~1e-6 relative) would otherwise
  make a huge relative error out of a tiny absolute one. Step sizes and tolerances were set
  from measurements (mlx 0.32.4 CPU, 2026-11-21, random data and directions): worst relative
  error over 1,000 cases 0.002 for the LM (h = 1e-3; tolerance 1e-2), over 1,500 cases 0.007
  for the QLoRA LM (h = 1e-3; tolerance 2e-2), over 1,000 cases 0.016 for the time-series
  model (h = 1e-4; tolerance 5e-2: the ReLU kinks its steps cross dominate at larger h,
  round-off through the frozen LM at smaller h). A wrong gradient is off by O(1); checked:
  a gradient scaled by 1.05 fails the LM and QLoRA tests, scaled by 1.1 fails all three.

The scenario helpers are imported as the installed package `mlxprobe_scenarios`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mlx.utils import tree_flatten, tree_map
from mlxprobe_scenarios._lm import make_model, next_token_loss
from mlxprobe_scenarios._qlora import make_qlora_model
from mlxprobe_scenarios._timeseries import (
    conv1d_nlc_reference,
    loss_fn,
    make_timeseries_model,
    series_batches,
)

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)


# --- cross-entropy ------------------------------------------------------------------------

def np_log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def manual_whole_vocab_loss(logits: mx.array) -> mx.array:
    """Seed 004's broken loss, as written there (no label gather)."""
    max_logits = mx.max(logits, axis=-1, keepdims=True)
    numerator = logits - max_logits
    denominator = mx.log(mx.sum(mx.exp(numerator), axis=-1, keepdims=True))
    return -mx.mean(numerator - denominator)


@st.composite
def logits_and_labels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    lead = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))
    vocab = draw(st.integers(2, 32))
    logits = draw(hnp.arrays(np.float32, (*lead, vocab),
                             elements=st.floats(-30, 30, width=32)))
    labels = draw(hnp.arrays(np.int32, tuple(lead), elements=st.integers(0, vocab - 1)))
    return logits, labels


UNIFORM = (np.zeros((3, 5), np.float32), np.array([0, 2, 4], np.int32))
# found by the soak (issue 26): 648 float32 terms, a mean 1.4e-5 off float64's
def _peaked() -> tuple[np.ndarray, np.ndarray]:
    logits = np.full((6, 6, 18), -26.0, np.float32)
    logits.reshape(36, 18)[:8, 0] = 0.0  # the first 8 rows peaked at their label
    return logits, np.zeros((6, 6), np.int32)


PEAKED = _peaked()


@SETTINGS
@given(logits_and_labels())
@example(UNIFORM)
def test_cross_entropy_is_log_softmax_with_label_gather(case: tuple) -> None:
    logits, labels = case
    got = np.array(nn.losses.cross_entropy(mx.array(logits), mx.array(labels)))
    want = -np.take_along_axis(np_log_softmax(logits), labels[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@SETTINGS
@given(logits_and_labels())
@example(UNIFORM)  # degenerate: uniform rows, where both losses are ln(vocab)
@example(PEAKED)
def test_manual_whole_vocab_loss_is_not_cross_entropy(case: tuple) -> None:
    logits, labels = case
    log_probs = np_log_softmax(logits)
    ref_manual = -log_probs.mean()
    ref_ce = -np.take_along_axis(log_probs, labels[..., None], axis=-1).mean()
    manual = manual_whole_vocab_loss(mx.array(logits)).item()
    ce = nn.losses.cross_entropy(mx.array(logits), mx.array(labels), reduction="mean").item()
    # float32 summation over n same-sign terms errs by at most n * eps relative (soak:
    # 648 terms gave 1.4e-5, over a flat 1e-5)
    bound = max(1e-5, logits.size * float(np.finfo(np.float32).eps))
    assert math.isclose(manual, ref_manual, rel_tol=bound, abs_tol=1e-4)
    if abs(ref_ce - ref_manual) > 1e-3:
        assert abs(manual - ce) > 5e-4
    else:  # the degenerate case: the label's log-probability is its row's mean
        assert abs(manual - ce) < 2e-3


# --- gradient accumulation ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def tiny_lm() -> nn.Module:
    return make_model(0)


def lm_grads(tokens: mx.array) -> dict[str, mx.array]:
    model = tiny_lm()
    _, grads = nn.value_and_grad(model, next_token_loss)(model, tokens)
    return dict(tree_flatten(grads))


def combine(parts: list[dict[str, mx.array]], weights: list[float]) -> dict[str, mx.array]:
    return {k: sum(w * p[k] for p, w in zip(parts, weights)) for k in parts[0]}


def assert_trees_close(got: dict, want: dict, rel: float = 1e-4) -> None:
    scale = max(mx.max(mx.abs(v)).item() for v in want.values())
    worst = max(mx.max(mx.abs(got[k] - want[k])).item() for k in want)
    assert worst <= rel * scale + 1e-7, (worst, scale)


def random_tokens(seed: int, batch: int, seq: int) -> mx.array:
    rng = np.random.default_rng(seed)
    return mx.array(rng.integers(0, 256, (batch, seq + 1)).astype(np.int32))


@SETTINGS
@given(seeds, st.integers(1, 4), st.integers(2, 4), st.integers(2, 8))
def test_averaged_accumulation_equals_full_batch(
    seed: int, micro: int, n_micro: int, seq: int
) -> None:
    tokens = random_tokens(seed, micro * n_micro, seq)
    full = lm_grads(tokens)
    parts = [lm_grads(tokens[i * micro:(i + 1) * micro]) for i in range(n_micro)]
    assert_trees_close(combine(parts, [1 / n_micro] * n_micro), full)
    assert_trees_close(combine(parts, [1.0] * n_micro), {k: n_micro * v for k, v in full.items()})


@SETTINGS
@given(seeds, st.integers(2, 8), st.integers(2, 8), st.data())
def test_any_split_needs_size_weights(seed: int, batch: int, seq: int, data: st.DataObject) -> None:
    cuts = data.draw(st.sets(st.integers(1, batch - 1), min_size=1))
    bounds = [0, *sorted(cuts), batch]
    tokens = random_tokens(seed, batch, seq)
    parts = [lm_grads(tokens[a:b]) for a, b in zip(bounds, bounds[1:])]
    shares = [(b - a) / batch for a, b in zip(bounds, bounds[1:])]
    assert_trees_close(combine(parts, shares), lm_grads(tokens))


def test_plain_average_of_unequal_splits_is_not_the_full_gradient() -> None:
    tokens = random_tokens(7, 8, 8)
    parts = [lm_grads(tokens[:1]), lm_grads(tokens[1:])]
    plain, full = combine(parts, [0.5, 0.5]), lm_grads(tokens)
    worst = max(mx.max(mx.abs(plain[k] - full[k])).item() for k in full)
    assert worst > 1e-2 * max(mx.max(mx.abs(v)).item() for v in full.values())


# --- Conv1d layout ------------------------------------------------------------------------

@st.composite
def conv_case(draw: st.DrawFn) -> dict:
    length, padding = draw(st.integers(1, 12)), draw(st.integers(0, 2))
    return {"seed": draw(seeds), "batch": draw(st.integers(1, 4)), "length": length,
            "c_in": draw(st.integers(1, 6)), "c_out": draw(st.integers(1, 6)),
            "kernel": draw(st.integers(1, length + 2 * padding)), "padding": padding}


def make_conv(case: dict) -> nn.Conv1d:
    mx.random.seed(case["seed"] % 2**31)
    return nn.Conv1d(case["c_in"], case["c_out"], case["kernel"], padding=case["padding"])


def reference(conv: nn.Conv1d, x_nlc: np.ndarray, padding: int) -> np.ndarray:
    return conv1d_nlc_reference(x_nlc, np.array(conv.weight), np.array(conv.bias), padding)


@SETTINGS
@given(conv_case())
def test_conv1d_on_nlc_matches_reference(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], case["length"], case["c_in"])).astype(np.float32)
    conv = make_conv(case)
    np.testing.assert_allclose(np.array(conv(mx.array(x))), reference(conv, x, case["padding"]),
                               rtol=1e-4, atol=1e-5)


@st.composite
def square_case(draw: st.DrawFn) -> dict:
    """channels == length >= 2, at least 2 series and 2 output channels (>= 4 outputs)."""
    size, padding = draw(st.integers(2, 10)), draw(st.integers(0, 2))
    return {"seed": draw(seeds), "batch": draw(st.integers(2, 4)), "length": size,
            "c_in": size, "c_out": draw(st.integers(2, 6)),
            "kernel": draw(st.integers(1, size)), "padding": padding}


@SETTINGS
@given(square_case())
def test_conv1d_on_square_ncl_runs_but_differs(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    x_nlc = rng.standard_normal((case["batch"], case["length"], case["c_in"])).astype(np.float32)
    conv = make_conv(case)
    fed_ncl = np.array(conv(mx.array(x_nlc.transpose(0, 2, 1))))
    want = reference(conv, x_nlc, case["padding"])
    assert np.abs(fed_ncl - want).max() > 1e-3 * max(1.0, np.abs(want).max())


# --- gradients vs finite differences ------------------------------------------------------

Loss = Callable[[nn.Module], mx.array]


@functools.lru_cache(maxsize=1)
def tiny_series_model() -> nn.Module:
    return make_timeseries_model(0)


@functools.lru_cache(maxsize=1)
def tiny_qlora_model() -> nn.Module:
    return make_qlora_model(pretrained_steps=None)


def directional_error(model: nn.Module, loss: Loss, seed: int, h: float) -> float:
    """Relative error of d = grad . u (autodiff) against (L(p + h u) - L(p - h u)) / 2h."""
    params = model.trainable_parameters()
    _, grads = nn.value_and_grad(model, loss)(model)
    rng = np.random.default_rng(seed)
    u = tree_map(lambda p: mx.array(rng.standard_normal(p.shape).astype(np.float32)), params)
    g_leaves, u_leaves = [g for _, g in tree_flatten(grads)], [v for _, v in tree_flatten(u)]
    d = sum(mx.sum(g * v) for g, v in zip(g_leaves, u_leaves)).item()
    typical = _norm(g_leaves) * _norm(u_leaves) / math.sqrt(sum(v.size for v in u_leaves))

    def loss_at(step: float) -> float:
        model.update(tree_map(lambda p, v: p + step * v, params, u))
        return loss(model).item()

    finite_difference = (loss_at(h) - loss_at(-h)) / (2 * h)
    model.update(params)
    return abs(finite_difference - d) / max(abs(d), 0.5 * typical)


def _norm(leaves: list[mx.array]) -> float:
    return math.sqrt(sum(mx.sum(mx.square(a)).item() for a in leaves))


def lm_loss(tokens: mx.array) -> Loss:
    return lambda model: next_token_loss(model, tokens)


@SETTINGS
@given(seeds, seeds)
def test_lm_gradient_matches_finite_differences(data_seed: int, direction_seed: int) -> None:
    error = directional_error(tiny_lm(), lm_loss(random_tokens(data_seed, 4, 8)),
                              direction_seed, h=1e-3)
    assert error < 1e-2


@SETTINGS
@given(seeds, seeds)
def test_qlora_gradient_matches_finite_differences(data_seed: int, direction_seed: int) -> None:
    error = directional_error(tiny_qlora_model(), lm_loss(random_tokens(data_seed, 4, 8)),
                              direction_seed, h=1e-3)
    assert error < 2e-2


@SETTINGS
@given(seeds, seeds)
def test_series_gradient_matches_finite_differences(data_seed: int, direction_seed: int) -> None:
    x, y = next(series_batches(8, 3, 24, data_seed))
    error = directional_error(tiny_series_model(), lambda model: loss_fn(model, x, y),
                              direction_seed, h=1e-4)
    assert error < 5e-2
