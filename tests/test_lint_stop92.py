"""Stop 92's lint changes, each on the shape of the corpus script that showed it:
- MLX278 finds a constant key read from a module function's returned dict built without it
  (fresh352 `quarry_ledger_patience`, parkerdgabel/bert-playground 3743ad7: `evaluate()`
  returned `{f"eval_{k}": v ...}` and `train()` read `val_metrics["loss"]`), and leaves alone
  a key the dict has, a dict written into or tested, and a function with other returns.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

EVALUATE = '''
class Trainer:
    def evaluate(self, batches):
        avg = {"loss": 1.0, "accuracy": 0.5}
        return {f"eval_{k}": v for k, v in avg.items()}

    def train(self):
        val_metrics = self.evaluate([])
        self.val_loss = val_metrics[KEY]
'''


def test_a_key_the_function_never_returns_is_found() -> None:
    assert fired(EVALUATE.replace("KEY", '"loss"'), "MLX278")


def test_a_key_with_the_returned_prefix_is_not() -> None:
    assert not fired(EVALUATE.replace("KEY", '"eval_loss"'), "MLX278")


def test_a_display_with_the_key_is_not_found_and_one_without_is() -> None:
    code = '''
def stats(x):
    return {"mean": 1.0, "std": 2.0}

def main():
    s = stats(3)
    print(s["mean"], s[KEY])
'''
    assert not fired(code.replace("KEY", '"std"'), "MLX278")
    assert fired(code.replace("KEY", '"var"'), "MLX278")


def test_a_dict_written_into_or_tested_is_not_found() -> None:
    base = '''
def stats(x):
    return {"mean": 1.0}

def main():
    s = stats(3)
    %s
    print(s["var"])
'''
    assert fired(base % 'pass', "MLX278")
    assert not fired(base % 's["var"] = 0.0', "MLX278")
    assert not fired(base % 's.update(var=0.0)', "MLX278")
    assert not fired(base % 'assert "var" in s', "MLX278")


def test_a_function_with_a_return_of_another_kind_is_not_found() -> None:
    code = '''
def stats(x, full):
    if full:
        return dict(x)
    return {"mean": 1.0}

def main():
    s = stats(3, True)
    print(s["var"])
'''
    assert not fired(code, "MLX278")


def test_an_argument_called_for_its_effect_is_no_dropped_input() -> None:
    code = '''
def run(model, opt, state, step, start, stop, gate):
    for it in range(start + 1, stop + 1):
        loss = step(X, Y)
        mx.eval(state)
''' + TRAINED
    assert not fired(code, "MLX266")
    assert fired(code.replace("loss = step(X, Y)", "loss = step(X, Y)\n        g = compute(gate)"),
                 "MLX266")


def test_a_name_unpacked_elsewhere_is_no_optimizer_there() -> None:
    code = '''
def build():
    o = optim.AdamW(learning_rate=1e-3)
    return o

def report(parts):
    total, (o, b) = parts
    print(o.item(), b.item())
    %s
'''
    assert not fired(code % "pass", "MLX147")
    assert fired(code.replace("o = optim", "opt = optim").replace("return o", "return opt")
                 % "opt.zero_grad()", "MLX147")


def test_a_descent_on_a_state_in_a_method_the_loss_calls_is_part_of_the_forward() -> None:
    code = '''
class Memory(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = mx.zeros((4, 4))

    def recall(self, u):
        grad_e = mx.grad(lambda v: mx.sum(v @ self.w * v))
        for _ in range(12):
            u = u - 0.3 * grad_e(u)
        return u

def loss_fn(model, x, y):
    return mx.mean((model.recall(x) - y) ** 2)

model = Memory()
lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
'''
    assert not fired(code, "MLX014")
    params = '''
params = {"w": mx.zeros((4,))}
grad_fn = mx.grad(lambda p: mx.sum(p["w"] ** 2))
for step in range(100):
    g = grad_fn(params)
    params["w"] = params["w"] - 0.1 * g["w"]
'''
    assert fired(params, "MLX014")


def test_a_numpy_integrator_stepping_against_a_numpy_gradient_is_no_training() -> None:
    code = '''
def grad_v(q):
    return np.stack([q[..., 0] * 2, q[..., 1] * 2], -1)

def flow(x):
    q, p = x[..., :2].copy(), x[..., 2:].copy()
    for _ in range(30):
        p -= 0.01 * grad_v(q)
        q += 0.01 * p
    return np.concatenate([q, p], -1)
''' + TRAINED + "    mx.eval(model.parameters(), opt.state)\n"
    assert not fired(code, "MLX014")
    assert fired(code.replace("return np.stack(", "return mx.stack("), "MLX014")



OPTIMIZER = '''
class AdamATan2(optim.Optimizer):
    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["step"] = 0

    def apply_single(self, gradient, parameter, state):
        m = 0.9 * state["m"] + 0.1 * gradient
        state["m"] = m
        %s
        step = state["step"]
        c1 = 1 - 0.9 ** step
        c2 = 1 - 0.999 ** step
        return parameter - 0.01 * m / c1 / c2
'''


def test_a_bias_correction_whose_count_never_advances_is_found_once() -> None:
    assert fired(OPTIMIZER % "pass", "MLX279") == [12]
    assert not fired(OPTIMIZER % 'state["step"] += 1', "MLX279")
    assert not fired(OPTIMIZER % 'state["step"] = state["step"] + 1', "MLX279")


def test_an_arrays_shape_given_to_a_random_draws_value_is_found() -> None:
    assert fired("m = mx.random.uniform(logits.shape) < 0.1\n", "MLX273")
    assert fired("m = mx.random.bernoulli(logits.shape[:2])\n", "MLX273")
    assert not fired("m = mx.random.normal(logits.shape[:2])\n", "MLX273")
    assert not fired("m = mx.random.uniform(shape=logits.shape) < 0.1\n", "MLX273")
    assert not fired("m = mx.random.uniform(0, logits.shape[0], (3,))\n", "MLX273")
