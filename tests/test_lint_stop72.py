"""Stop 72's lint changes, on the spelling their corpus case had and on the ones the rules must
still leave alone: MLX243 (a convolution's or pooling's window argument of 0 or less), the
dataflow pass reading a method's parameters from its call sites (MLX148 on a statistics
method), MLX050 judging a method's parameter at its call sites only, MLX179 leaving a
projection of a parameter (`wd = model.W; model.W = wd / norm(wd)`) alone, and MLX034 leaving
a rounding of an array made from host data (`mx.array(W_np[i])`) alone, and MLX244 (a loss
function's name rebound to the step's loss and passed on), with an `mx.fast` kernel read as a
callable, never an array; MLX031 reading a nested tree inside a dict display and MLX104 a
width that is the max of a list the batcher builds.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CONV = """
import mlx.core as mx
import mlx.nn as nn

layer = {call}
"""


@pytest.mark.parametrize("call", [
    "nn.Conv2d(in_channels=16, out_channels=120, kernel_size=5, stride=0, padding=1)",
    "nn.Conv2d(16, 120, 5, 0, 1)", "nn.Conv1d(3, 4, 3, dilation=0)",
    "nn.Conv2d(3, 4, (3, 0))", "nn.MaxPool2d(2, 0)", "nn.AvgPool1d(kernel_size=2, stride=-1)",
    "nn.ConvTranspose2d(3, 4, 3, stride=(1, 0))", "nn.Conv2d(3, 3, 3, groups=0)",
    "mx.conv1d(mx.ones((1, 8, 3)), mx.ones((4, 3, 3)), 0)"])
def test_a_window_argument_of_zero_or_less_is_found(call: str) -> None:
    assert fired(CONV.format(call=call), "MLX243") == [5]


@pytest.mark.parametrize("call", [
    "nn.Conv2d(16, 256, 5, stride=1, padding=0)", "nn.Conv2d(3, 4, 3, 1, 0)",
    "nn.ConvTranspose1d(3, 4, 3, 2, 0, 1, 0)", "nn.MaxPool2d(2, stride=2, padding=0)",
    "nn.Conv2d(3, 4, k, stride=s)", "mx.conv1d(mx.ones((1, 8, 3)), mx.ones((4, 3, 3)), 1, 0)"])
def test_valid_window_arguments_and_a_padding_of_zero_are_not(call: str) -> None:
    assert fired(CONV.format(call=call), "MLX243") == []


# fresh40 `distill_kl_mask_stats` in small: a statistics method indexed its parameter
STATS = """
import mlx.core as mx


class Stats:
    def compute(self, kl, mask):
        values = kl[mask == 1]
        return float(mx.std(values))


stats = Stats()
for step in range(10):
    kl = mx.random.uniform(shape=(4, 8))
    mask = mx.ones((4, 8))
    stats.compute(kl, mask){extra}
"""


def test_a_method_handed_an_array_at_every_call_reads_it_as_one() -> None:
    assert fired(STATS.format(extra=""), "MLX148") == [7]


def test_a_method_also_used_as_a_value_has_callers_unknown() -> None:
    assert fired(STATS.format(extra="\nhook = stats.compute"), "MLX148") == []


# lintheld2 `a2_async_metrics_thread` in small: a writer method puts its argument on a queue
WRITER = """
import queue
import threading

import mlx.core as mx


class Writer(threading.Thread):
    def __init__(self):
        super().__init__()
        self.q = queue.Queue()

    def run(self):
        while True:
            print(self.q.get().item())

    def log(self, loss):
        self.q.put(loss)


writer = Writer()
writer.start()
for step in range(10):
    loss = mx.random.uniform(shape=())
    {eval}
    writer.log(loss)
"""


def test_a_put_argument_is_judged_where_the_method_is_called() -> None:
    assert fired(WRITER.format(eval="mx.eval(loss)"), "MLX050") == []
    assert fired(WRITER.format(eval="pass"), "MLX050") == [26]


# fresh245 `quarry_ledger_topk` in small: a sparse autoencoder's decoder rows renormalised
SAE = """
import mlx.core as mx
import mlx.nn as nn


class SAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.W_dec = mx.random.normal((8, 4))

    def __call__(self, z):
        return z @ self.W_dec


model = SAE()
for step in range(10):
    optimizer.update(model, grads)
    wd = model.W_dec
    model.W_dec = {value}
"""


def test_a_parameter_rewritten_from_its_own_value_is_a_projection() -> None:
    assert fired(SAE.format(value="wd / mx.linalg.norm(wd, axis=1, keepdims=True)"),
                 "MLX179") == []


def test_a_public_array_overwritten_from_another_value_each_step_is_still_found() -> None:
    assert fired(SAE.format(value="mx.zeros((8, 4))"), "MLX179") == [19]


# fresh245 `oxbow_sluice_calib` in small: AdaRound rounds the stored weights, not a parameter
ROUND = """
import mlx.core as mx
import mlx.nn as nn


def soft_weights(params, weights, scales):
    out = []
    for i in range(len(weights)):
        w, s = {w}
        out.append((mx.floor(w / s) + mx.sigmoid(params["alpha"][i])) * s)
    return out


def loss_fn(params, weights, scales, x):
    return sum((x @ w).sum() for w in soft_weights(params, weights, scales))


grad_fn = mx.value_and_grad(loss_fn)
"""


def test_a_rounding_of_an_array_made_from_host_data_is_not_found() -> None:
    assert fired(ROUND.format(w="mx.array(weights[i]), mx.array(scales[i])"), "MLX034") == []


def test_a_rounding_of_what_the_function_is_handed_is_still_found() -> None:
    assert fired(ROUND.format(w="weights[i], scales[i]"), "MLX034") == [10]


# fresh246 `lantern_ballot_grpo` in small: the step's loss unpacked into the loss function's name
TRAINER = """
import mlx.core as mx
import mlx.nn as nn


def evaluate(model, batches, loss_fn=None):
    return sum(loss_fn(model, b) for b in batches)


def train(model, optimizer, batches, loss_fn=None):
    step = nn.value_and_grad(model, loss_fn)
    for it, batch in enumerate(batches):
        if it % 10 == 0:
            print(evaluate(model, batches, loss_fn=loss_fn))
        {target}, grads = step(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
"""


def test_a_loss_function_rebound_to_the_steps_loss_and_passed_on_is_found() -> None:
    assert fired(TRAINER.format(target="loss_fn"), "MLX244") == [14]


def test_the_steps_loss_under_its_own_name_is_not() -> None:
    assert fired(TRAINER.format(target="loss"), "MLX244") == []


def test_a_kernel_built_by_mx_fast_is_a_callable_not_an_array() -> None:
    code = """
import mlx.core as mx
import mlx.nn as nn


def run(x, kernel_fn=None):
    return kernel_fn(inputs=[x])


def train(x, model, optimizer, grads):
    kernel = mx.fast.metal_kernel(name="k", input_names=["x"], output_names=["y"], source="")
    for i in range(3):
        optimizer.update(model, grads)
        run(x, kernel_fn=kernel)
"""
    assert fired(code, "MLX244") == []


# fresh247 `pallet_dock_boxfit` in small: the optimizer state saved inside a dict display
def test_a_nested_tree_inside_a_dict_display_handed_to_a_saver_is_found() -> None:
    code = """
import mlx.core as mx
import mlx.optimizers as optim

optimizer = optim.AdamW(learning_rate=1e-3)
mx.save_safetensors("opt.safetensors", {value})
"""
    assert fired(code.format(value='{"optimizer": optimizer.state}'), "MLX031") == [6]
    assert fired(code.format(value='{"step": mx.array(3)}'), "MLX031") == []


# fresh11 `b11_compiled_step_batch_maxlen_retrace` in small: the width is the max of a list
PADDED = """
import random
from functools import partial

import mlx.core as mx


def make_batch():
    lens = [random.randint(1, 64) for _ in range(8)]
    width = {width}
    return mx.random.normal((8, width, 4))


@partial(mx.compile, inputs=[], outputs=[])
def step(x):
    return x.sum()
"""


def test_a_width_that_is_the_max_of_the_batchs_lengths_is_found() -> None:
    assert fired(PADDED.format(width="max(lens)"), "MLX104") == [10]


def test_a_fixed_width_is_not() -> None:
    assert fired(PADDED.format(width="64"), "MLX104") == []
