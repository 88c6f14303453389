"""Each lint rule on small loops: the bug fires; the near-misses that must not fire do not."""

from __future__ import annotations

import textwrap

import pytest

from mlxprobe.lint import lint_source

HEADER = """\
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
"""


def rules(code: str, header: str = HEADER) -> list[tuple[str, int]]:
    """(rule, line) of each finding; lines counted in `code` (the header is not counted).
    MLX047 (a name nothing binds) is left out: these snippets are fragments whose `model`,
    `data` and `optimizer` a real script would bind."""
    offset = header.count("\n")
    found = lint_source(header + textwrap.dedent(code), "case.py", ignore=["MLX047"])
    return [(f.rule, f.line - offset) for f in found]


def fired(code: str, rule: str) -> list[int]:
    return [line for r, line in rules(code) if r == rule]


# MLX001: optimizer.update with nothing evaluated in the loop ---------------------------------

def test_mlx001_update_without_eval() -> None:
    code = """
    for step, (x, y) in enumerate(data):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        if step % 100 == 0:
            print(loss.item())
    """
    assert fired(code, "MLX001") == [4]


def test_mlx001_eval_of_the_loss_in_a_branch_does_not_count() -> None:
    code = """
    while True:
        loss, grads = loss_and_grad(model, x, y)
        self.optimizer.update(self.model, grads)
        if done():
            mx.eval(loss)
    """
    assert fired(code, "MLX001") == [4]


def test_mlx001_a_loss_read_at_every_step_runs_the_previous_update() -> None:
    # measured (mlx 0.32.4 CPU, an MLP under Adam, 2,000 steps): reading only `loss.item()`
    # each step kept RSS at 27-28 MB and 2.3-2.5 ms a step, as a full mx.eval did: the next
    # loss is computed from the updated parameters, so reading it runs the update
    for read in ("print(loss.item())", "mx.eval(loss)", "total += float(loss)"):
        code = f"""
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        {read}
    """
        assert fired(code, "MLX001") == [], read


def test_mlx001_update_in_a_helper_called_from_the_loop() -> None:
    code = """
    def apply(model, opt, grads):
        opt.update(model, grads)

    def train():
        for batch in data:
            loss, grads = loss_and_grad(model, batch)
            apply(model, opt, grads)
    """
    assert fired(code, "MLX001") == [3]


@pytest.mark.parametrize("evaluation", [
    "mx.eval(loss, model.parameters(), optimizer.state)",
    "mx.eval(model.parameters())",
    "mx.eval(model, optimizer.state)",
    "mx.async_eval(state)",
    "mx.eval(state, losses)",
])
def test_mlx001_evaluated_update_is_clean(evaluation: str) -> None:
    code = f"""
    state = [model.state, optimizer.state]
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        {evaluation}
    """
    assert fired(code, "MLX001") == []


def test_mlx001_eval_in_a_helper_called_from_the_loop_is_clean() -> None:
    code = """
    def sync(model, optimizer):
        mx.eval(model.parameters(), optimizer.state)

    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        sync(model, optimizer)
    """
    assert fired(code, "MLX001") == []


def test_mlx001_understands_aliased_imports() -> None:
    code = """
    from mlx.core import eval as ev
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        ev(model.parameters(), optimizer.state)
    """
    assert fired(code, "MLX001") == []
    plain = "import mlx.core\nfor b in d:\n    opt.update(m, g)\n    mlx.core.eval(m, opt.state)\n"
    assert lint_source(plain, ignore=["MLX047"]) == []  # `d`, `m`, `g`: a fragment's names


def test_mlx001_ignores_dict_update_and_updates_outside_loops() -> None:
    code = """
    for k in keys:
        config.update(k, 1)
        params.update(other)

    def step(batch):
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        return loss
    """
    assert fired(code, "MLX001") == []


def test_mlx001_a_builtin_eval_or_module_eval_is_not_mx_eval() -> None:
    code = """
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        model.eval()
        eval("1 + 1")
    """
    assert fired(code, "MLX001") == [4]


@pytest.mark.parametrize("call", ["checkpoint.maybe_save(model, optimizer)",
                                  "save_state(optimizer.state)",
                                  "val_loss = evaluate(model, valid)"])
def test_mlx001_update_handed_to_an_unknown_call_may_be_evaluated(call: str) -> None:
    code = f"""
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        {call}
    """
    assert fired(code, "MLX001") == []


# MLX002: -mean(log_softmax) without a label gather --------------------------------------------

def test_mlx002_seed_loss() -> None:
    code = """
    def loss_fn(model, tokens):
        logits = model(tokens[:, :-1])
        m = mx.max(logits, axis=-1, keepdims=True)
        num = logits - m
        den = mx.log(mx.sum(mx.exp(num), axis=-1, keepdims=True))
        log_probs = num - den
        return -mx.mean(log_probs)
    """
    assert fired(code, "MLX002") == [8]


def test_mlx002_log_softmax_call_and_method_mean() -> None:
    code = """
    def loss_fn(model, x):
        return -nn.log_softmax(model(x), axis=-1).mean()
    """
    assert fired(code, "MLX002") == [3]


@pytest.mark.parametrize("body", [
    "lp = nn.log_softmax(logits); return -mx.take_along_axis(lp, targets[..., None], -1).mean()",
    "lp = nn.log_softmax(logits); return -mx.mean(lp * one_hot)",
    "p = mx.softmax(logits); return -mx.sum(p * nn.log_softmax(logits))",
    "lp = nn.log_softmax(logits); return -mx.mean(lp[mx.arange(n), labels])",
    "return -mx.mean(logits)",
    "return nn.losses.cross_entropy(logits, targets).mean()",
])
def test_mlx002_losses_with_labels_or_entropy_are_clean(body: str) -> None:
    code = "def loss_fn(logits, targets, one_hot, n, labels):\n    " + body.replace(
        "; ", "\n    ") + "\n"
    assert fired(code, "MLX002") == []


# MLX003: mx.value_and_grad over a function that ignores what it differentiates ---------------

def test_mlx003_closure_over_the_module() -> None:
    code = """
    def closure_loss(params, batch):
        return loss_fn(model, *batch)

    loss, grads = mx.value_and_grad(closure_loss)(model.trainable_parameters(), batch)
    """
    assert fired(code, "MLX003") == [5]


def test_mlx003_lambda_and_argnums() -> None:
    code = """
    f = mx.value_and_grad(lambda p, x: model(x).sum())
    g = mx.grad(lambda p, x: (p * x).sum(), argnums=1)
    h = mx.value_and_grad(lambda p, x: model(x).sum(), argnums=(0, 1))
    """
    assert fired(code, "MLX003") == [2]


@pytest.mark.parametrize("body", [
    "model.update(params)\n    return loss_fn(model, *batch)",
    "return mx.sum(params['w'] * batch)",
])
def test_mlx003_functions_reading_their_argument_are_clean(body: str) -> None:
    code = f"""
    def loss(params, batch):
        {body}

    vg = mx.value_and_grad(loss)
    vg2 = nn.value_and_grad(model, loss_fn)
    vg3 = mx.value_and_grad(unknown_fn)
    """
    assert fired(code, "MLX003") == []


# MLX004: tree_flatten pairs used as arrays ----------------------------------------------------

def test_mlx004_seed_parameter_count_and_norm() -> None:
    code = """
    count = 0
    for param in tree_flatten(params):
        if isinstance(param, mx.array):
            count += param.size
    norm = sum(mx.sum(g * g) for g in tree_flatten(grads))
    """
    assert fired(code, "MLX004") == [3, 6]


@pytest.mark.parametrize("code", [
    "for k, v in tree_flatten(grads):\n    total += mx.sum(v * v)\n",
    "norm = sum(mx.sum(v * v) for _, v in tree_flatten(grads))\n",
    "for item in tree_flatten(grads):\n    print(item[0], item[1].shape)\n",
    "for pair in tree_flatten(grads):\n    name, value = pair\n    total += value.size\n",
    "names = [p for p in tree_flatten(grads)]\n",
    "for p in other_flatten(grads):\n    total += p.size\n",
])
def test_mlx004_unpacked_pairs_are_clean(code: str) -> None:
    assert fired(code, "MLX004") == []


# MLX005: summed micro-batch gradients never divided ------------------------------------------

def test_mlx005_summed_gradients_applied() -> None:
    code = """
    acc = None
    for i, batch in enumerate(data):
        loss, grads = loss_and_grad(model, batch)
        acc = grads if acc is None else tree_map(mx.add, acc, grads)
        if (i + 1) % N == 0:
            optimizer.update(model, acc)
            mx.eval(model.parameters(), optimizer.state)
            acc = None
    """
    assert fired(code, "MLX005") == [7]


def test_mlx005_through_a_helper_and_a_lambda() -> None:
    code = """
    def add(acc, grads):
        return grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)

    def loop():
        acc, count = None, 0
        for batch in data:
            loss, grads = loss_and_grad(model, batch)
            acc, count = add(acc, grads), count + 1
            if count == N:
                optimizer.update(model, acc)
                mx.eval(model, optimizer.state)
                acc, count = None, 0
    """
    assert fired(code, "MLX005") == [11]


@pytest.mark.parametrize("apply", [
    "optimizer.update(model, tree_map(lambda g: g / N, acc))",
    "acc = tree_map(lambda g: g / N, acc)\n        optimizer.update(model, acc)",
    "acc = scale(acc, 1 / N)\n        optimizer.update(model, acc)",
])
def test_mlx005_averaged_accumulation_is_clean(apply: str) -> None:
    code = f"""
    acc = None
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        acc = grads if acc is None else tree_map(mx.add, acc, grads)
        {apply}
        mx.eval(model.parameters(), optimizer.state)
    """
    assert fired(code, "MLX005") == []


# MLX006: gradient error swallowed -------------------------------------------------------------

def test_mlx006_fallback_without_gradients() -> None:
    code = """
    def step(model, batch):
        try:
            loss, grads = loss_and_grad(model, batch)
        except Exception:
            return loss_fn(model, batch).item(), True
        return loss, grads
    """
    assert fired(code, "MLX006") == [5]


def test_mlx006_bare_except_with_continue() -> None:
    code = """
    for batch in data:
        try:
            loss, grads = mx.value_and_grad(f)(params, batch)
        except:
            continue
    """
    assert fired(code, "MLX006") == [5]


@pytest.mark.parametrize("handler", [
    "except Exception:\n            log.exception('step failed')\n            raise",
    "except KeyboardInterrupt:\n            return None",
    "except Exception as exc:\n            raise RuntimeError('bad batch') from exc",
    "except Exception:\n            sys.exit(1)",
])
def test_mlx006_handlers_that_surface_or_are_narrow_are_clean(handler: str) -> None:
    code = f"""
    def step(model, batch):
        try:
            loss, grads = loss_and_grad(model, batch)
        {handler}
    """
    assert fired(code, "MLX006") == []


def test_mlx006_try_without_a_gradient_call_is_clean() -> None:
    code = """
    try:
        data = load(path)
    except Exception:
        data = None
    """
    assert fired(code, "MLX006") == []


# MLX007: label shift on the batch axis --------------------------------------------------------

def test_mlx007_seed_fixed_loss() -> None:
    code = """
    def loss(model, input_ids):
        logits = model(input_ids)
        shift_logits = logits[:, :-1, :]
        shift_labels = input_ids[1:]
        return nn.losses.cross_entropy(shift_logits, shift_labels)
    """
    assert fired(code, "MLX007") == [5]


@pytest.mark.parametrize("code", [
    "def f(ids):\n    return model(ids[:, :-1]), ids[:, 1:]\n",
    "def f(ids):\n    return ids[:-1], ids[1:]\n",
    "def f(ids, logits):\n    x = logits[:, :-1]\n    return ids[1:5]\n",
])
def test_mlx007_sequence_axis_and_one_dimensional_shifts_are_clean(code: str) -> None:
    assert fired(code, "MLX007") == []


# MLX008: loss arrays kept across steps --------------------------------------------------------

@pytest.mark.parametrize("keep", ["running.append(loss)", "total += loss",
                                  "total = total + loss"])
def test_mlx008_kept_loss(keep: str) -> None:
    code = f"""
    running, total = [], 0
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        {keep}
    """
    assert fired(code, "MLX008") == [7]


@pytest.mark.parametrize("keep", [
    "running.append(loss.item())",
    "total += loss.item()",
    "running.append(float(loss))",
    "mx.eval(loss)\n        running.append(loss)",
    "total += loss\n        mx.eval(total)",
    "running = []\n        running.append(loss)",
])
def test_mlx008_evaluated_or_item_accumulation_is_clean(keep: str) -> None:
    code = f"""
    running, total = [], 0
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        {keep}
    """
    assert fired(code, "MLX008") == []


def test_mlx008_sum_formatted_before_its_reset_is_bounded() -> None:
    code = """
    total = 0
    for step, batch in enumerate(data):
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        total += loss
        if step % 20 == 0:
            print(f"loss/s {total / dt:.1f}")  # formatting evaluates it every 20 steps
            total = 0
    """
    assert fired(code, "MLX008") == []


def test_mlx008_list_only_counted_in_a_format_stays_a_finding() -> None:
    code = """
    running = []
    for step, batch in enumerate(data):
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        running.append(loss)
        if step % 20 == 0:
            print(f"{len(running)} kept")
    """
    assert fired(code, "MLX008") == [7]


def test_mlx008_mlx_lm_style_accumulation_is_clean() -> None:
    code = """
    losses = 0
    for it, batch in enumerate(data):
        lvalue, toks, grad_accum = step(batch, grad_accum)
        losses += lvalue
        mx.eval(state, losses, grad_accum)
    """
    assert fired(code, "MLX008") == []


# MLX009: channels-last tensor swapped to channels-first before nn.Conv1d ---------------------

CONV = """
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(256, 16)
        self.conv = nn.Conv1d(16, 16, 3)

    def __call__(self, tokens):
        x = self.embed(tokens)
        {body}
"""


@pytest.mark.parametrize("body", [
    "return self.conv(x.swapaxes(1, 2))",
    "x = x.transpose(0, 2, 1)\n        return self.conv(x)",
    "return self.conv(mx.swapaxes(x, 1, 2)).swapaxes(1, 2)",
])
def test_mlx009_embedding_output_swapped_into_conv1d(body: str) -> None:
    assert "MLX009" in [r for r, _ in rules(CONV.format(body=body))]


@pytest.mark.parametrize("body", [
    "return self.conv(x)",
    "y = load_ncl()\n        return self.conv(y.swapaxes(1, 2))",
    "return self.conv(tokens.swapaxes(1, 2))",
])
def test_mlx009_channels_last_input_or_unknown_layout_is_clean(body: str) -> None:
    assert "MLX009" not in [r for r, _ in rules(CONV.format(body=body))]


# MLX010: gradient subtree zeroed ---------------------------------------------------------------

@pytest.mark.parametrize("zero", [
    'grads["llm"] = tree_map(mx.zeros_like, grads["llm"])',
    'grads["llm"] = tree_map(lambda g: g * 0, grads["llm"])',
    'grads["head"] = mx.zeros_like(grads["head"])',
])
def test_mlx010_zeroed_gradients(zero: str) -> None:
    assert fired(zero + "\n", "MLX010") == [1]


@pytest.mark.parametrize("code", [
    "acc = tree_map(mx.zeros_like, model.trainable_parameters())\n",
    'grads["llm"] = tree_map(lambda g: g * 0.5, grads["llm"])\n',
    'state["m"] = tree_map(mx.zeros_like, state["m"])\n',
])
def test_mlx010_accumulator_init_and_scaling_are_clean(code: str) -> None:
    assert fired(code, "MLX010") == []


# MLX011: labels not shifted ----------------------------------------------------------------

def test_mlx011_unshifted_labels() -> None:
    code = """
    def loss(model, tokens):
        return nn.losses.cross_entropy(model(tokens), tokens)

    def loss2(model, tokens):
        logits = model(tokens)
        return nn.losses.cross_entropy(logits, tokens, reduction="mean")
    """
    assert fired(code, "MLX011") == [3, 7]


@pytest.mark.parametrize("code", [
    "def f(model, t):\n    return nn.losses.cross_entropy(model(t[:, :-1]), t[:, 1:])\n",
    "def f(model, x, y):\n    return nn.losses.cross_entropy(model(x), y)\n",
    "def f(model, x):\n    return nn.losses.binary_cross_entropy(model(x), x)\n",
])
def test_mlx011_shifted_or_separate_targets_are_clean(code: str) -> None:
    assert fired(code, "MLX011") == []


# MLX012: silent partial load -------------------------------------------------------------------

def test_mlx012_filtered_and_not_strict() -> None:
    code = """
    def load(model, weights):
        names = [n for n, _ in tree_flatten(model.parameters())]
        found = [(n, weights[f"model.{n}"]) for n in names if f"model.{n}" in weights]
        model.load_weights(found, strict=False)
    """
    assert fired(code, "MLX012") == [5]


@pytest.mark.parametrize("call", [
    "model.load_weights(found, strict=True)",
    "model.load_weights('adapters.safetensors', strict=False)",
    "model.load_weights(list(weights.items()), strict=False)",
])
def test_mlx012_strict_or_unfiltered_loads_are_clean(call: str) -> None:
    code = f"""
    def load(model, weights, names):
        found = [(n, weights[n]) for n in names if n in weights]
        {call}
    """
    assert fired(code, "MLX012") == []


# MLX013: hand-written ModuleList ----------------------------------------------------------------

def test_mlx013_custom_module_list() -> None:
    code = """
    class ModuleList:
        def __init__(self, modules):
            self._modules = list(modules)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = ModuleList([nn.Linear(4, 4) for _ in range(3)])
    """
    assert fired(code, "MLX013") == [9]


def test_mlx013_any_plain_container_of_layers() -> None:
    """Not the name: any hand-written class holding layers is invisible to MLX."""
    code = """
    class Stack:
        def __init__(self, *layers):
            self.layers = layers

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Stack(nn.Linear(4, 4), nn.ReLU())
    """
    assert fired(code, "MLX013") == [9]


def test_mlx013_a_plain_class_that_builds_its_own_layers() -> None:
    """fresh26 sac_bandit_actor_plain_class: `class Actor:` makes its layers itself; the
    fixed twin derives it from nn.Module. A plain class with no layers stays clean."""
    code = """
    class Actor:
        def __init__(self, n):
            self.net = nn.Sequential(nn.Linear(n, n), nn.ReLU())

    class Agent(nn.Module):
        def __init__(self):
            super().__init__()
            self.actor = Actor(4)
    """
    assert fired(code, "MLX013") == [9]
    assert fired(code.replace("class Actor:", "class Actor(nn.Module):"), "MLX013") == []
    assert fired(code.replace("nn.Sequential(nn.Linear(n, n), nn.ReLU())", "[n]"),
                 "MLX013") == []


def test_mlx013_a_container_class_no_module_stores_is_clean() -> None:
    """The corpus's fixed twin keeps the class but stores a plain list."""
    code = """
    class ModuleList:
        def __init__(self, modules):
            self._modules = list(modules)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.Linear(4, 4) for _ in range(3)]
    """
    assert fired(code, "MLX013") == []


@pytest.mark.parametrize("base", ["list", "nn.Module", "dict"])
def test_mlx013_containers_mlx_can_see_into_are_clean(base: str) -> None:
    use = ("class Net(nn.Module):\n    def __init__(self):\n"
           "        self.blocks = ModuleList([nn.Linear(2, 2)])\n")
    assert fired(f"class ModuleList({base}):\n    pass\n" + use, "MLX013") == []
    assert rules("class ModuleList:\n    pass\n" + use, header="import torch\n") == []


# suppression comments -------------------------------------------------------------------------

@pytest.mark.parametrize("comment, silenced", [
    ("# noqa", True),
    ("# noqa: MLX001", True),
    ("# noqa: MLX", True),
    ("# noqa: E501, MLX001", True),
    ("# mlxprobe: ignore[MLX001]", True),
    ("# mlxprobe: ignore[MLX004, MLX001]", True),
    ("# noqa: ANN001", False),
    ("# mlxprobe: ignore[MLX004]", False),
])
def test_suppression_comments(comment: str, silenced: bool) -> None:
    code = f"""
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)  {comment}
    """
    assert (fired(code, "MLX001") == []) is silenced


def test_mlx007_needs_the_name_to_be_a_batch_of_sequences() -> None:
    code = """
    def f(model, tensor, idx, ids):
        diff = tensor[:, 1:] - tensor[:, :-1]
        steps = idx[1:] - idx[:-1]
        other = idx[1:]
        inputs, targets = ids[:, :-1], ids[1:]
        return diff, steps, other, inputs, targets
    """
    assert fired(code, "MLX007") == [6]


def test_mlx002_and_mlx007_in_top_level_notebook_style_code() -> None:
    code = """
    logits = model(input_ids)
    shift_logits = logits[:, :-1, :]
    shift_labels = input_ids[1:]
    numerator = shift_logits - mx.max(shift_logits, axis=-1, keepdims=True)
    log_probs = numerator - mx.log(mx.sum(mx.exp(numerator), axis=-1, keepdims=True))
    loss = -mx.mean(log_probs)
    """
    assert rules(code) == [("MLX007", 4), ("MLX002", 7)]


STEP_LOOP = """
def train(model, optimizer, data):
    def step(batch):
        (loss, metrics), grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        return loss, metrics, {returned}

    losses, accumulated = 0, {{"kl": 0}}
    for it, batch in enumerate(data):
        lvalue, metrics, extra = step(batch)
        losses += lvalue
        for k, v in metrics.items():
            accumulated[k] += v
        {evaluation}
        if it % 10 == 0:
            print(losses.item())
            accumulated = {{"kl": 0}}
"""


def test_mlx008_step_metrics_accumulated_unevaluated() -> None:
    """The pattern of github.com/Goekdeniz-Guelmez/mlx-lm-lora/pull/47 (8 trainers): a
    periodic reset inside an `if` still lets the graph grow for ten steps."""
    code = STEP_LOOP.format(returned="loss.item()", evaluation="mx.eval(state, losses)")
    assert fired(code, "MLX008") == [13]


@pytest.mark.parametrize("evaluation", [
    "mx.eval(state, losses, accumulated)",
    "acc = [v for v in accumulated.values()]\n        mx.eval(state, losses, *acc)",
])
def test_mlx008_step_metrics_evaluated_are_clean(evaluation: str) -> None:
    code = STEP_LOOP.format(returned="loss.item()", evaluation=evaluation)
    assert fired(code, "MLX008") == []


def test_mlx008_python_values_returned_by_the_step_are_clean() -> None:
    code = STEP_LOOP.format(returned="loss.item()", evaluation="mx.eval(state, losses, metrics)")
    assert fired(code.replace("accumulated[k] += v", "total += extra"), "MLX008") == []


def test_near_misses_from_mlx_own_tests() -> None:
    """MLX's python/tests: an optimizer stepped on an empty tree (a schedule test), and a
    worker that records a gradient error for the test to assert on."""
    code = """
    for _ in range(100):
        optimizer.update({}, {})

    def grad_worker():
        try:
            g = mx.grad(lambda a: (a * a).sum())
            r = g(x)
        except Exception as e:
            errors.append(("grad", repr(e)))
    """
    assert rules(code) == []


@pytest.mark.parametrize("header, call", [
    ("from mlx import core as mx\n", "mx.value_and_grad(lambda p, x: f(x))"),
    ("import mlx.core\n", "mlx.core.value_and_grad(lambda p, x: f(x))"),
    ("from mlx.core import value_and_grad as vag\n", "vag(lambda p, x: f(x))"),
])
def test_qualified_names_through_any_import_form(header: str, call: str) -> None:
    assert rules(f"g = {call}\n", header=header) == [("MLX003", 1)]


def test_qualified_names_not_fooled_by_other_libraries() -> None:
    assert rules("g = jax.value_and_grad(lambda p, x: f(x))\n", header="import jax\n") == []
    assert rules("g = mx.value_and_grad(lambda p, x: f(x))\n", header="import mxnet as mx\n") == []


@pytest.mark.parametrize("header, loss, flatten", [
    ("from mlx.nn.losses import cross_entropy\nfrom mlx.utils import tree_flatten as tf\n",
     "cross_entropy", "tf"),
    ("import mlx.nn.losses as L\nimport mlx.utils as U\n", "L.cross_entropy", "U.tree_flatten"),
])
def test_aliased_losses_and_utils(header: str, loss: str, flatten: str) -> None:
    code = f"""
    def f(model, t):
        return {loss}(model(t), t)

    n = sum(p.size for p in {flatten}(params))
    """
    assert rules(code, header=header) == [("MLX011", 3), ("MLX004", 5)]


def test_mlx001_logging_the_learning_rate_evaluates_nothing_else() -> None:
    code = """
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        log_lr(optimizer.learning_rate)
    """
    assert fired(code, "MLX001") == [4]


def test_mlx004_pairs_from_a_function_passed_as_a_callable() -> None:
    """The catalogue's form: the pairs come from a function handed down as `leaves`."""
    code = """
    def as_written(tree):
        return tree_flatten(tree)

    def unpacked(tree):
        return (v for _, v in tree_flatten(tree))

    def count(tree, leaves):
        return sum(p.size for p in leaves(tree) if isinstance(p, mx.array))

    def train(leaves):
        return count(params, leaves)

    def broken():
        train(as_written)

    def fixed():
        train(unpacked)
    """
    assert fired(code, "MLX004") == [3]
    assert fired(code.replace("train(as_written)", "train(unpacked)"), "MLX004") == []


def test_mlx002_label_smoothing_term_is_clean() -> None:
    code = """
    def smoothed(logits, targets, eps):
        lprobs = nn.log_softmax(logits, axis=-1)
        nll_loss = -mx.take_along_axis(lprobs, targets[..., None], axis=-1).mean()
        smooth_loss = -lprobs.mean()
        return (1 - eps) * nll_loss + eps * smooth_loss
    """
    assert fired(code, "MLX002") == []


def test_modules_that_do_not_import_mlx_are_not_checked() -> None:
    """The same loop with PyTorch: no lazy arrays, so MLX001 and MLX008 mean nothing there."""
    code = """
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        losses.append(loss)
    """
    assert rules(code, header="import torch\n") == []
    assert [r for r, _ in rules(code, header="from mlx_lm import load\n")] == ["MLX001",
                                                                               "MLX008"]


def test_mlx090_a_per_example_loss_vmapped_is_not_a_batch_sum() -> None:
    """correct_a14_dpsgd (fresh14): DP-SGD's per-example gradients, `mx.vmap(mx.grad(f))`
    where f sums the loss of one example (`x[None]`)."""
    code = """
    def example_loss(p, x, y):
        return nn.losses.cross_entropy(forward(p, x[None]), y[None]).sum()

    per_example_grads = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))
    """
    assert fired(code, "MLX090") == []
    batch = code.replace("per_example_grads = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))",
                         "grads = mx.grad(example_loss)")
    assert fired(batch, "MLX090") == [3]


ACCUMULATED = """
while update < 100:
    prev = None
    for _ in range(7):
        loss, grads = loss_and_grad(model, x, y)
        prev = grads if prev is None else tree_map(lambda a, b: a + b, prev, grads)
    loss, grads = loss_and_grad(model, x, y)
    grads = tree_map(lambda a, b: {combine}, prev, grads)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx005_a_sum_by_tree_map_is_no_scaling() -> None:
    """b14_grad_accum_summed_sgd (fresh14): micro-batch gradients summed by tree_map in an
    inner loop and once more after it, then applied undivided."""
    assert fired(ACCUMULATED.format(combine="a + b"), "MLX005") == [9]
    assert fired(ACCUMULATED.format(combine="(a + b) / 8"), "MLX005") == []
