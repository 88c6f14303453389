"""Stop 59's lint changes, on small programs with the spellings beside them that must stay
silent. MLX008 now follows the values of a dict a training step hands back when the loop
iterates it (`for k, v in metrics.items(): acc[k] += v`): failure corpus fresh132
`marmot_dpo_metrics` (mlx-lm-lora commit 85d1227: accumulated DPO metrics never evaluated,
active memory 6.7 -> 74.3 MB over 300 steps).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

METRICS = """
def loss_fn(model, x, y):
    out = model(x)
    loss = nn.losses.mse_loss(out, y)
    return loss, {{"mae": mx.abs(out - y).mean(), "max": mx.abs(out - y).max()}}

model = nn.Linear(4, 1)
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, loss_fn)
acc = {{"mae": 0, "max": 0}}
for it in range(1000):
    (loss, metrics), grads = step(model, X, Y)
    opt.update(model, grads)
    for k, v in metrics.items():
        acc[k] += v
    mx.eval(model.parameters(), opt.state, loss{extra})
    if it % 100 == 0:
        print({{k: v.item() / 100 for k, v in acc.items()}})
        acc = {{k: 0 for k in acc}}
"""


def test_step_metrics_summed_from_a_dict_and_never_evaluated_are_found() -> None:
    assert fired(METRICS.format(extra=""), "MLX008") == [15]


@pytest.mark.parametrize("extra", [
    ", *acc.values()",  # the fix: the sums are evaluated each step
    ", acc",
])
def test_summed_metrics_evaluated_each_step_are_quiet(extra: str) -> None:
    assert fired(METRICS.format(extra=extra), "MLX008") == []


# MLX015 follows a compiled step into the module's own layers: `model(x)` -> the model's
# `__call__` -> `self.moe(h)` / `for layer in self.layers: layer(h)` (failure corpus fresh130
# `moe_numpy_dispatch_compiled_step`: an MoE block dispatching with `mx.eval` + NumPy inside a
# training step compiled with `inputs=state`; early mlx_lm mixtral.py).
LAYERS = """
class Moe(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 4)

    def __call__(self, x):
        inds = mx.argmax(self.gate(x), axis=-1)
        {dispatch}
        return x


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.moe = Moe()

    def __call__(self, x):
        return x + self.moe(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [Block() for _ in range(2)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def loss(model, x):
    return model(x).sum()

model = Net()
opt = optim.Adam(learning_rate=1e-3)
grad_fn = nn.value_and_grad(model, loss)
state = [model.state, opt.state]

{decorator}
def step(x):
    l, g = grad_fn(model, x)
    opt.update(model, g)
    return l
"""


def test_an_evaluation_in_a_layer_a_compiled_step_runs_is_found() -> None:
    code = LAYERS.format(dispatch="mx.eval(inds)",
                         decorator="@partial(mx.compile, inputs=state, outputs=state)")
    assert fired(code, "MLX015") == [9]


@pytest.mark.parametrize(("dispatch", "decorator"), [
    ("mx.eval(inds)", ""),  # the fix: the step is not compiled
    ("inds = inds + 1", "@partial(mx.compile, inputs=state, outputs=state)"),  # no evaluation
])
def test_a_layer_that_evaluates_outside_compile_or_a_compiled_layer_that_does_not_is_quiet(
        dispatch: str, decorator: str) -> None:
    assert fired(LAYERS.format(dispatch=dispatch, decorator=decorator), "MLX015") == []


# MLX008 stands down when a loop inside the training loop binds the name afresh around the
# sum (fresh137 `cablecar_grip_stages_compiled_restore`: `xb = X[idx]`, then `xb = xb + noise
# * mx.random.normal(xb.shape)` in the batch loop, inside the epoch loop).
NOISY = """
def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

model = nn.Linear(4, 1)
opt = optim.SGD(learning_rate=0.1)
step = nn.value_and_grad(model, loss_fn)
{outer}
for ep in range(10):
    for i in range(0, 100, 10):
        {fresh}
        xb = xb + 0.1 * mx.random.normal(xb.shape)
        loss, grads = step(model, xb, Y[i:i + 10])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
"""


def test_a_batch_bound_afresh_in_the_inner_loop_is_no_sum_kept_across_steps() -> None:
    assert fired(NOISY.format(outer="", fresh="xb = X[i:i + 10]"), "MLX008") == []


def test_a_sum_the_inner_loop_never_binds_afresh_is_still_found() -> None:
    assert fired(NOISY.format(outer="xb = X[:10]", fresh="pass"), "MLX008") == [12]


# MLX008 reads a recurrence, `e = e * d + v * (1 - d)`, as a value carried across steps
# (failure corpus fresh138 `lanternfish_ema_charlm`, parameter-golf b76d912: an EMA of the
# weights updated every step and never evaluated).
EMA = """
def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

model = nn.Linear(4, 1)
opt = optim.AdamW(learning_rate=1e-3)
step = nn.value_and_grad(model, loss_fn)
ema = {{k: v for k, v in tree_flatten(model.parameters())}}
for it in range(1000):
    loss, grads = step(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    for k, v in tree_flatten(model.parameters()):
        ema[k] = ema[k] * 0.99 + v * 0.01
    {extra}
"""


def test_an_ema_of_the_weights_never_evaluated_is_found() -> None:
    assert fired(EMA.format(extra="pass"), "MLX008") == [14]


@pytest.mark.parametrize("extra", ["mx.eval(ema)", "mx.eval(list(ema.values()))"])
def test_an_ema_evaluated_each_step_is_quiet(extra: str) -> None:
    assert fired(EMA.format(extra=extra), "MLX008") == []


# MLX183: a weight decay added to an update as a number (failure corpus fresh138
# `kilnwatt_adamw`, mlx-playground 6d649d7 "AdamW correction").
ADAMW = """
class AdamW(optim.Adam):
    def __init__(self, learning_rate, weight_decay=0.01):
        super().__init__(learning_rate=learning_rate)
        self.weight_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate
        wd = self.weight_decay
        m = 0.9 * state.get("m", gradient) + 0.1 * gradient
        v = 0.999 * state.get("v", gradient * gradient) + 0.001 * gradient * gradient
        state["m"], state["v"] = m, v
        return {update}
"""


@pytest.mark.parametrize("update", [
    "parameter - lr * (m / (mx.sqrt(v) + 1e-8) + wd)",
    "parameter - lr * (m / (mx.sqrt(v) + 1e-8) + self.weight_decay)",
    "parameter - lr * m / (mx.sqrt(v) + 1e-8) - lr * wd",
])
def test_a_decay_added_as_a_number_is_found(update: str) -> None:
    assert fired(ADAMW.format(update=update), "MLX183") == [13]


@pytest.mark.parametrize("update", [
    "parameter - lr * (m / (mx.sqrt(v) + 1e-8) + wd * parameter)",  # the fix
    "parameter * (1 - lr * wd) - lr * m / (mx.sqrt(v) + 1e-8)",  # mlx.optimizers.AdamW's way
])
def test_a_decay_in_proportion_to_the_weight_is_quiet(update: str) -> None:
    assert fired(ADAMW.format(update=update), "MLX183") == []


# MLX154 stands down on an attribute the class reads only through `mx.exp`: a log-space
# quantity trained on purpose (fresh140 `canal_lock_mamba_ok`: Mamba's `A_log`).
SSM = """
class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.A_log = mx.log(mx.arange(1, n + 1, dtype=mx.float32))
        self.proj = nn.Linear(n, n)

    def __call__(self, x):
        return self.proj(x) * {read}

def loss_fn(model, x):
    return model(x).sum()

model = Block(4)
opt = optim.Adam(learning_rate=1e-3)
for step in range(10):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, X)
    opt.update(model, grads)
"""


def test_a_log_space_quantity_read_through_exp_is_no_table() -> None:
    assert fired(SSM.format(read="-mx.exp(self.A_log)"), "MLX154") == []


def test_a_table_read_as_it_is_is_still_found() -> None:
    assert fired(SSM.format(read="self.A_log"), "MLX154") == [5]
