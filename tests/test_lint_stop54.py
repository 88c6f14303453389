"""Stop 54's lint changes, on small programs with the spellings beside them that must stay
silent. From fresh58's and fresh68's halves: MLX173 (an interval truncated from a share,
`every = int(0.05 * len(loader))` with no floor, then `step % every`), in a function, at a
script's top level and as a class attribute (a floor, a guard, a whole-number factor, a
divisor that is not the interval stay silent). From correct loops that drew a finding:
MLX028 reads what a loop that steps itself runs, not a loop over folds (fresh72); MLX034
stands down in an `mx.custom_function` that gives its own vjp (fresh73); MLX008 reads a
same-module helper that returns Python numbers as returning no array (fresh74); MLX090
stands down where the summed gradients are divided leaf by leaf (fresh76); a float(...) of
a call's result counts as an evaluation (fresh79). From fresh80: MLX144 reads a `.train()`
alone as no switch; MLX174 (a None default unpacked with `**`). From fresh83: MLX128 reads
a negative multiple of a magnitude as bounded.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("binding, use, fires", [
    ("every = int(0.05 * len(loader))", "step % every == 0", True),
    ("every = int(len(loader) / 20)", "step // every", True),
    ("every = max(1, int(0.05 * len(loader)))", "step % every == 0", False),  # floored
    ("every = int(0.05 * len(loader))", "every and step % every == 0", False),  # guarded
    ("every = int(len(loader) * 2)", "step % every == 0", False),  # never 0
    ("every = int(0.05 * len(loader))", "every % step == 0", False),  # not the divisor
    ("every = int(0.05 * len(loader))", "step * every", False),  # not a division
])
def test_mlx173_in_a_function(binding: str, use: str, fires: bool):
    code = f"""
def train(model, loader, opt):
    {binding}
    for step, batch in enumerate(loader):
        loss = model(batch)
        if {use}:
            print(step, loss.item())
"""
    assert bool(fired(code, "MLX173")) == fires


def test_mlx173_at_a_script_top_level_and_rebound_with_a_floor():
    code = """
steps = 62
report = int(0.015 * steps)
for it in range(steps):
    loss = mx.array(1.0)
    if it % report == 0:
        print(loss.item())
"""
    assert fired(code, "MLX173")
    assert not fired(code.replace("for it", "report = max(report, 1)\nfor it"), "MLX173")


TRAINER = """
class Trainer:
    def __init__(self, loader, log_every):
        self.loader = loader
        self.log_every = {binding}

    def fit(self, model):
        for i, batch in enumerate(self.loader):
            loss = model(batch)
            if i % self.log_every == 0:
                print(i, loss.item())
"""


@pytest.mark.parametrize("binding, fires", [
    ("int(log_every * len(self.loader))", True),
    ("max(1, int(log_every * len(self.loader)))", False),
    ("log_every", False),
])
def test_mlx173_on_a_class_attribute(binding: str, fires: bool):
    assert bool(fired(TRAINER.format(binding=binding), "MLX173")) == fires


FOLDS = """
def run_fold(k):
    ym, ys = y[k].mean(), y[k].std()
    target = mx.array((y[k] - ym) / ys)
    for epoch in range(5):
        loss, grads = loss_and_grad(model, x, target)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
{per_step}

for k in range(4):
    run_fold(k)
"""


def test_mlx028_reads_the_loop_that_steps_not_the_loop_over_folds():
    """fresh72 cheese_rind_kfold: the fold's targets standardised once before its training
    loop were called a step's division by a standard deviation, through the loop over
    folds that calls the run."""
    assert not fired(FOLDS.format(per_step=""), "MLX028")
    per_step = "        adv = (loss - loss.mean()) / loss.std()"
    assert fired(FOLDS.format(per_step=per_step), "MLX028")


QUANTIZE = """
@mx.custom_function
def quantize(z):
    return mx.round(z * 15) / 15
{vjp}

def loss_fn(model, x):
    return mx.mean(mx.square(quantize(model(x)) - x))

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
VJP = """
@quantize.vjp
def quantize_vjp(primals, cotangent, output):
    return (cotangent,)
"""


@pytest.mark.parametrize("vjp, fires", [(VJP, False), ("", True),
                                        ("quantize.vjp(lambda p, c, o: (c,))", False)])
def test_mlx034_stands_down_in_a_custom_function_that_gives_its_vjp(vjp: str, fires: bool):
    """fresh73 reflectance_ste_codec: a rounding inside an `mx.custom_function` whose vjp
    passes the cotangent straight through is the straight-through estimator itself."""
    assert bool(fired(QUANTIZE.format(vjp=vjp), "MLX034")) == fires


FOLD_RESULTS = """
def accuracy(model, x, y):
    return {returned}


def train_fold(model, x, y):
    for i in range(10):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    return accuracy(model, x, y), float(loss.item())


accs = []
for k in range(5):
    acc, ce = train_fold(model, xs[k], ys[k])
    accs.append(acc)
"""


@pytest.mark.parametrize("returned, fires", [
    ("float(mx.mean(mx.argmax(model(x), axis=1) == y).item())", False),
    ("mx.mean(mx.argmax(model(x), axis=1) == y)", True),
])
def test_mlx008_reads_a_helper_that_returns_a_python_number_as_one(returned: str, fires: bool):
    """fresh74 otolith_stock_kfold_squareplus: a fold's accuracy, a Python float its helper
    returns, kept in a list across folds was read as an array kept unevaluated."""
    assert bool(fired(FOLD_RESULTS.format(returned=returned), "MLX008")) == fires


SUMMED = """
def loss_sum(model, x, y):
    return nn.losses.cross_entropy(model(x), y).sum()

loss_and_grad = nn.value_and_grad(model, loss_sum)
for x, y in batches:
    loss, grads = loss_and_grad(model, x, y)
{normalised}
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


@pytest.mark.parametrize("normalised, fires", [
    ("", True),
    ("    grads = tree_map(lambda g: g / x.shape[0], grads)", False),
    ("    grads = tree_map(lambda g: mx.divide(g, len(y)), grads)", False),
    ("    grads = tree_map(lambda g: g * 0.5, grads)", True),
])
def test_mlx090_stands_down_when_the_summed_gradients_are_divided(normalised: str,
                                                                  fires: bool):
    """fresh76 bread_proof_pinball_accum: a loss summed over each micro-batch whose
    accumulated gradients are divided by the examples seen is a mean after the fact."""
    code = "from mlx.utils import tree_map\n" + SUMMED.format(normalised=normalised)
    assert bool(fired(code, "MLX090")) == fires


MIXED = """
master = tree_map(lambda p: p.astype(mx.float32), model.parameters())

def loss_fn(params, x, y):
    model.update(tree_map(lambda p: p.astype(mx.bfloat16), params))
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

vg = mx.value_and_grad(loss_fn)

def valid(params):
    tot = 0.0
    for s in range(0, n, 256):
        tot += {read}
    return tot
"""


@pytest.mark.parametrize("read, fires", [
    ("float(loss_fn(params, x[s:s + 256], y[s:s + 256]))", False),
    ("loss_fn(params, x[s:s + 256], y[s:s + 256])", True),
    ("float(len(x)) * loss_fn(params, x[s:s + 256], y[s:s + 256])", True),
])
def test_mlx014_counts_a_float_of_a_calls_result_as_an_evaluation(read: str, fires: bool):
    """fresh79 typewriter_telegram_bf16_bpc: a validation loop that casts master weights
    into the model in its loss and reads each chunk's loss with float(...) evaluates every
    step."""
    code = "from mlx.utils import tree_map\n" + MIXED.format(read=read)
    assert bool(fired(code, "MLX014")) == fires


def test_mlx144_a_train_call_alone_switches_nothing():
    """fresh80 solubility_dropout_eval (mlx issue 1531): `model.train()` before the loop and
    no `model.eval()` anywhere: every evaluation runs with dropout on."""
    code = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(8, 1)

    def __call__(self, x):
        return self.out(self.drop(x))

def evaluate(model, x, y):
    return mx.mean((model(x) - y) ** 2).item()

loss_and_grad = nn.value_and_grad(model, loss_fn)
model.train(){switch}
for epoch in range(10):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    print(evaluate(model, xv, yv))
"""
    assert fired(code.format(switch=""), "MLX144")
    assert fired(code.format(switch="\nmodel.train(True)"), "MLX144")
    assert not fired(code.format(switch="\nmodel.train(False)"), "MLX144")
    assert not fired(code.format(switch="\nmodel.eval()"), "MLX144")


ARGS_TRAINER = """
class Trainer:
    def __init__(self, model, loss_fn, loss_fn_args=None):
        self.model, self.loss_fn = model, loss_fn
        self.loss_fn_args = {bound}

    def step(self, x, y):
        return mx.mean(self.loss_fn(self.model(x), y, {use}))
"""


@pytest.mark.parametrize("bound, use, fires", [
    ("loss_fn_args", "**self.loss_fn_args", True),
    ("loss_fn_args or {}", "**self.loss_fn_args", False),
    ("loss_fn_args", "**(self.loss_fn_args or {})", False),
    ("loss_fn_args", "**self.loss_fn_args if self.loss_fn_args else None", False),
])
def test_mlx174_a_none_default_unpacked_as_an_attribute(bound: str, use: str, fires: bool):
    """fresh80 glyph_trainer_loss_args (mlx-image commit 67ca744)."""
    assert bool(fired(ARGS_TRAINER.format(bound=bound, use=use), "MLX174")) == fires


@pytest.mark.parametrize("body, fires", [
    ("return f(x, **kwargs)", True),
    ("kwargs = kwargs or {}\n    return f(x, **kwargs)", False),
    ("if kwargs is not None:\n        return f(x, **kwargs)", False),
])
def test_mlx174_a_none_default_unpacked_in_its_own_function(body: str, fires: bool):
    code = f"def loss(f, x, kwargs=None):\n    {body}\n"
    assert bool(fired(code, "MLX174")) == fires
    assert not fired(code.replace("kwargs=None", "kwargs={}"), "MLX174")


@pytest.mark.parametrize("exponent, fires", [
    ("-2 * a", False), ("a * -2.0", False), ("-a", False), ("2 * a", True), ("-2 * d", True),
])
def test_mlx128_a_negative_multiple_of_a_magnitude_is_bounded(exponent: str, fires: bool):
    """fresh83 gelato_overrun_logcosh_vjp: the stable log-cosh `a + log1p(exp(-2 * a))`
    with `a = mx.abs(d)` never overflows."""
    code = f"""
def loss_fn(model, x, y):
    d = model(x) - y
    a = mx.abs(d)
    return mx.mean(a + mx.log1p(mx.exp({exponent})))

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
    assert bool(fired(code, "MLX128")) == fires
