"""Stop 67's lint rule, on the spelling its corpus case had and on the ones it must leave
alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

NORM = """
import mlx.core as mx
import mlx.nn as nn


class RunningNorm(nn.Module):
    def __init__(self, dims, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.{name} = mx.zeros((dims,))
        self._table = mx.ones((dims,))

    def __call__(self, x):
        if self.training:
            mean = mx.mean(x, axis=0)
            self.{name} = (1 - self.momentum) * self.{name} + self.momentum * mean
        return (x - self.{name}) * self._table


def keep(model, path):
    model.{saving}(path)
"""


@pytest.mark.parametrize("name, saving, expected", [
    ("_running_mean", "save_weights", [10]),  # fresh212 rennet_curd_runstats_ckpt
    ("_running_mean", "load_weights", [10]),
    ("running_mean", "save_weights", []),  # public: a parameter, saved
    ("_running_mean", "eval", []),  # no checkpoint in the file
])
def test_mlx219_running_state_under_a_private_name(name: str, saving: str,
                                                   expected: list[int]) -> None:
    assert fired(NORM.format(name=name, saving=saving), "MLX219") == expected


def test_mlx219_leaves_a_private_constant_alone() -> None:
    text = NORM.format(name="_running_mean", saving="save_weights").replace(
        "self._running_mean = (1 - self.momentum) * self._running_mean + self.momentum * mean",
        "pass")
    assert fired(text, "MLX219") == []


CALLS = """
import mlx.core as mx


def load(img):
    return {call}
"""


@pytest.mark.parametrize("call, expected", [
    ("mx.transpose(img, -1, 0)", [6]),  # fresh215 inkling_pixel_fit
    ("mx.transpose(mx.array(img), 2, 0, 1)", [6]),  # brackets inside its arguments
    ("mx.transpose(img, (2, 0, 1))", []),
    ("mx.moveaxis(img, -1, 0)", []),
    ("mx.transpose(img, *order)", []),
    ("img.transpose(2, 0, 1)", []),  # the array method takes axes one by one
])
def test_mlx220_more_arguments_by_position_than_the_signature(call: str,
                                                              expected: list[int]) -> None:
    assert fired(CALLS.format(call=call), "MLX220") == expected


BANK = """
import mlx.core as mx


def features(model, loader):
    feats = []
    for {loop}:
        emb = model.get_image_features(x)
        {extra}
        feats.append(emb)
    return mx.concatenate(feats)
"""


@pytest.mark.parametrize("loop, extra, expected", [
    ("i, x in enumerate(loader)", "pass", [10]),  # fresh215 linprobe_lazy_feature_bank
    ("x in loader", "mx.eval(emb)", []),  # evaluated before the append
    ("x in loader", "mx.async_eval(emb)", []),
    ("i in range(4)", "x = loader[i]", []),  # a range: a sequence's positions, a rollout
    ("x in [loader, loader]", "pass", []),  # a literal
])
def test_mlx221_a_bank_of_unevaluated_outputs_concatenated_after_the_loop(
        loop: str, extra: str, expected: list[int]) -> None:
    assert fired(BANK.format(loop=loop, extra=extra), "MLX221") == expected


def test_mlx221_leaves_a_models_own_forward_and_a_training_loop_alone() -> None:
    function = BANK.format(loop="x in loader", extra="pass").split("\n\n\n", 1)[1]
    method = "import mlx.core as mx\nimport mlx.nn as nn\n\n\nclass Net(nn.Module):\n" + \
        "\n".join("    " + line for line in function.replace("model", "self").splitlines())
    assert fired(method, "MLX221") == []
    assert fired(method.replace("class Net(nn.Module):", "class Net:"), "MLX221") == [11]
    trains = BANK.format(loop="x in loader", extra="loss, grads = loss_and_grad(model, x)"
                         ).replace("return", "opt.update(model, grads)\n    return")
    assert fired(trains, "MLX221") == []


ADAPTERS = """
import mlx.core as mx
from mlx.utils import tree_flatten


def reload(model, model2, path):
    mx.save_safetensors(path, dict(tree_flatten({saved})))
    model2.{load}
"""


@pytest.mark.parametrize("saved, load, expected", [
    ("model.trainable_parameters()", "load_weights(path)", [8]),  # fresh218 kiln_glaze
    ("model.trainable_parameters()", "load_weights(path, strict=True)", [8]),
    ("model.trainable_parameters()", "load_weights(path, strict=False)", []),  # mlx-lm's way
    ("model.parameters()", "load_weights(path)", []),  # the whole model
    ("model.trainable_parameters()", "load_weights(other)", []),  # another file
])
def test_mlx222_a_subset_of_the_model_loaded_back_strictly(saved: str, load: str,
                                                           expected: list[int]) -> None:
    assert fired(ADAPTERS.format(saved=saved, load=load), "MLX222") == expected


HALF = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

DTYPE = mx.float16
{guard}
model = nn.Linear(4, 4)
model.set_dtype(DTYPE)
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())
for x in data:
    loss, grads = grad_fn(model, x)
    opt.update(model, grads)
"""


@pytest.mark.parametrize("guard, expected", [
    ("def fill(mask, dtype):\n    return mask.astype(dtype) * -1e9", [10]),
    # fresh219 causalfill_f16_cyclelm_ok: the mask filled with the training dtype's lowest
    ("def fill(mask, dtype):\n    return mask.astype(dtype) * mx.finfo(dtype).min", []),
    ("def fill(mask):\n    return mask * mx.finfo(mx.float32).min", [10]),  # not float16's
])
def test_mlx025_stands_down_where_the_module_reads_its_dtypes_range(guard: str,
                                                                    expected: list[int]) -> None:
    assert fired(HALF.format(guard=guard), "MLX025") == expected


CHAT = """
def encode_example(tok, msgs):
    text = tok.apply_chat_template(msgs, tokenize={tokenize})
    return tok.encode({encode})
"""


@pytest.mark.parametrize("tokenize, encode, expected", [
    ("False", "text", [4]),  # fresh219 chatrev_doublebos
    ("False", "text, add_special_tokens=False", []),
    ("True", "text", []),  # ids already: no second encode of a text
    ("False", "other", []),
])
def test_mlx223_a_rendered_chat_template_encoded_with_special_tokens(
        tokenize: str, encode: str, expected: list[int]) -> None:
    text = "import mlx.core as mx\n" + CHAT.format(tokenize=tokenize, encode=encode)
    assert fired(text, "MLX223") == [n + 1 for n in expected]


RATIO = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

opt = optim.{optimizer}(learning_rate=1e-5)
ratio = 16.0


def step(model, loss_and_grad, x, y):
    loss, grads = loss_and_grad(model, x, y)
    {scale}
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


@pytest.mark.parametrize("optimizer, scale, expected", [
    ("AdamW", 'grads["body"]["lora_b"] = grads["body"]["lora_b"] * ratio', [12]),  # fresh212
    ("Adam", 'grads["embed"] *= 4.0', [12]),
    ("SGD", 'grads["body"]["lora_b"] = grads["body"]["lora_b"] * ratio', []),  # scales the step
    ("AdamW", "grads = tree_map(lambda g: g / 4, grads)", []),  # the whole tree alike
    ("AdamW", 'grads["body"] = clip(grads["body"])', []),
])
def test_mlx224_a_gradient_group_scaled_before_an_adam_step(optimizer: str, scale: str,
                                                            expected: list[int]) -> None:
    assert fired(RATIO.format(optimizer=optimizer, scale=scale), "MLX224") == expected
