"""A crash's hint from its traceback (`judging.tracebacks`, `judging.causes`): real tracebacks,
raised for real by one child process (plain Python, and mlx 0.32.4 on the CPU), read back
from its stderr as a watched program's would be. Cost: one child and 100 hypothesis examples,
~3 s under load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.judging import causes, hints, tracebacks
from mlxprobe.judging.program import raised
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# name -> a training-style program fragment that raises (mx, nn in scope)
PROGRAMS = {
    "zero_division": """
        def schedule(step, warmup_steps):
            return min(1.0, step / warmup_steps) * 1e-3
        schedule(1, 0)
    """,
    "compile_while": """
        @mx.compile
        def smooth(x):
            while mx.any(x > 1):
                x = x / 2
            return x
        smooth(mx.array([4.0, 0.5]))
    """,
    "no_super_init": """
        class Net(nn.Module):
            def __init__(self):
                self.layer = nn.Linear(2, 2)
        nn.value_and_grad(Net(), lambda m: m.layer(mx.ones((1, 2))).sum())(Net())
    """,
    "optimizer_key": """
        import mlx.optimizers as optim
        model, other = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2))
        _, grads = nn.value_and_grad(other, lambda m, x: m(x).sum())(other, mx.ones((1, 2)))
        optim.Adam(1e-3).update(model, grads)
    """,
    "optimizer_list": """
        import mlx.optimizers as optim
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.vals = []
            def __call__(self, x):
                y = self.fc(x)
                self.vals.append(y.sum())
                return y
        model = Net()
        opt = optim.Adam(1e-3)
        grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())
        for _ in range(3):
            _, grads = grad_fn(model, mx.ones((1, 2)))
            opt.update(model, grads)
    """,
    "optimizer_state_dicts": """
        import mlx.optimizers as optim
        from mlx.utils import tree_flatten
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.h = [nn.Linear(2, 2), nn.Linear(2, 2)]
            def __call__(self, x):
                for layer in self.h:
                    x = layer(x)
                return x
        model = Net()
        _, grads = nn.value_and_grad(model, lambda m, x: m(x).sum())(model, mx.ones((1, 2)))
        first = optim.Adam(1e-3)
        first.update(model, grads)
        state = {}
        for key, value in tree_flatten(first.state):
            node = state
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        resumed = optim.Adam(1e-3)
        resumed.state = state
        resumed.update(model, grads)
    """,
    "tree_add": """
        model = nn.Linear(2, 2)
        grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())
        _, acc = grad_fn(model, mx.ones((1, 2)))
        _, grads = grad_fn(model, mx.ones((1, 2)))
        acc = acc + grads
    """,
    "truth_value": """
        import random
        def act(state, epsilon):
            if random.random() < epsilon or (state[0] == 1):
                return 0
            return 1
        act(mx.zeros((4, 8)), 0.0)
    """,
    "unbound_name": """
        import argparse
        def train(args):
            if args.resume_adapter_file is not None:
                print(f"Loading pretrained adapters from {resume_adapter_file}")
        train(argparse.Namespace(resume_adapter_file="adapters.safetensors"))
    """,
    "undefined_function": """
        def evaluate(model):
            return 1.0

            flat = [g for g in grads_tree.values()]
            return {k: g / max_norm for k, g in grads_tree.items()}
        for step in range(2):
            grads = {"w": mx.zeros((2,))}
            grads = clip_grad_tree(grads, 1.0)
    """,
    "positional_shift": """
        def prepare(processor, images, audio=None, prompts=None, token_id=0):
            return [len(p) for p in prompts]
        prepare("proc", [1, 2], ["a prompt", "another"], 7)
    """,
    "count_iterated": """
        n_batches = 4
        total = sum(b for b in n_batches)
    """,
    "unbound_local": """
        def grpo_loss(logps, old, beta=0.04):
            kl = mx.exp(old - logps) - (old - logps) - 1
            if beta > 0:
                per_token_loss = per_token_loss + beta * kl
            per_token_loss = -mx.minimum(mx.exp(logps - old), 1.2)
            return per_token_loss.mean()
        grpo_loss(mx.zeros((2, 3)), mx.zeros((2, 3)))
    """,
    "unpacked_array": """
        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.out = nn.Linear(4, 8)
            def __call__(self, x):
                return self.out(x)
        logits, _ = LM()(mx.ones((4, 3, 4)))
    """,
    "unpacked_transform": """
        def mse(w, x, y):
            return mx.mean(mx.square(x @ w - y))
        w, x, y = mx.zeros((3,)), mx.ones((8, 3)), mx.ones((8,))
        lvalue, grads = mx.value_and_grad(mse)
    """,
    "index_in_getitem": """
        class Collection:
            def __init__(self, parts):
                self.parts = parts

            def __len__(self):
                return sum(map(len, self.parts))

            def __getitem__(self, idx):
                for part in self.parts:
                    if idx + 1 < len(part):
                        return part[idx]
                    idx -= len(part)
                raise IndexError(idx)
        data = Collection([[1, 2], [3, 4, 5]])
        sorted(range(len(data)), key=lambda i: data[i])
    """,
    "sliced_mapping": """
        class Decoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(2, 2) for _ in range(3)]
        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = Decoder()
        model = Model()
        for layer in model.layers[-2:]:
            print(layer)
    """,
    "unknown": """
        import json
        config = json.loads("{not json")
    """,
}

CHILD = """
import json, subprocess, sys, tempfile, textwrap
out = {}
for name, body in json.loads(sys.argv[1]).items():
    path = f"{tempfile.mkdtemp()}/train_{name}.py"
    with open(path, "w") as f:
        f.write("import mlx.core as mx\\nimport mlx.nn as nn\\n" + textwrap.dedent(body))
    done = subprocess.run([sys.executable, path], capture_output=True, text=True)
    out[name] = done.stderr
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stderr() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), json.dumps(PROGRAMS)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def hint_of(text: str) -> str:
    error = raised(text)
    assert error is not None, text[-1000:]
    return hints.for_error(*error, text)


def test_frames_tell_the_users_line_from_the_librarys(stderr: dict[str, str]) -> None:
    found = tracebacks.frames(stderr["no_super_init"])
    user = tracebacks.user_frame(found)
    assert user is not None and user.path.endswith("train_no_super_init.py")
    assert user.text.startswith("nn.value_and_grad(Net()")
    assert "mlx.nn.layers.base.__getattr__" in tracebacks.passed(found)
    assert found[-1].library and not found[0].library


def test_a_zero_division_names_the_denominator_and_the_guard(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["zero_division"])
    assert "`warmup_steps` was a Python 0" in hint and "`max(warmup_steps, 1)`" in hint
    assert "train_zero_division.py:5" in hint and "warmup" in hint


def test_control_flow_under_compile_names_the_line_and_why(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["compile_while"])
    assert hint.startswith("`while mx.any(x > 1):` (train_compile_while.py:6)")
    assert "mx.compile" in hint and "mx.where" in hint


def test_a_module_without_super_init_says_so(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["no_super_init"])
    assert "`Net.__init__` never called `super().__init__()`" in hint
    assert "(raised inside `mlx.nn.layers.base.__getattr__`, called at train_no_super_init.py:" \
        in hint


def test_a_key_error_inside_the_optimizer_is_a_tree_mismatch(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["optimizer_key"])
    assert hint.startswith("the optimizer met key 'layers'")
    assert "train_optimizer_key.py:7: `optim.Adam(1e-3).update(model, grads)`" in hint
    # b10_residual_cached_on_self (fresh10): an activation stored on the module in __call__
    assert "`self.skip = x` in `__call__`" in hint and "local variables" in hint


def test_a_type_error_inside_the_optimizer_is_a_state_of_another_shape(
        stderr: dict[str, str]) -> None:
    # fresh24 resume_optstate_string_keys_c24: a state rebuilt from flat keys as nested dicts
    hint = hint_of(stderr["optimizer_state_dicts"])
    assert hint.startswith("the optimizer met a node of another type in its own state")
    assert "'str' object does not support item assignment" in hint
    assert "tree_unflatten" in hint and "train_optimizer_state_dicts.py:27" in hint


def test_arithmetic_on_a_gradient_tree_says_tree_map(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["tree_add"])
    assert hint.startswith("`+` was applied to a dict or list")
    assert "tree_map(mx.add, acc, grads)" in hint and "train_tree_add.py:8" in hint


def test_an_unknown_error_still_names_the_raising_line(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["unknown"])
    assert hint.startswith("the loop raised JSONDecodeError")
    assert 'train_unknown.py:5: `config = json.loads("{not json")`' in hint


def test_a_watched_crash_gets_the_traceback_hint(stderr: dict[str, str]) -> None:
    raw = RawResult(records=[], exit_code=1, stderr_tail=stderr["zero_division"],
                    watched=True)
    verdict = classify(raw)
    assert verdict.label == "crash:ZeroDivisionError" and "warmup_steps" in verdict.hint


def test_a_list_the_forward_pass_grows_on_the_module_names_the_private_name(
        stderr: dict[str, str]) -> None:
    # fresh142 reedwarbler_vq_codec (VQ-VAE_MLX 6af34a5): `self.qt_vals.append(penalty)`
    hint = hint_of(stderr["optimizer_list"])
    assert hint.startswith("the optimizer met a list longer")
    assert "prefixed with `_`" in hint and "opt.update(model, grads)" in hint


def test_a_string_split_unpacked_into_names_says_split_once() -> None:
    # fresh144 ilab_adapter_ckpt (instructlab ab372a5): `a, b = adapter_file.split(".")`
    trace = ('Traceback (most recent call last):\n'
             '  File "/x/train.py", line 116, in train_model\n'
             '    a, b = adapter_file.split(".")\n'
             'ValueError: too many values to unpack (expected 2)\n')
    hint = hint_of(trace)
    assert 'rsplit(".", 1)' in hint and "splitext" in hint
    model = trace.replace('adapter_file.split(".")', "model(inputs)")
    assert "rsplit" not in hint_of(model) and "one array" in hint_of(model)


@pytest.mark.parametrize("message", ["slice step cannot be zero",
                                     "range() arg 3 must not be zero"])
def test_a_step_that_came_out_zero_says_clamp_it(message: str) -> None:
    # fresh152 marram_dwq_shallow (mlx-lm PR 196): int(0.25 * len(model.layers)) for 3 layers
    trace = ('Traceback (most recent call last):\n'
             '  File "/x/dwq.py", line 82, in dwq_quantize\n'
             '    layer_ids = list(range(len(model.layers)))[layer_id_step::layer_id_step]\n'
             f'ValueError: {message}\n')
    hint = hint_of(trace)
    assert "dwq.py:82" in hint and "max(int(fraction * n), 1)" in hint
    other = trace.replace(message, "math domain error")
    assert "max(int(" not in hint_of(other)


def test_denominators_of_one_line() -> None:
    assert causes.denominators("lr = min(1, it / args.warmup) * base") == ["args.warmup"]
    assert causes.denominators("x = a // b % len(c)") == ["len(c)", "b"]
    assert causes.denominators("elif total / n > 1:") == ["n"]
    assert causes.denominators("    total / (n") == []  # a fragment: nothing named


FRAMEISH = st.sampled_from([
    "Traceback (most recent call last):\n", '  File "/x/train.py", line 3, in <module>\n',
    '  File "/lib/python3.11/site-packages/mlx/optimizers/optimizers.py", line 9, in f\n',
    "    lr = a / (b\n", "    while x:\n", "    ~~^~~\n", "    \x00 / 0\n", "\n"])


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["ZeroDivisionError", "ValueError", "KeyError", "TypeError",
                             "IndexError", "AttributeError"]),
       message=st.text(max_size=80), lines=st.lists(FRAMEISH | st.text(max_size=40),
                                                    max_size=12))
def test_any_traceback_gives_a_hint_and_never_raises(kind: str, message: str,
                                                      lines: list[str]) -> None:
    hint = hints.for_error(kind, message, "".join(lines))
    assert isinstance(hint, str) and hint


def test_an_array_of_several_elements_used_as_a_truth_value_says_so(
        stderr: dict[str, str]) -> None:
    # fresh41 corridor_dqn_first_frame (mario-rl-mlx 4029fec): `or (state[0] == 1)`
    hint = hint_of(stderr["truth_value"])
    assert hint.startswith("an array of more than one element was used as a truth value")
    assert "train_truth_value.py:6" in hint and "shape" in hint and "mx.all" in hint
    # the same message from `.item()` of an unreduced loss keeps the known error's fix
    assert "truth value" not in hints.for_error(
        "ValueError", "[convert] Only length-1 arrays can be converted to Python scalars",
        'File "train.py", line 3, in <module>\n    print(loss.item())\n')


def test_an_unbound_name_names_its_likely_owners_and_the_line(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["unbound_name"])
    assert "`args.resume_adapter_file`" in hint and "`self.resume_adapter_file`" in hint
    assert "train_unbound_name.py:7" in hint and "only when that path first runs" in hint


def test_a_called_name_nothing_defines_is_a_function_to_define_or_import(
        stderr: dict[str, str]) -> None:
    # fresh128 `sgf_joseki_charlm_clip` (openai/parameter-golf 36f0109): a lost `def` line
    hint = hint_of(stderr["undefined_function"])
    assert hint.startswith("`clip_grad_tree` is called on the raising line")
    assert "train_undefined_function.py:11" in hint and "`def clip_grad_tree(...):`" in hint
    assert "import" in hint and "`args.clip_grad_tree`" not in hint


def test_a_number_iterated_in_a_called_function_names_the_positional_call(
        stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["positional_shift"])
    assert hint.startswith("`prompts` held an int") and "train_positional_shift.py:5" in hint
    assert "positional call" in hint and "`prepare(..., prompts=prompts)`" in hint
    local = hint_of(stderr["count_iterated"])
    assert local.startswith("`n_batches` held an int") and "positional" not in local
    assert "`for i in range(n)`" in local


def test_a_local_read_before_its_assignment_says_move_it_after(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["unbound_local"])
    assert hint.startswith("`per_token_loss` is read") and "train_unbound_local.py:7" in hint
    assert "`grpo_loss` assigns `per_token_loss` somewhere" in hint and "after" in hint
    # a loop whose target is the name it iterates (fresh240 tramline_junction_heads)
    assert "`for k, per_token_loss in per_token_loss.items()`" in hint


def test_a_single_array_unpacked_into_names_says_assign_it_whole(stderr: dict[str, str]) -> None:
    hint = hint_of(stderr["unpacked_array"])
    assert "train_unpacked_array.py:10" in hint and "one array" in hint
    assert "`logits = model(inputs)`" in hint and "first axis" in hint


def test_a_transformation_unpacked_says_call_it_first(stderr: dict[str, str]) -> None:
    # fresh55 vgrad_doc_unpack (mlx issue 273: the docs' example unpacked the function)
    hint = hint_of(stderr["unpacked_transform"])
    assert "train_unpacked_transform.py:7" in hint and "return a function" in hint
    assert "loss_and_grad(params, x, y)" in hint


def test_an_index_error_in_getitem_says_len_and_getitem_disagree(stderr: dict[str, str]) -> None:
    # fresh249 almanac_stitch_lora (mlx-examples a5b866cf): `<` for `<=` in the mapping
    hint = hint_of(stderr["index_in_getitem"])
    assert hint.startswith("a dataset's `__getitem__` raised IndexError")
    assert "train_index_in_getitem.py:16: `raise IndexError(idx)`" in hint
    assert "`__len__` and `__getitem__` disagree" in hint


def test_an_index_error_elsewhere_keeps_the_plain_hint() -> None:
    text = ('Traceback (most recent call last):\n  File "/tmp/train.py", line 3, in <module>\n'
            '    rows[9]\nIndexError: list index out of range\n')
    assert "__getitem__" not in hint_of(text)


def test_a_module_sliced_as_a_list_says_slice_its_inner_list(stderr: dict[str, str]) -> None:
    # fresh250 quillwort_adapter_meld (mlx-plamo 38e5d75): the decoder module, not its list
    hint = hint_of(stderr["sliced_mapping"])
    assert hint.startswith("`for layer in model.layers[-2:]:` (train_sliced_mapping.py:13)")
    assert "an `nn.Module` is a dict of its members" in hint and ".layers.layers[-n:]" in hint


def test_a_module_never_imported_says_import_it() -> None:
    # fresh251 ropewalk_tarring_grpo (textpolicy 173260e): logging used, never imported
    text = ('Traceback (most recent call last):\n  File "/tmp/train.py", line 7, in loss_fn\n'
            '    logger = logging.getLogger(__name__)\n'
            "NameError: name 'logging' is not defined\n")
    hint = hint_of(text)
    assert hint.startswith("`logging` is a module that this file never imports")
    assert "add `import logging`" in hint
    alias = text.replace("logging.getLogger(__name__)", "np.mean(x)").replace("'logging'", "'np'")
    assert "add `import numpy as np`" in hint_of(alias)
