"""The dataflow rules (MLX014-MLX022) on small programs: each fires on its bug however the
bug is spelled, and stays silent on the fixed form and on near misses from real code."""

from __future__ import annotations

import pytest
from lint_snippets import HEADER, fired

# MLX014: state updated in a loop and never evaluated, whatever updates it -------------------

@pytest.mark.parametrize("update", [
    "model.update(tree_map(lambda p, g: p - 0.1 * g, model.parameters(), grads))",
    "params = tree_map(lambda p, g: p - 0.1 * g, params, grads)",
    "params = {k: params[k] - 0.1 * grads[k] for k in params}",
])
def test_mlx014_update_never_evaluated(update: str) -> None:
    code = f"""
    for step in range(1000):
        loss, grads = loss_and_grad(params, x, y)
        {update}
        if step % 500 == 0:
            print(loss.item())
    """
    assert fired(code, "MLX014") == [4]


@pytest.mark.parametrize("update", [
    "for i, p in enumerate(params):\n            p -= lr * g[i]",
    "w = w - lr * dw",
    "params[0] -= 0.1 * g[0]",
    "params = [p - lr * d for p, d in zip(params, g)]",
])
def test_mlx014_hand_written_step_never_evaluated(update: str) -> None:
    """A descent step spelled by hand on arrays carried by the loop (mlx#1711)."""
    code = f"""
    for step in range(1000):
        loss, g = loss_and_grad(*params, x, y)
        dw = g[0]
        {update}
        if step % 500 == 0:
            print(step)
    """
    assert len(fired(code, "MLX014")) == 1


@pytest.mark.parametrize("update", [
    "for i, p in enumerate(params):\n            p -= lr * g[i]\n        mx.eval(params)",
    "lr = lr - 0.001 * step",
    "grad_sum -= g[0]\n        mx.eval(grad_sum)",
])
def test_mlx014_hand_written_step_evaluated_or_no_step_is_clean(update: str) -> None:
    code = f"""
    for step in range(1000):
        loss, g = loss_and_grad(*params, x, y)
        {update}
    """
    assert fired(code, "MLX014") == []


@pytest.mark.parametrize("evaluation", [
    "mx.eval(params, loss)",
    "print(loss.item())",
    "losses.append(np.array(loss))",
    "if step % 10 == 0:\n            mx.eval(params)",
])
def test_mlx014_evaluated_each_step_is_clean(evaluation: str) -> None:
    code = f"""
    for step in range(1000):
        loss, grads = loss_and_grad(params, x, y)
        params = tree_map(lambda p, g: p - 0.1 * g, params, grads)
        {evaluation}
    """
    assert fired(code, "MLX014") == []


def test_mlx014_inner_loop_evaluated_by_the_outer_one() -> None:
    code = """
    for epoch in range(10):
        for batch in data:
            loss, grads = loss_and_grad(params, batch)
            params = tree_map(lambda p, g: p - 0.1 * g, params, grads)
        mx.eval(params)
    """
    assert fired(code, "MLX014") == []


# MLX015: evaluation inside a compiled or vmapped function -----------------------------------

@pytest.mark.parametrize("decorator, evaluation", [
    ("@mx.compile", "mx.eval(y)"),
    ("@partial(mx.compile, inputs=state)", "print(y.item())"),
    ("", "values = y.tolist()"),
])
def test_mlx015_eval_under_compile(decorator: str, evaluation: str) -> None:
    code = f"""
    {decorator}
    def step(x):
        y = x * 2
        {evaluation}
        return y

    fast = mx.compile(step)
    """
    assert fired(code, "MLX015") == [5]


def test_mlx015_method_compiled_through_partial_call() -> None:
    """`self.step = partial(mx.compile, inputs=..., outputs=...)(self._step)`: not a decorator."""
    code = """
    class Trainer:
        def __init__(self):
            self.step = partial(mx.compile, inputs=self.state, outputs=self.state)(self._step)

        def _step(self, x):
            loss = (x * 2).sum()
            self.running = 0.9 * self.running + 0.1 * loss.item()
            return loss
    """
    assert fired(code, "MLX015") == [8]


@pytest.mark.parametrize("test", [
    "while mx.any(scores[1:] < scores[:-1]):",
    "if (scores.max() - scores.min()) > 1.0:",
    "assert mx.all(mx.isfinite(scores))",
])
def test_mlx015_array_branch_in_the_loss_of_a_compiled_step(test: str) -> None:
    """The branch sits two calls deep: step -> grad_fn (value_and_grad of loss_fn) -> fix."""
    code = f"""
    def fix(scores):
        {test}
            scores = mx.maximum(scores, 0.0)
        return scores

    def loss_fn(model, x, y):
        return mx.mean((fix(model(x)) - y) ** 2)

    grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = grad_fn(model, x, y)
        optimizer.update(model, grads)
        return loss
    """.replace("assert mx.all(mx.isfinite(scores))\n            scores", "assert mx.all("
                "mx.isfinite(scores))\n        scores")
    assert fired(code, "MLX015") == [3]


def test_mlx015_branches_on_python_values_and_shapes_are_clean() -> None:
    code = """
    def fix(scores, clip):
        if scores.shape[0] > 1 and clip is not None:
            scores = mx.minimum(scores, clip)
        while len(scores.shape) < 2:
            scores = scores[None]
        return scores

    @mx.compile
    def step(x):
        return fix(x * 2, None)

    def uncompiled(x):
        while mx.any(x > 1):
            x = x / 2
        return x
    """
    assert fired(code, "MLX015") == []


def test_mlx015_eval_outside_the_compiled_function_is_clean() -> None:
    code = """
    @mx.compile
    def step(x):
        return x * 2

    y = step(mx.ones(3))
    print(y.item())
    """
    assert fired(code, "MLX015") == []


# MLX016: the loss reaches its inputs only through a Python value or stop_gradient ------------

@pytest.mark.parametrize("body", [
    "return mx.array(model(x).sum().item())",
    "value = float(mx.mean(model(x) - y))\n        return mx.array(value)",
    "return mx.stop_gradient(model(x)).sum()",
])
def test_mlx016_gradient_cut(body: str) -> None:
    code = f"""
    def loss_fn(model, x, y):
        {body}

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX016") == [3]


def test_mlx016_item_for_logging_beside_a_live_loss_is_clean() -> None:
    code = """
    def loss_fn(model, x, y):
        loss = mx.mean((model(x) - y) ** 2)
        scale = float(x.shape[0])
        target = mx.stop_gradient(y)
        return loss * scale + mx.mean(target)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX016") == []


# MLX017: the differentiated argument passed by keyword --------------------------------------

def test_mlx017_keyword_call() -> None:
    code = """
    grad_fn = mx.value_and_grad(loss_fn)
    loss, grads = grad_fn(params=params, x=x, y=y)
    ok = grad_fn(params, x=x, y=y)
    """
    assert fired(code, "MLX017") == [3]


def test_mlx017_nn_value_and_grad_takes_keywords() -> None:
    code = """
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    loss, grads = loss_and_grad(model=model, x=x)
    second = mx.grad(loss_fn, argnums=1)
    g = second(params, x, y=y)
    """
    assert fired(code, "MLX017") == []


# MLX018: a per-example loss differentiated --------------------------------------------------

def test_mlx018_reduction_none_differentiated() -> None:
    code = """
    def loss_fn(model, x, y):
        losses = nn.losses.mse_loss(model(x), y, reduction="none")
        return losses

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX018") == [4]


def test_mlx018_reduced_afterwards_is_clean() -> None:
    code = """
    def loss_fn(model, x, y, w):
        losses = nn.losses.mse_loss(model(x), y, reduction="none")
        return (losses * w).mean()

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX018") == []


@pytest.mark.parametrize("loss", [
    "nn.losses.cross_entropy(model(x), y)",  # cross_entropy's reduction defaults to "none"
    "nn.losses.mse_loss(model(x), y, reduction='none') * w[:, None]",
    "mx.square(nn.losses.nll_loss(model(x), y)) + 0.1",
])
def test_mlx018_unreduced_default_or_elementwise(loss: str) -> None:
    code = f"""
    loss_and_grad = nn.value_and_grad(model, lambda model, x, y, w: {loss})
    """
    assert fired(code, "MLX018") == [2]


@pytest.mark.parametrize("loss", [
    "nn.losses.cross_entropy(model(x), y).mean()",
    "nn.losses.cross_entropy(model(x), y, reduction='mean')",
    "nn.losses.mse_loss(model(x), y) * w",  # mse_loss's reduction defaults to "mean"
    "mx.sum(nn.losses.cross_entropy(model(x), y) * w) / w.sum()",
    "nn.losses.cross_entropy(model(x), y, None, -1, 0.0, 'sum')",
])
def test_mlx018_reduced_losses_are_clean(loss: str) -> None:
    code = f"""
    loss_and_grad = nn.value_and_grad(model, lambda model, x, y, w: {loss})
    """
    assert fired(code, "MLX018") == []


# MLX019: a random weight in a _private attribute --------------------------------------------

def test_mlx019_private_random_weight() -> None:
    code = """
    class Scorer(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self._proj = mx.random.normal((dim, dim)) * 0.02
            self._inv_freq = 1.0 / (10000 ** (mx.arange(0, dim, 2) / dim))

        def __call__(self, x):
            return x @ self._proj * self._inv_freq
    """
    assert fired(code, "MLX019") == [5]


# MLX020: the clamp after sqrt of a distance --------------------------------------------------

def test_mlx020_clamp_after_sqrt_of_a_distance() -> None:
    code = """
    def dist(a, b):
        diff = a[:, None] - b[None]
        d2 = (diff * diff).sum(-1)
        return mx.maximum(mx.sqrt(d2), 1e-6)

    def safe(a, b):
        d2 = ((a - b) ** 2).sum(-1)
        return mx.sqrt(mx.maximum(d2, 1e-6))

    def normalize(x):
        return x / mx.maximum(mx.sqrt(mx.sum(x * x, axis=-1)), 1e-12)

    def loss_fn(model, a, b):
        return dist(model(a), b).mean() + safe(a, b).mean() + normalize(a).mean()

    step = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX020") == [5]


def test_mlx020_is_quiet_outside_differentiated_code() -> None:
    code = """
    def advantages(rew):
        mu = rew.mean(axis=1, keepdims=True)
        sd = mx.sqrt(mx.mean(mx.square(rew - mu), axis=1, keepdims=True))
        return (rew - mu) / mx.maximum(sd, 1e-6)

    def pg_loss(policy, ctx, adv):
        return -mx.mean(adv * policy(ctx))

    step = nn.value_and_grad(policy, pg_loss)
    adv = advantages(rewards)
    """
    assert fired(code, "MLX020") == []


# MLX021: gradients computed and never applied -----------------------------------------------

def test_mlx021_grads_never_applied() -> None:
    code = """
    for epoch in range(100):
        loss, grads = loss_and_grad_fn(model, x, y)
        mx.eval(model.parameters(), loss)
    """
    assert fired(code, "MLX021") == [3]


@pytest.mark.parametrize("use", [
    "optimizer.update(model, grads)",
    "accumulated = grads if accumulated is None else tree_map(mx.add, accumulated, grads)",
])
def test_mlx021_grads_used_is_clean(use: str) -> None:
    code = f"""
    accumulated = None
    for epoch in range(100):
        loss, grads = loss_and_grad_fn(model, x, y)
        {use}
        mx.eval(model.parameters(), loss)
    """
    assert fired(code, "MLX021") == []


# MLX022: the log of a saturating probability ------------------------------------------------

def test_mlx022_log_of_sigmoid() -> None:
    code = """
    def loss_fn(model, x, y):
        p = mx.sigmoid(model(x))
        return -(y * mx.log(p) + (1 - y) * mx.log(1 - p)).mean()

    def sample(logits):
        return mx.log(mx.softmax(logits, axis=-1)) + noise
    """
    assert fired(code, "MLX022") == [4, 4]


def test_mlx022_probability_into_a_loss_that_logs_it() -> None:
    """binary_cross_entropy told its input is a probability logs it (fresh5's
    bce_probs_saturation_nan: loss NaN once the classifier is confident)."""
    code = """
    def loss_fn(m, x, t):
        p = mx.sigmoid(m(x).squeeze(-1))
        return nn.losses.binary_cross_entropy(p, t, with_logits=False)

    def other(m, x, t):
        return nn.losses.binary_cross_entropy(mx.sigmoid(m(x)), t, with_logits=False)
    """
    assert fired(code, "MLX022") == [4, 7]


def test_mlx022_a_loss_given_logits_or_a_guarded_probability_is_clean() -> None:
    code = """
    def loss_fn(m, x, t):
        p = mx.clip(mx.sigmoid(m(x)), 1e-6, 1 - 1e-6)
        a = nn.losses.binary_cross_entropy(p, t, with_logits=False)
        return a + nn.losses.binary_cross_entropy(m(x), t, with_logits=True)
    """
    assert fired(code, "MLX022") == []


def test_mlx022_fused_forms_are_clean() -> None:
    code = """
    def loss_fn(model, x, y):
        z = model(x)
        return nn.losses.binary_cross_entropy(z, y, with_logits=True) + mx.log(z.exp()).mean()
    """
    assert fired(code, "MLX022") == []


# MLX023: a compiled step that updates state it does not declare -----------------------------

@pytest.mark.parametrize("compiled", ["@mx.compile", "@partial(mx.compile, shapeless=True)"])
def test_mlx023_compiled_update_without_state(compiled: str) -> None:
    code = f"""
    {compiled}
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss
    """
    assert fired(code, "MLX023") == [2]


def test_mlx023_compile_call_and_declared_state() -> None:
    code = """
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        model.update(apply(grads))
        return loss

    fast = mx.compile(step)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def good(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    @mx.compile
    def forward(x):
        return model(x)
    """
    assert fired(code, "MLX023") == [7]


# MLX024: an op with no VJP in differentiated code --------------------------------------------

def test_mlx024_inverse_in_a_module_method_under_value_and_grad() -> None:
    code = """
    class Gaussian(nn.Module):
        def nll(self, x):
            cov = self.chol @ self.chol.T
            prec = mx.linalg.inv(cov, stream=mx.cpu)
            return ((x @ prec) * x).sum()

    loss_and_grad = nn.value_and_grad(model, lambda m, x: m.nll(x))
    """
    assert fired(code, "MLX024") == [5]


def test_mlx024_a_path_its_flag_turns_off_is_clean_while_the_flag_stays_on() -> None:
    """fresh27 zca_fast_eigh_path: the eigh path runs under `if self.use_fast_path`; the
    fixed twin sets `model.white.use_fast_path = False` before training."""
    code = """
    class Whiten(nn.Module):
        def _fast(self, cov):
            return mx.linalg.eigh(cov, stream=mx.cpu)[1]

        def __call__(self, h):
            cov = h.T @ h
            return h @ (self._fast(cov) if self.use_fast_path else cov)

    loss_and_grad = nn.value_and_grad(model, lambda m, x: m(x).sum())
    """
    assert fired(code, "MLX024") == [4]
    assert fired(code + "model.white.use_fast_path = False\n", "MLX024") == []


def test_mlx024_constant_operand_or_no_gradient_is_clean() -> None:
    code = """
    def loss_fn(model, x):
        basis = mx.linalg.qr(mx.random.normal((4, 4)), stream=mx.cpu)[0]
        return (model(x) @ basis).sum()

    def whiten(x):
        return x @ mx.linalg.inv(x.T @ x, stream=mx.cpu)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX024") == []


def test_mlx024_a_custom_function_with_its_own_vjp_is_clean() -> None:
    """Measured (mlx 0.32.4 CPU): mx.grad of an mx.custom_function that inverts K returns the
    hand-written vjp's gradient; the same function without `@f.vjp` raises
    `[Primitive::vjp] Not implemented for Inverse`."""
    code = """
    @mx.custom_function
    def nlml(K, r):
        return r @ mx.linalg.inv(K, stream=mx.cpu) @ r

    {vjp}
    def objective(params, x):
        return nlml(params["K"], x)

    loss_and_grad = mx.value_and_grad(objective)
    """
    with_vjp = "@nlml.vjp\n    def nlml_vjp(primals, cotangent, output):\n        return primals"
    assert fired(code.format(vjp=with_vjp), "MLX024") == []
    assert fired(code.format(vjp=""), "MLX024") == [4]


# MLX025: training float16 parameters ---------------------------------------------------------

def test_mlx025_float16_parameters_trained() -> None:
    code = """
    DTYPE = mx.float16
    model.set_dtype(DTYPE)
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    """
    assert fired(code, "MLX025") == [3]


def test_mlx025_bfloat16_or_no_training_is_clean() -> None:
    trained = """
    model.set_dtype(mx.bfloat16)
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    """
    converted = """
    model.set_dtype(mx.float16)
    for name, w in weights:
        save(name, w)
    """
    assert fired(trained, "MLX025") == [] and fired(converted, "MLX025") == []


def test_mlx025_float16_copy_that_is_only_saved_is_clean() -> None:
    """A float16 checkpoint written from another model; the trained model stays float32."""
    code = """
    base = Net()
    base.set_dtype(mx.float16)
    base.save_weights(ckpt)
    model = Net()
    model.load_weights(ckpt)
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    """
    assert fired(code, "MLX025") == []


# MLX026: lazy arrays built in a thread and handed to another ---------------------------------

def test_mlx026_producer_thread_hands_out_lazy_arrays() -> None:
    code = """
    def produce(q):
        for batch in loader:
            x = mx.array(batch["x"]) / 255.0
            q.put(x)

    def load(path):
        return mx.load(path)["w"] * 2

    threading.Thread(target=produce, args=(q,)).start()
    future = pool.submit(load, "w.npz")
    """
    assert fired(code, "MLX026") == [5, 8]


def test_mlx026_evaluated_or_numpy_hand_off_is_clean() -> None:
    code = """
    def produce(q):
        for batch in loader:
            x = mx.array(batch["x"]) / 255.0
            mx.eval(x)
            q.put(x)

    def prepare(q):
        for batch in loader:
            q.put(np.asarray(batch["x"]) / 255.0)

    threading.Thread(target=produce, args=(q,)).start()
    threading.Thread(target=prepare, args=(q,)).start()
    """
    assert fired(code, "MLX026") == []


# MLX005, generalised: a summed gradient tree reaching any update undivided -------------------

@pytest.mark.parametrize("update", [
    "params = tree_map(lambda p, g: p - 0.1 * g, params, acc)",
    "model.update(tree_map(lambda p, g: p - 0.1 * g, model.parameters(), acc))",
])
def test_mlx005_summed_by_key_and_applied_by_hand(update: str) -> None:
    code = f"""
    for step in range(100):
        acc = None
        for micro in range(4):
            loss, grads = loss_and_grad(params, batch[micro])
            acc = grads if acc is None else {{k: acc[k] + grads[k] for k in acc}}
        {update}
        mx.eval(params, model.parameters())
    """
    assert fired(code, "MLX005") == [7]


def test_mlx005_divided_before_the_hand_update_is_clean() -> None:
    code = """
    for step in range(100):
        acc = None
        for micro in range(4):
            loss, grads = loss_and_grad(params, batch[micro])
            acc = grads if acc is None else {k: acc[k] + grads[k] for k in acc}
        acc = {k: v / 4 for k, v in acc.items()}
        params = tree_map(lambda p, g: p - 0.1 * g, params, acc)
        mx.eval(params)
    """
    assert fired(code, "MLX005") == []


# MLX027: an nn.Module subclass whose __init__ never runs nn.Module.__init__ ----------------

def test_mlx027_module_without_super_init() -> None:
    code = """
    class Net(nn.Module):
        def __init__(self, width):
            self.layers = [nn.Linear(2, width), nn.Linear(width, 2)]

    class Deeper(Net):
        def __init__(self):
            self.extra = nn.Linear(2, 2)
    """
    assert fired(code, "MLX027") == [3, 7]


def test_mlx027_quiet_when_a_base_init_runs() -> None:
    code = """
    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(2, 2)

    class B(A):
        def __init__(self):
            A.__init__(self)

    class C(nn.Module):
        def __call__(self, x):
            return x

    class Plain:
        def __init__(self):
            self.l = 1
    """
    assert fired(code, "MLX027") == []


def test_mlx025_float16_base_frozen_whole_before_float32_adapters_is_clean() -> None:
    """fresh33 vit_fp16_mlp_overflow's correct twin: the float16 weights are frozen, only the
    float32 layers attached after the freeze are trained; unfreezing them again trains them."""
    code = """
    model.set_dtype(mx.float16)
    model.freeze()
    model.head = nn.Linear(8, 2)
    {thaw}
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    """
    assert fired(code.replace("{thaw}", ""), "MLX025") == []
    assert fired(code.replace("{thaw}", "model.unfreeze()"), "MLX025") == [2]


# MLX008 on dataflow: any array a training step computes, kept across steps ----------------

METRICS = """
def metrics_of(model, x, y):
    logits = model(x)
    probs = mx.softmax(logits, axis=-1)
    entropy = -(probs * mx.log(probs)).sum(axis=-1).mean()
    return {"entropy": entropy, "acc": (logits.argmax(-1) == y).mean()}

def train(model, opt, data):
    grad_fn = nn.value_and_grad(model, loss_fn)
    totals = {"entropy": 0.0, "acc": 0.0}
    for step, (x, y) in enumerate(data):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        metrics = metrics_of(model, x, y)
        for k, v in metrics.items():
            totals[k] += v
        mx.eval(model.parameters(), opt.state, loss{extra})
        if step % 100 == 0:
            print({k: v.item() / 100 for k, v in totals.items()})
"""


def test_mlx008_metrics_summed_across_training_steps() -> None:
    assert fired(METRICS.replace("{extra}", ""), "MLX008") == [16]


def test_mlx008_metrics_in_the_step_eval_are_clean() -> None:
    assert fired(METRICS.replace("{extra}", ", *totals.values()"), "MLX008") == []


def test_mlx008_quiet_outside_training_and_on_python_numbers() -> None:
    code = """
    def validate(model, data):
        correct = 0
        for x, y in data:
            hits = (model(x).argmax(-1) == y).sum()
            correct += hits
        return correct.item()

    def train(model, opt, data):
        total = 0.0
        for x, y in data:
            loss, grads = loss_and_grad(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            value = loss.item()
            total += value
    """
    assert fired(code, "MLX008") == []


# MLX028: a per-step standardisation with no epsilon ----------------------------------------

STANDARDISE = """
X = mx.random.normal((256, 4))
X = (X - X.mean(axis=0)) / X.std(axis=0)

def advantages(rewards):
    r = rewards.reshape(-1, 8)
    mean = r.mean(axis=1, keepdims=True)
    {std}
    return ((r - mean) / {denominator}).reshape(-1)

for step in range(100):
    rewards = reward_fn(policy(X))
    loss, grads = loss_and_grad(policy, X, advantages(rewards))
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state)
"""


@pytest.mark.parametrize("std", [
    "std = r.std(axis=1, keepdims=True)",
    "std = mx.sqrt(mx.var(r, axis=1, keepdims=True))",
    "std = mx.sqrt(((r - mean) ** 2).mean(axis=1, keepdims=True))",
])
def test_mlx028_std_without_epsilon_in_a_training_step(std: str) -> None:
    code = STANDARDISE.replace("{std}", std).replace("{denominator}", "std")
    assert fired(code, "MLX028") == [9]


@pytest.mark.parametrize("std, denominator", [
    ("std = r.std(axis=1, keepdims=True)", "(std + 1e-4)"),
    ("std = r.std(axis=1, keepdims=True)", "mx.maximum(std, 1e-6)"),
    ("var = mx.var(r, axis=1, keepdims=True)", "mx.sqrt(var + 1e-5)"),
])
def test_mlx028_guarded_or_setup_only_is_clean(std: str, denominator: str) -> None:
    """The setup normalisation of X (before the loop) is left alone too."""
    code = STANDARDISE.replace("{std}", std).replace("{denominator}", denominator)
    assert fired(code, "MLX028") == []


# MLX029: a quantized model trained whole ---------------------------------------------------

QUANTIZED = """
def main(model, data):
    {before}
    nn.quantize(model, group_size=32, bits=4)
    {after}
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx029_quantized_then_trained_whole() -> None:
    code = QUANTIZED.replace("{before}", "pass").replace("{after}", "pass")
    assert fired(code, "MLX029") == [4]


@pytest.mark.parametrize("after", [
    "model.freeze()",
    "linear_to_lora_layers(model, 8, {'rank': 8})",
])
def test_mlx029_qlora_recipe_is_clean(after: str) -> None:
    code = QUANTIZED.replace("{before}", "pass").replace("{after}", after)
    assert fired(code, "MLX029") == []


def test_mlx029_quantized_after_training_is_clean() -> None:
    code = """
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    nn.quantize(model, group_size=32, bits=4)
    """
    assert fired(code, "MLX029") == []


# Spellings the dataflow rules follow (a forward pass, inline value_and_grad, helpers) -------

def test_mlx008_metric_expressions_and_metric_dicts_kept() -> None:
    code = """
    model = nn.Linear(4, 2)
    for step in range(1000):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        accuracy += (model(x).argmax(-1) == y).mean()
        history.append({"loss": loss, "scale": mx.abs(x).max()})
        total += loss.item()
        mx.eval(loss)
        weighted += loss * x.shape[0]
    """
    assert fired(code, "MLX008") == [7, 8]


def test_mlx015_branch_on_an_inline_value_and_grad_loss() -> None:
    code = """
    @mx.compile
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        if loss > 1e3:
            return mx.zeros_like(loss)
        return loss
    """
    assert fired(code, "MLX015") == [5]


@pytest.mark.parametrize("loss, lines", [
    ("mx.square(model(x) - y)", [2]),
    ("(pred - y) ** 2", [2]),
    ("mx.mean(mx.square(model(x) - y))", []),
    ("model(x, y) * 0.5", []),  # a model that returns its own loss
])
def test_mlx018_prediction_minus_target_unreduced(loss: str, lines: list[int]) -> None:
    code = f"""
    def loss_fn(model, x, y):
        pred = model(x)
        return {loss}

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    """
    assert [n - 2 for n in fired(code, "MLX018")] == lines


def test_mlx029_quantized_then_handed_to_a_training_function() -> None:
    code = """
    def train(model, optimizer, data):
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        for x, y in data:
            loss, grads = loss_and_grad(model, x, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)

    def main():
        student = nn.Sequential(nn.Linear(64, 64))
        nn.quantize(student, 32, 4)
        train(student, optim.Adam(learning_rate=1e-3), batches())
    """
    assert fired(code, "MLX029") == [11]


RMS = """
class RMSNorm(nn.Module):
    def __call__(self, x):
        ms = {ms}
        return self.weight * x * mx.rsqrt({root})

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)
for x, y in data:
    loss, grads = loss_and_grad(model, x, y)
"""


@pytest.mark.parametrize("ms, root", [
    ("mx.mean(x * x, axis=-1, keepdims=True)", "ms"),
    ("mx.square(x).mean(axis=-1, keepdims=True)", "ms"),
    ("(x ** 2).mean(-1, keepdims=True)", "ms"),
    ("mx.mean(x * x, axis=-1, keepdims=True)", "ms + 1e-6) * (ms ** -0.5"),
])
def test_mlx028_rmsnorm_without_epsilon_in_the_differentiated_forward(ms: str, root: str) \
        -> None:
    """mlx#4312: rsqrt of a bare mean square is inf on an all-zero row."""
    assert fired(RMS.replace("{ms}", ms).replace("{root}", root), "MLX028") == [5]


@pytest.mark.parametrize("ms, root", [
    ("mx.mean(x * x, axis=-1, keepdims=True)", "ms + 1e-6"),
    ("mx.mean(x * x, axis=-1, keepdims=True) + self.eps", "ms"),
    ("mx.mean(x * y, axis=-1, keepdims=True)", "ms"),
])
def test_mlx028_rmsnorm_with_epsilon_is_clean(ms: str, root: str) -> None:
    assert fired(RMS.replace("{ms}", ms).replace("{root}", root), "MLX028") == []


def test_mlx028_rmsnorm_without_a_gradient_in_the_module_is_clean() -> None:
    """Inference code (no value_and_grad, no training loop) is left alone."""
    code = RMS.replace("{ms}", "mx.mean(x * x, axis=-1)").replace("{root}", "ms")
    assert fired(code.split("def loss_fn")[0], "MLX028") == []


@pytest.mark.parametrize("body, fires", [
    ("return z / mx.sqrt((z * z).sum(-1, keepdims=True))", False),
    ("return z / mx.linalg.norm(z, axis=-1, keepdims=True)", False),
    ("n2 = mx.sum(mx.square(z), axis=-1, keepdims=True)\n        return z / mx.sqrt(n2)", False),
    ("return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)", False),
    ("return z / mx.maximum(mx.linalg.norm(z, axis=-1, keepdims=True), 1e-8)", False),
])
def test_mlx028_l2_normalisation_is_left_alone(body: str, fires: bool) -> None:
    """`z / norm(z)` with no epsilon: CLIP-style code trains fine (a learned projection's norm is
    never 0 in practice; corpus/fresh3 pyfloat_in_params_ok), so it is not reported."""
    code = RMS.replace("ms = {ms}\n        return self.weight * x * mx.rsqrt({root})",
                       "z = self.proj(x)\n        " + body)
    assert bool(fired(code, "MLX028")) == fires


def test_mlx014_grad_function_result_steps_the_parameters_never_evaluated() -> None:
    """`g = step(params, x, y)` with `step = mx.grad(loss_fn)`: the result names the
    gradients whatever it is called."""
    code = """
    step = mx.grad(loss_fn)
    for i in range(5000):
        g = step(params, x, y)
        for k in params:
            params[k] = params[k] - 0.01 * g[k]
    print(loss_fn(params, x, y).item())
    """
    assert fired(code, "MLX014") == [6]
    assert fired(code.replace("0.01 * g[k]\n", "0.01 * g[k]\n        mx.eval(params)\n"),
                 "MLX014") == []


def test_mlx008_a_counter_rebound_from_an_aux_output_of_the_grad_call() -> None:
    """`correct = correct + (argmax(logits) == y).sum()` with logits the auxiliary output of
    `(loss, logits), grads = step(...)` (fresh6's lazy_accuracy_counter_pins_logits)."""
    code = """
    step = nn.value_and_grad(model, loss_fn)
    correct = mx.array(0)
    for x, y in batches():
        (loss, logits), grads = step(model, x, y)
        optimizer.update(model, grads)
        correct = correct + (mx.argmax(logits, axis=-1) == y).sum()
        mx.eval(model.parameters(), optimizer.state, loss)
    print(correct.item())
    """
    assert fired(code, "MLX008") == [7]
    evaluated = code.replace("optimizer.state, loss)", "optimizer.state, loss, correct)")
    assert fired(evaluated, "MLX008") == []


HISTORY = """
step_fn = nn.value_and_grad(model, loss_fn)
losses = []
for it in range(500):
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    losses.append(loss)
    if it % 100 == 0:
        print({read})
"""


def test_mlx008_a_loss_history_read_one_element_at_a_time_is_still_kept() -> None:
    """b10_lazy_loss_history (fresh10): `losses[-1].item()` at a print evaluates the last
    array only; the other 99 of each 100 keep their graphs (RSS 56 -> 294 MB)."""
    assert fired(HISTORY.format(read="losses[-1].item()"), "MLX008") == [8]


def test_mlx008_a_history_materialised_whole_is_clean() -> None:
    assert fired(HISTORY.format(read="[l.item() for l in losses]").replace(
        "losses.append(loss)", "losses.append(loss.item())"), "MLX008") == []


# MLX090: a per-example loss summed over the batch, undivided --------------------------------

SUMMED = """
def loss_fn(model, x, y, mask):
    ce = nn.losses.cross_entropy(model(x), y)
    return {ret}

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("ret", ["ce.sum()", "mx.sum(ce)",
                                 "nn.losses.cross_entropy(model(x), y).sum()"])
def test_mlx090_a_summed_batch_loss(ret: str) -> None:
    assert fired(SUMMED.format(ret=ret), "MLX090") == [4]


@pytest.mark.parametrize("ret", ["ce.mean()", "(ce * mask).sum() / mask.sum()",
                                 "ce.sum() / x.shape[0]", "ce.sum(axis=-1).mean()"])
def test_mlx090_a_mean_or_a_sum_divided_is_clean(ret: str) -> None:
    assert fired(SUMMED.format(ret=ret), "MLX090") == []


# MLX091: the gradient of the first argument, used only as an index ---------------------------

FUNCTIONAL = """
def loss_fn({args}):
    h = mx.tanh(params["emb"][tokens])
    logits = h @ params["w"]
    return nn.losses.cross_entropy(logits, targets, reduction="mean")

grad_fn = mx.value_and_grad(loss_fn{extra})
"""


def test_mlx091_the_gradient_of_token_ids() -> None:
    assert fired(FUNCTIONAL.format(args="tokens, targets, params", extra=""), "MLX091") == [7]


@pytest.mark.parametrize("args,extra", [("tokens, targets, params", ", argnums=2"),
                                        ("params, tokens, targets", "")])
def test_mlx091_silent_with_argnums_or_the_parameters_first(args: str, extra: str) -> None:
    assert fired(FUNCTIONAL.format(args=args, extra=extra), "MLX091") == []


# MLX092: a child's own update() bypassed by the parent's ------------------------------------

OVERRIDE = """
class Codebook(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding_sum = mx.zeros((8, 4))

    def update(self, parameters, strict=True):
        super().update(parameters, strict)
        self._cached = self.embedding_sum / 2

class Tokenizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.vq = Codebook()

model = Tokenizer()
{call}
"""


def test_mlx092_a_parent_update_bypasses_the_child_override() -> None:
    assert fired(OVERRIDE.format(call='model.update({"vq": {"embedding_sum": s}})'),
                 "MLX092") == [17]


def test_mlx092_silent_when_the_child_is_updated_itself_or_another_key() -> None:
    assert fired(OVERRIDE.format(call='model.vq.update({"embedding_sum": s})'), "MLX092") == []
    assert fired(OVERRIDE.format(call='model.update({"head": {"w": s}})'), "MLX092") == []


# MLX019 through a local draw; MLX093: a freeze key that differs only in case ----------------

PADDED = """
class PaddedEmbedding(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.scale = mx.ones((dim,))
        rows = mx.random.normal((vocab - 1, dim)) * 0.1
        self.{name} = mx.concatenate([mx.zeros((1, dim)), rows], axis=0)

    def __call__(self, ids):
        return self.{name}[ids] * self.scale
"""


def test_mlx019_a_private_table_made_from_a_local_draw() -> None:
    assert fired(PADDED.format(name="_weight"), "MLX019") == [7]
    assert fired(PADDED.format(name="weight"), "MLX019") == []


ADAPTER = """
class LoRALinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.base = nn.Linear(d, d)
        self.lora_A = mx.random.normal((d, 4))
        self.lora_B = mx.zeros((4, d))

model = LoRALinear(8)
model.freeze()
model.unfreeze(keys={keys}, strict=False)
"""


def test_mlx093_a_key_that_differs_only_in_case() -> None:
    assert fired(ADAPTER.format(keys='["lora_a", "lora_b"]'), "MLX093") == [11, 11]


def test_mlx093_silent_on_exact_keys_or_names_no_local_layer_binds() -> None:
    assert fired(ADAPTER.format(keys='["lora_A", "lora_B"]'), "MLX093") == []
    assert fired(ADAPTER.format(keys='["bias", "head"]'), "MLX093") == []


def test_mlx015_through_a_gradient_transform_called_inline_in_a_compiled_step() -> None:
    """fresh32 orpo_completion_mask_numpy_in_compile (and mlx-vlm 0.7.10's ORPO trainer): the
    compiled step calls `nn.value_and_grad(model, loss)(...)` in one expression, and the loss
    reads its input ids with np.array."""
    code = """
def logps(model, ids):
    mask = np.array(ids) > 0
    return model(ids)


def orpo(model, ids):
    return logps(model, ids).mean()


@partial(mx.compile, inputs=state, outputs=state)
def step(ids):
    loss, grads = nn.value_and_grad(model, orpo)(model, ids)
    return loss
"""
    assert fired(code, "MLX015") == [3]
    assert fired(code.replace("np.array(ids) > 0", "ids > 0"), "MLX015") == []


def test_mlx022_log_of_softmax_returned_by_a_models_forward() -> None:
    """fresh32 gat_cora_like: a GAT head returns mx.log(mx.softmax(x)) into nll_loss."""
    code = """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def __call__(self, x):
        return mx.log(mx.softmax(self.fc(x), axis=-1))
"""
    assert fired(code, "MLX022") == [8]
    fused = code.replace("mx.log(mx.softmax(self.fc(x), axis=-1))",
                         "nn.log_softmax(self.fc(x), axis=-1)")
    assert fired(fused, "MLX022") == []


VALIDATION = """
model = nn.Linear(4, 3)

def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="sum"), mx.array(y.size), (
        logits.argmax(-1) == y).sum()

def evaluate(model, batches):
    total, count, correct = mx.array(0.0), mx.array(0.0), None
    for x, y in batches:
        ce, n, c = loss_fn(model, x, y)
        total = total + ce
        count = count + n
        correct = c if correct is None else correct + c
        mx.eval(total, count{extra})
    return (total / count).item(), (correct / count).item()

for x, y in data:
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx008_a_loss_functions_second_output_summed_unevaluated_in_validation() -> None:
    """fresh33 lazy_eval_accuracy: the loss and token count are evaluated every batch, the
    correct-count a loss function returns beside them is summed (`c if t is None else t + c`)
    over 1,200 batches and evaluated once at the end."""
    assert fired(VALIDATION.replace("{extra}", ""), "MLX008") == [15]
    assert fired(VALIDATION.replace("{extra}", ", correct"), "MLX008") == []


def test_unpacked_helper_outputs_are_arrays_only_where_every_return_holds_one() -> None:
    import ast

    from mlxprobe.lint.dataflow import arrays_in
    from mlxprobe.lint.source import index

    text = HEADER + """
def f(x):
    if x is None:
        return mx.zeros(3), len(x)
    return mx.ones(3), mx.array(2)

def g(x):
    a, b = f(x)
    return a
"""
    source = index("case.py", text, ast.parse(text))
    g = next(n for n in ast.walk(source.tree) if isinstance(n, ast.FunctionDef) and n.name == "g")
    assert arrays_in(source, g) == {"a"}
