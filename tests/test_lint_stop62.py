"""Stop 62's lint changes, on small programs with the spellings beside them that must stay
silent. MLX047: a name nothing binds, read after the training loop of its own function (a
closing summary; failure corpus fresh157 `pretrain_summary_metrics`, mlx-cuda-distributed-
pretraining 19a02e5: `{metrics}` in the final log lines, NameError after the last
checkpoint).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import HEADER, fired

BINDS = HEADER + "loss_fn = None\n"  # the snippet's loss, bound as a script binds it

SUMMARY = """
class Trainer:
    def train(self):
        step_fn = nn.value_and_grad(self.model, loss_fn)
        logged = {{}}
        for step in range(self.steps):
            loss, grads = step_fn(self.model, *self.batch(step))
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state)
            logged = {{"loss": loss.item()}}
        {closing}
"""


@pytest.mark.parametrize("closing, line", [
    ('print(f"final metrics: {metrics}")', 11),
    ("self.log.write(str(metrics))", 11),
    ("with open(self.path, 'a') as f:\n            f.write(f'{metrics}')", 12),
])
def test_a_name_nothing_binds_read_after_the_loop_fires(closing: str, line: int) -> None:
    assert fired(SUMMARY.format(closing=closing), "MLX047", BINDS) == [line]


@pytest.mark.parametrize("closing", [
    'print(f"final metrics: {logged}")',  # bound in the function
    'print(f"final metrics: {len(logged)}")',  # a builtin
    "metrics = dict(logged)\n        print(metrics)",  # bound, then read
])
def test_a_bound_name_after_the_loop_stays_silent(closing: str) -> None:
    assert fired(SUMMARY.format(closing=closing), "MLX047", BINDS) == []


def test_an_unbound_name_before_any_loop_fires_too() -> None:
    """Read before the loop, it fails at once; since stop 69 that is flagged as well
    (fresh233 `kiln_glaze_completions`)."""
    text = SUMMARY.format(closing="pass").replace("logged = {}", "logged = dict(metrics)")
    assert fired(text, "MLX047", BINDS) == [5]


HALF = """
def main():
    model = Whisperish()
    model.set_dtype(mx.float16)
    {recast}
    model.encoder.freeze()
    optimizer = optim.AdamW(learning_rate=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    for x, y in batches():
        loss, grads = step(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
"""

TO_FLOAT32 = """def to_float32(params):
        if isinstance(params, mx.array):
            return params.astype(mx.float32)
        return {k: to_float32(v) for k, v in params.items()}
    model.decoder.update(to_float32(model.decoder.parameters()))"""


@pytest.mark.parametrize("recast", [
    "model.decoder.set_dtype(mx.float32)",
    "model.set_dtype(mx.float32)",
    "model.decoder.update(tree_map(lambda p: p.astype(mx.float32), model.decoder.parameters()))",
    TO_FLOAT32,
])
def test_float16_weights_recast_to_float32_before_training_stay_silent(recast: str) -> None:
    """MLX025: a float16 checkpoint whose trained part the program casts back to float32
    (failure corpus fresh158 `dothraki_decoder_fp16`'s fixed twin, dothraki-asr b2f7ea0)."""
    assert fired(HALF.format(recast=recast), "MLX025") == []


@pytest.mark.parametrize("recast", [
    "pass",
    "model.decoder.set_dtype(mx.bfloat16)",  # still not float32: not this stand-down
    "other.set_dtype(mx.float32)",  # another model
    "model.decoder.update(tree_map(lambda p: p * 2, model.decoder.parameters()))",
])
def test_float16_weights_trained_as_they_are_fire(recast: str) -> None:
    assert fired(HALF.format(recast=recast), "MLX025") == [4]


GROK = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--dropout", type=float, default={default})

class FeedForward(nn.Module):
    def __init__(self, dim, dropout):
        super().__init__()
        self.w = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def __call__(self, x):
        return self.drop(self.w(x))

class Net:
    def __init__(self, model):
        self.model = model

    def train(self, data, epochs):
        step = nn.value_and_grad(self.model, loss_fn)
        for _ in range(epochs):
            self.model.train()
            for x, y in data:
                loss, grads = step(self.model, x, y)
                self.optimizer.update(self.model, grads)

    def evaluate(self, data):
        {switch}
        return [self.model(x) for x, _ in data]

def main():
    args = parser.parse_args()
    net = Net(FeedForward(8, args.dropout))
    net.train(batches(), epochs=40)
    print(net.evaluate(batches()))
"""


def test_dropout_rate_handed_down_from_an_option_is_traced() -> None:
    """MLX144: the rate reaches `nn.Dropout` through a constructor from `args.dropout`
    (failure corpus fresh158 `modsum_grok_eval`, mlx-grokking 8c2ceea); `net.train(data,
    ...)` is the module's own trainer method, not a switch of mode."""
    assert fired(GROK.format(default=0.5, switch="pass"), "MLX144") == [27]


@pytest.mark.parametrize("default, switch", [
    (0.5, "self.model.eval()"),  # the fix
    (0.5, "self.model.train(False)"),
    (0.0, "pass"),  # the option drops nothing
])
def test_an_evaluation_mode_or_a_zero_rate_stays_silent(default: float, switch: str) -> None:
    assert fired(GROK.format(default=default, switch=switch), "MLX144") == []


REPTILE = """
class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 32)

    def __call__(self, x):
        return self.l1(x)

def adapt(init_params, x, y):
    {build}
    learner.update(tree_map(lambda p: mx.array(p), init_params))
    step = nn.value_and_grad(learner, mse)
    for _ in range(6):
        _, g = step(learner, x, y)
        sgd.update(learner, g)
        mx.eval(learner.parameters())
    return learner

for it in {tasks}:
    learner = adapt(meta.parameters(), *task(it))
    meta.update(tree_map(lambda p, q: p + 0.1 * (q - p), meta.parameters(), learner.parameters()))
    mx.eval(meta.parameters())
"""


def test_a_model_built_per_task_and_overwritten_at_once_fires() -> None:
    """MLX178: its drawn weights are dropped unevaluated at every task, chaining the global
    random key (fresh159 `turret_clock_rate_reptile_jsonl`, RSS +8.5 MB per 1,000 tasks)."""
    assert fired(REPTILE.format(build="learner = RateNet()", tasks="range(1500)"),
                 "MLX178") == [11]


@pytest.mark.parametrize("build, tasks", [
    ("learner = LEARNER", "range(1500)"),  # built once, outside the loop
    ("learner = RateNet()", "('plain', 'ewc')"),  # two passes: no leak to speak of
    ("learner = RateNet()", "range(4)"),
])
def test_a_model_built_once_or_a_few_times_stays_silent(build: str, tasks: str) -> None:
    assert fired(REPTILE.format(build=build, tasks=tasks), "MLX178") == []


def test_a_build_whose_weights_are_trained_first_stays_silent() -> None:
    """Its random weights are evaluated by its own training: nothing is dropped unevaluated."""
    text = REPTILE.format(build="learner = RateNet()", tasks="range(1500)").replace(
        "    learner.update(tree_map(lambda p: mx.array(p), init_params))\n", "")
    assert fired(text, "MLX178") == []


TRAINMODE = """
class Recall(nn.Module):
    def __init__(self):
        super().__init__()
        self.o = nn.Linear(8, 8)

    def recurrent(self, q, k):
        return q * k

    def chunked(self, q, k):
        eye = mx.eye(k.shape[1])
        return mx.linalg.tri_inv(eye + k @ k.transpose(0, 2, 1), upper=False) @ q

    def __call__(self, q, k):
        {dispatch}

def loss_fn(model, q, k, y):
    return nn.losses.mse_loss(model(q, k), y)

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("dispatch", [
    "return self.o(self.recurrent(q, k) if self.training else self.chunked(q, k))",
    "if self.training:\n            return self.recurrent(q, k)\n"
    "        return self.o(self.chunked(q, k))",
    "if not self.training:\n            return self.chunked(q, k)\n"
    "        return self.recurrent(q, k)",
])
def test_a_no_vjp_op_only_out_of_training_mode_stays_silent(dispatch: str) -> None:
    """MLX024: the evaluation-only path of a module (fresh161 `deltarecall_trainmode`'s
    fixed twin: `tri_inv` in a chunked form run only when `not self.training`)."""
    assert fired(TRAINMODE.format(dispatch=dispatch), "MLX024") == []


def test_a_no_vjp_op_on_the_training_path_fires() -> None:
    dispatch = "return self.o(self.chunked(q, k) if self.training else self.recurrent(q, k))"
    assert fired(TRAINMODE.format(dispatch=dispatch), "MLX024") == [12]


MDN = """
def mix_logpdf(model, x, z):
    logit, mu, log_sig = model(x)
    logw = logit - mx.logsumexp(logit, axis=1, keepdims=True)
    comp = -0.5 * ((z[:, None] - mu) / mx.exp(log_sig)) ** 2 - log_sig
    return mx.logsumexp(logw + comp, axis=1)

def nll(model, x, z):
    return -mx.mean(mix_logpdf(model, x, z))
"""


def test_a_mixture_density_likelihood_is_no_label_free_log_softmax() -> None:
    """MLX002: the target meets the predictions in the arithmetic (fresh162
    `rockfall_runout_mdn_sgdr`, a mixture density network's likelihood)."""
    assert fired(MDN, "MLX002") == []


def test_the_mixture_weights_alone_still_fire() -> None:
    """Only the log-softmax of the weights, the target never read: a label-free loss."""
    text = MDN.replace("return mx.logsumexp(logw + comp, axis=1)", "return logw.sum(axis=1)")
    assert fired(text, "MLX002") == [9]


@pytest.mark.parametrize("call, lines", [
    ("n = mx.linalg.norm(x1, axis)", [2]),  # axis lands in ord (fresh164 marginalia)
    ("n = mx.linalg.norm(x1, None, axis)", []),  # in its own slot
    ("n = mx.linalg.norm(x1, axis=axis)", []),  # the fix
    ("r = mx.random.uniform(shape)", [2]),  # shape lands in low (mlx-vlm Florence-2)
    ("r = mx.random.uniform(0.0, 1.0, shape)", []),
    ("s = mx.take_along_axis(indices, order, axis=-1)", []),  # an array operand's name
    ("s = mx.sum(x, self.axis)", []),
    ("s = mx.mean(x, keepdims)", [2]),  # keepdims lands in axis
])
def test_mlx190_an_argument_named_for_another_slot(call: str, lines: list[int]) -> None:
    assert fired(f"axis, keepdims, shape = -1, True, (2, 3)\n{call}\n", "MLX190") == lines


def test_the_positions_table_is_the_installed_mlx() -> None:
    """Every function's positional order and operands as its nanobind signature says."""
    import re

    mx = pytest.importorskip("mlx.core")
    from mlxprobe.lint.mlx_positions import OPERANDS, POSITIONS, VARIADIC, VERSION
    if mx.__version__ != VERSION:
        pytest.skip(f"the table is of mlx {VERSION}; this is {mx.__version__}: regenerate it")
    for name, order in POSITIONS.items():
        target = mx
        for part in name.split(".")[2:-1]:
            target = getattr(target, part)
        text = getattr(target, name.rsplit(".", 1)[1]).__nb_signature__[0][0]
        head = text.split("(", 1)[1].split("*")[0]
        assert tuple(re.findall(r"(\w+)\s*:", head)) == order, name
        assert OPERANDS.get(name, frozenset()) <= set(re.findall(r"(\w+)\s*:", text)), name
        assert (name in VARIADIC) == bool(re.search(r"[(,]\s*\*\w", text)), name


@pytest.mark.parametrize("line, lines", [
    ("s = (q @ k.T) / (d ** -0.5)", [2]),  # fresh159 llama_attn_invsqrt_recall
    ("s = (q @ k.T) / d ** (-1 / 2)", [2]),
    ("s = (q @ k.T) / mx.rsqrt(mx.array(d))", [2]),
    ("s = (q @ k.T) / (1 / math.sqrt(d))", [2]),
    ("s = (q @ k.T) * d ** -0.5", []),  # the scale as a factor
    ("s = (q @ k.T) / d ** 0.5", []),
    ("s = (q @ k.T) / math.sqrt(d)", []),
])
def test_mlx191_a_division_by_an_inverse_root(line: str, lines: list[int]) -> None:
    assert fired(f"import math\n{line}\n", "MLX191") == lines
