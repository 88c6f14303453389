"""Stop 73's lint rules, on the spelling their corpus case had and on the ones the rules must
leave alone: MLX245 (a local name read above the line that first binds it), MLX246 (a
top-level array never evaluated, read by a thread that evaluates), MLX247 (a layer's
forward updating its input array in place), MLX248 (`a, b = f() if c else None, None`),
MLX249 (`len()` of the module's own iterator class that has no `__len__`) and MLX250
(a periodic block nested in another interval on the same counter), and MLX020 on a tiny
clamp after the sqrt of one vector's norm, and MLX019 leaving a private draw given its own
key alone; MLX251 (a dict started empty before a loop, rebuilt in it with the loop's keys);
MLX014 leaving a hand-written optimizer's loop alone when an evaluating loop runs it.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

TRAINS = """
loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(3):
    loss, grads = loss_and_grad(model, step)
"""
INDENTED = "\n".join("    " + line for line in TRAINS.splitlines())


def test_a_name_read_above_its_first_binding_is_found() -> None:
    code = """
    def grpo_loss(logps, ref_logps, adv, beta):
        if beta != 0.0:
            kl = mx.exp(ref_logps - logps) - (ref_logps - logps) - 1
            per_token_loss = per_token_loss + beta * kl
        per_token_loss = -mx.minimum(mx.exp(logps) * adv, adv)
        return per_token_loss.mean()
    """ + INDENTED
    assert fired(code, "MLX245") == [5]


def test_an_augmented_first_binding_is_found() -> None:
    code = """
    def summary(losses):
        total += sum(losses)
        return total
    """ + INDENTED
    assert fired(code, "MLX245") == [3]


@pytest.mark.parametrize("body", [
    # a loop that binds it: an earlier iteration may have bound it
    """
    for i in range(3):
        if i:
            print(prev)
        prev = i
    """,
    # a parameter, a global declaration, a read after the binding
    "    x = x + 1\n    return x\n",
    "    global total\n    total = total + 1\n",
    "    y = 1\n    y = y + 1\n    return y\n",
    # a comprehension's own variable, and a nested function reading a later-bound name
    "    ys = [z for z in range(3)]\n    z = 1\n    return ys, z\n",
    "    def inner():\n        return late\n    late = 1\n    return inner\n",
    # an import inside a try, read after
    "    try:\n        import numpy as npx\n    except ImportError:\n        npx = None\n"
    "    return npx\n",
])
def test_names_bound_before_they_run_are_left_alone(body: str) -> None:
    code = "\ndef f(x):\n" + body + TRAINS
    assert fired(code, "MLX245") == []


THREAD = """
import queue
import threading

X = mx.random.normal((256, 8))
mx.eval(X)
mean = X.mean(axis=0)
{extra}

def producer(q):
    for i in range(4):
        xb = X[i * 8:(i + 1) * 8] - mean
        mx.eval(xb)
        q.put(xb)

q = queue.Queue()
threading.Thread(target=producer, args=(q,)).start()
"""


def test_a_lazy_top_level_array_read_in_a_thread_is_found() -> None:
    assert fired(THREAD.format(extra=""), "MLX246") == [12]


@pytest.mark.parametrize("extra", ["mx.eval(mean)", "print(mean.item())",
                                   "mean = mx.array([0.0] * 8)"])
def test_an_evaluated_or_constructed_array_is_left_alone(extra: str) -> None:
    assert fired(THREAD.format(extra=extra), "MLX246") == []


def test_a_thread_that_evaluates_nothing_is_left_alone() -> None:
    code = THREAD.format(extra="").replace("        mx.eval(xb)\n", "")
    assert fired(code, "MLX246") == []


LAYER = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ff = nn.Linear(d, d)

    def __call__(self, x{extra}):
{body}
        return x
"""


@pytest.mark.parametrize("body", [
    "        x += 0.5 * self.ff(x)",
    "        x[..., :4] = 2.0 * x[..., :4]",
    "        h = self.ff(x)\n        x -= h",
])
def test_a_forward_updating_its_input_in_place_is_found(body: str) -> None:
    code = LAYER.format(extra="", body=body)
    assert fired(code, "MLX247") == [8 + body.count("\n")]


@pytest.mark.parametrize(("extra", "body"), [
    ("", "        x = x + 0.5 * self.ff(x)\n        x += self.ff(x)"),
    ("", "        x = self.ff(x)\n        x[..., :4] = 0"),
    (", cache", "        cache[0] = x"),
    ("=None", "        x += 1"),
    ("", "        h = self.ff(x)\n        h += x"),
])
def test_a_forward_that_rebinds_first_or_writes_elsewhere_is_left_alone(
        extra: str, body: str) -> None:
    assert fired(LAYER.format(extra=extra, body=body), "MLX247") == []


def test_a_call_method_of_a_plain_class_is_left_alone() -> None:
    code = """
    class Warmup:
        def __call__(self, step):
            step -= 10
            return max(step, 0) * 1e-3
    """
    assert fired(code, "MLX247") == []


@pytest.mark.parametrize("line", [
    "emb, ch = get_embedder(8) if use else None, None",
    "a, b, c = load(p) if p else None, None, None",
])
def test_a_conditional_fallback_split_by_the_comma_is_found(line: str) -> None:
    assert fired("\nuse = True\n" + line + "\n", "MLX248") == [3]


@pytest.mark.parametrize("line", [
    "emb, ch = get_embedder(8) if use else (None, None)",
    "lr, wd = 0.1 if use else 0.01, 0.0",
    "emb, ch = get_embedder(8) if use else None, 4",
    "emb, ch = None, None",
])
def test_a_parenthesised_or_other_fallback_is_left_alone(line: str) -> None:
    assert fired("\nuse = True\n" + line + "\n", "MLX248") == []


LOADER = """
class Dataloader{bases}:
    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return iter(self.rows)
{extra}
loader = Dataloader([1, 2, 3])
total = sum(loader)
print(total / len(loader))
"""


def test_len_of_an_iterator_class_without_len_is_found() -> None:
    assert fired(LOADER.format(bases="", extra=""), "MLX249") == [11]


@pytest.mark.parametrize(("bases", "extra"), [
    ("", "\n    def __len__(self):\n        return len(self.rows)\n"),
    ("(list)", ""),
    ("(Dataset)", ""),
])
def test_an_iterator_with_a_length_or_a_base_is_left_alone(bases: str, extra: str) -> None:
    assert fired(LOADER.format(bases=bases, extra=extra), "MLX249") == []


def test_a_parameter_of_the_same_name_is_left_alone() -> None:
    code = LOADER.format(bases="", extra="") + "\ndef mean(loader):\n    return 1 / len(loader)\n"
    assert fired(code, "MLX249") == [11]


PERIODS = """
loss_and_grad = nn.value_and_grad(model, loss_fn)
for it in range(120):
    loss, grads = loss_and_grad(model, it)
    if it == 0 or (it + 1) % {outer} == 0:
        print("val")
        if (it + 1) % {inner} == 0:
            save()
"""


@pytest.mark.parametrize(("outer", "inner"), [
    ("args.steps_per_eval", "args.steps_per_save"), ("40", "25"), ("eval_every", "save_every")])
def test_a_periodic_block_inside_another_interval_is_found(outer: str, inner: str) -> None:
    assert fired(PERIODS.format(outer=outer, inner=inner), "MLX250") == [7]


@pytest.mark.parametrize(("outer", "inner"), [
    ("10", "100"), ("every", "every * 5"), ("every", "every")])
def test_an_inner_interval_that_is_a_multiple_is_left_alone(outer: str, inner: str) -> None:
    assert fired(PERIODS.format(outer=outer, inner=inner), "MLX250") == []


def test_a_periodic_block_in_the_else_branch_or_another_counter_is_left_alone() -> None:
    code = PERIODS.format(outer="40", inner="25")
    assert fired(code.replace('print("val")', 'print("val")\n    else:'), "MLX250") == []
    assert fired(code.replace("(it + 1) % 25", "epoch % 25"), "MLX250") == []


SPEED = """
def speed(uv):
    u, v = uv[..., 0], uv[..., 1]
    rho = mx.sqrt({inside})
    return mx.maximum(rho, {floor})

def loss_fn(model, x, uv):
    return ((speed(model(x)) - speed(uv)) ** 2).mean()

loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(3):
    loss, grads = loss_and_grad(model, x, uv)
"""


@pytest.mark.parametrize("floor", ["1e-10", "mx.array(1e-10, dtype=rho.dtype)"])
def test_a_tiny_clamp_after_the_sqrt_of_a_norm_is_found(floor: str) -> None:
    # fresh229 drifter_current_radius: MLX020 on a norm of one vector whose floor is tiny
    assert fired(SPEED.format(inside="u * u + v * v", floor=floor), "MLX020") == [5]


@pytest.mark.parametrize(("inside", "floor"), [
    ("u * u + v * v", "1.0"), ("mx.maximum(u * u + v * v, 1e-20)", "1e-10"),
    ("u * u + v * v + 1e-12", "1e-10")])
def test_a_floor_or_a_guarded_input_is_left_alone(inside: str, floor: str) -> None:
    assert fired(SPEED.format(inside=inside, floor=floor), "MLX020") == []


RFF = """
class Features(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        ka, kb = mx.random.split(mx.random.key(7))
        self._omega = mx.random.normal((d, n){key})
        self.log_ls = mx.zeros((d,))

    def __call__(self, x):
        return mx.cos((x / mx.exp(self.log_ls)) @ self._omega)
"""


def test_a_private_draw_from_the_global_key_is_still_found() -> None:
    assert fired(RFF.format(key=""), "MLX019") == [6]


def test_a_private_draw_given_its_own_key_is_a_fixed_feature_map() -> None:
    # fresh250 saltmarsh_fog_rffgp: random Fourier features kept out of training on purpose
    assert fired(RFF.format(key=", key=ka"), "MLX019") == []


BATCH = """
def get_batch(rows):
    out = {}
    for key in ("chosen", "rejected"):
        stacked = mx.stack([r[key] for r in rows])
        {line}
    return out
"""


def test_a_dict_rebuilt_per_pass_with_the_loops_keys_is_found() -> None:
    line = 'out = {f"{key}_tokens": stacked, f"{key}_len": stacked.shape[0]}'
    assert fired(BATCH.replace("{line}", line), "MLX251") == [6]


@pytest.mark.parametrize("line", [
    'out[f"{key}_tokens"] = stacked',
    'out = {"tokens": stacked}',
    'out = {f"{key}_tokens": stacked}\n        print(out)',
])
def test_a_dict_added_to_or_used_per_pass_is_left_alone(line: str) -> None:
    assert fired(BATCH.replace("{line}", line), "MLX251") == []


OPTIMIZER = """
class HandAdam:
    def __init__(self, lr):
        self.lr = lr

    def _step(self, param, grad):
        param = param * (1 - self.lr * 0.01)
        param = param - self.lr * grad
        return param

    def update(self, model, grads):
        flat_grads = dict(tree_flatten(grads))
        flat_params = dict(tree_flatten(model.parameters()))
        for path in flat_grads:
            flat_params[path] = self._step(flat_params[path], flat_grads[path])
        model.update(tree_unflatten(list(flat_params.items())))

optimizer = HandAdam(1e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(100):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
{evaluation}
"""


def test_an_optimizer_loop_run_from_an_evaluating_loop_is_left_alone() -> None:
    # fresh251 lantern_weir_muon_ok: a hand-written optimizer's loop over its parameters
    code = OPTIMIZER.replace("{evaluation}", "    mx.eval(model.parameters(), loss)")
    assert fired(code, "MLX014") == []


def test_an_optimizer_loop_run_from_a_loop_that_never_evaluates_is_found() -> None:
    assert fired(OPTIMIZER.replace("{evaluation}", ""), "MLX014") != []
