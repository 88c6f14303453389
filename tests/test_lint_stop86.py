"""Stop 86's lint changes.

- MLX002 follows a loss into a method of one of the module's classes called on any object
  (`m.log_joint(x, y)`), as it follows a module function: a mixture's marginal likelihood
  `-logsumexp(m.log_joint(x, y)).mean()`, whose target meets the means inside the method, is
  not a log-softmax with no label (fresh314 `correct_meltwater_gauge_gem_resume`, a correct
  mixture regression, was found).
- MLX028 judges a call of the module's own function or method (`stats.std()`) by what it
  returns, not by its name: a running Welford statistic's `np.sqrt(self.m2 / max(n - 1, 1))`
  is no group's spread of one step (fresh313 `ropewalk_breakload_resume`, correct, was found).
- MLX171 counts a name a loop or a comprehension binds to an array's elements (`for i in
  idx`, `idx = mx.random.randint(...)`) as an array, and MLX160 follows a module instance
  into the function a gradient or compile transformation hands it to (`nn.value_and_grad(
  model, lambda m: ... m(x) ...)(model)`): fresh317 `lantern_wick_charlm` (tinyllm 316eaa4,
  both lines of its fix) was missed.
- MLX273: an MLX random draw or `mx.full` handed a sequence where it takes a value, or a
  number where a draw takes its shape (fresh318 `cairn_compass_irrepdrop`, e3nn-mlx 8606409:
  `mx.random.bernoulli((batch, mul), 1 - self.p)` raised TypeError in training).
- MLX154 leaves out an `__init__` table that a method multiplies or offsets by another of
  the class's own trained arrays (fresh319 `wax_cylinder_s4d_fftconv`, correct: S4D's
  frequencies `pi * arange(n)` times its learned step `exp(self.log_dt)`, was found).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

MIXTURE = """
class Mixture(nn.Module):
    def __init__(self, k=2, d=3):
        super().__init__()
        self.coef = mx.zeros((k, d))
        self.log_sigma = mx.zeros((k,))
        self.mix_logit = mx.zeros((k,))

    def log_joint(self, x, y):
        mean = x @ self.coef.T
        z = ({target}) / mx.exp(self.log_sigma)
        return -0.5 * z ** 2 - self.log_sigma + nn.log_softmax(self.mix_logit)

def marginal_nll(m, x, y):
    return -mx.logsumexp(m.log_joint(x, y), axis=1).mean()
"""


def test_a_target_met_inside_a_method_is_a_mixture_likelihood() -> None:
    assert fired(MIXTURE.format(target="y[:, None] - mean"), "MLX002") == []


def test_a_method_whose_log_softmax_meets_no_target_is_still_found() -> None:
    assert fired(MIXTURE.format(target="mean"), "MLX002") == [15]


CLASSIFIER = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def log_probs(self, x):
        logits = self.fc(x)
        return logits - mx.logsumexp(logits, axis=-1, keepdims=True)

def loss_fn(model, x, labels):
    return -mx.mean(model.log_probs(x))
"""


def test_a_log_softmax_in_a_method_with_no_label_is_found() -> None:
    assert fired(CLASSIFIER, "MLX002") == [12]


RUNNING = """
class Stats:
    def __init__(self, d):
        self.n, self.mean, self.m2 = 0, np.zeros(d), np.zeros(d)

    def update(self, xb):
        for row in xb:
            self.n += 1
            delta = row - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (row - self.mean)

    def std(self):
        return {spread}

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

lg = nn.value_and_grad(model, loss_fn)
stats = Stats(4)
for step in range(100):
    stats.update(X[step])
    xb = (X[step] - stats.mean) / stats.std()
    loss, grads = lg(model, mx.array(xb), y[step])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


def test_a_running_statistic_of_the_modules_own_class_is_no_steps_spread() -> None:
    assert fired(RUNNING.format(spread="np.sqrt(self.m2 / max(self.n - 1, 1))"), "MLX028") == []


@pytest.mark.parametrize("spread", ["mx.std(self.last, axis=0)", "self.last.std(axis=0)"])
def test_an_own_std_that_returns_a_bare_std_is_still_found(spread: str) -> None:
    assert fired(RUNNING.format(spread=spread), "MLX028") == [23]


BATCH = """
data = mx.array(np.arange(1000))

def get_batch(data, batch_size, ctx_len):
    idx = mx.random.randint(0, len(data) - ctx_len - 1, (batch_size,)){tolist}
    x = mx.stack([data[i:i + ctx_len] for i in idx])
    return x

x = get_batch(data, 8, 16)
"""


def test_a_slice_bound_taken_from_an_arrays_elements_is_found() -> None:
    assert fired(BATCH.format(tolist=""), "MLX171") == [6]


def test_a_slice_bound_from_a_list_or_a_range_is_quiet() -> None:
    assert fired(BATCH.format(tolist=".tolist()"), "MLX171") == []
    ranged = BATCH.format(tolist="").replace("for i in idx", "for i in range(4)")
    assert fired(ranged, "MLX171") == []


FORWARD = """
class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)

model = GPT()
opt = optim.Adam(learning_rate=1e-3)
for step in range(10):
    {step}
    opt.update(model, grads)
"""


@pytest.mark.parametrize("step", [
    "loss, grads = nn.value_and_grad(model, lambda m: mx.mean(m(x) ** 2))(model)",
    "loss, grads = mx.compile(nn.value_and_grad(model, lambda m, b: mx.mean(m(b))))(model, x)",
])
def test_a_forward_only_module_called_inside_a_differentiated_lambda_is_found(step: str) -> None:
    assert fired(FORWARD.format(step=step), "MLX160") == [13]


def test_a_differentiated_lambda_that_calls_forward_is_quiet() -> None:
    step = "loss, grads = nn.value_and_grad(model, lambda m: mx.mean(m.forward(x) ** 2))(model)"
    assert fired(FORWARD.format(step=step), "MLX160") == []


def test_a_named_value_and_grad_hands_the_model_to_its_loss() -> None:
    code = FORWARD.format(step="loss, grads = vg(model, x)").replace(
        "model = GPT()\n", "model = GPT()\n"
        "def loss_fn(m, b):\n    return mx.mean(m(b))\nvg = nn.value_and_grad(model, loss_fn)\n")
    assert fired(code, "MLX160") == [12]


@pytest.mark.parametrize("call", [
    "mx.random.bernoulli((batch, n), 1 - p)", "mx.random.uniform((batch, n))",
    "mx.random.randint([0, 0], 10, (batch, 2))", "mx.random.normal(0.0, 1.0)",
    "mx.random.normal((batch,), loc=(0.0, 1.0))", "mx.full((batch,), (1.0, 2.0))",
    "mx.random.bernoulli(p, 3)", "mx.random.uniform(shape=n * 2.0)"])
def test_a_shape_where_a_value_goes_or_a_number_as_a_shape_is_found(call: str) -> None:
    assert fired(f"batch, n, p = 4, 8, 0.1\nnoise = {call}\n", "MLX273") == [2]


@pytest.mark.parametrize("call", [
    "mx.random.bernoulli(1 - p, (batch, n))", "mx.random.uniform(shape=(batch, n))",
    "mx.random.normal((batch, n), loc=0.0, scale=2.0)", "mx.zeros(3)", "mx.full((batch,), 0.5)",
    "mx.random.uniform(mx.array([0.0, 1.0]), 2.0, (batch, 2))", "mx.random.normal(shape)",
    "mx.random.normal(x.shape[:1] + (n,))", "mx.random.normal((3,) * 2)", "mx.reshape(x, (n,))",
    "mx.random.randint(0, n, [batch])"])
def test_values_and_shapes_in_their_places_are_quiet(call: str) -> None:
    code = f"batch, n, p = 4, 8, 0.1\nx = mx.zeros((4,))\nshape = (2, 3)\nnoise = {call}\n"
    assert fired(code, "MLX273") == []


S4D = """
class S4D(nn.Module):
    def __init__(self, h, n):
        super().__init__()
        self.log_dt = mx.random.uniform(-3.0, -1.0, (h, 1))
        self.w = mx.broadcast_to(3.14159 * mx.arange(n, dtype=mx.float32), (h, n))
        self.c = mx.random.normal((h, n))

    def kernel(self, length):
        dt = mx.exp(self.log_dt)
        ang = {angle}
        return (self.c[..., None] * mx.cos(ang)).sum(axis=1)

    def __call__(self, u):
        return u * self.kernel(u.shape[1]).T

model = S4D(4, 8)
opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, u: mx.mean(m(u) ** 2))
for step in range(10):
    loss, grads = loss_and_grad(model, mx.ones((2, 16, 4)))
    opt.update(model, grads)
"""


def test_a_table_scaled_by_a_trained_array_of_its_class_is_a_parameterisation() -> None:
    angle = "(self.w * dt)[..., None] * mx.arange(length)"
    assert fired(S4D.format(angle=angle), "MLX154") == []


@pytest.mark.parametrize("angle", [
    "self.w[..., None] * mx.arange(length)",
    "(self.w * (dt * length))[..., None] * mx.arange(length)"])
def test_a_table_applied_to_what_the_method_is_given_is_still_found(angle: str) -> None:
    assert fired(S4D.format(angle=angle), "MLX154") == [6]
