"""From fresh49's held-out half: MLX155 (a flat checkpoint handed to `Module.update` as it
is), MLX156 (a model's one output unpacked as a tuple), MLX157 (an MLX array handed to
`json.dumps`), MLX158 (a test on the size of an axis just set to 1): each on small
programs, with the spellings that are right beside them. MLX008 reading `return None,
None` of a step that did not update as no array is held by test_lint_corpus (fresh49
corridor_dqn_exploit's twins, where it fired)."""

from __future__ import annotations

import pytest
from lint_snippets import fired

VAE = """
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def __call__(self, x):
        return self.fc(x)

class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.{attribute}

    def __call__(self, x):
        {body}

def resume(model, path):
    {restore}

model = VAE()
optimizer = optim.Adam(learning_rate=1e-3)
for step in range(10):
    {unpack} = model(mx.ones((3, 4)))
    loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((3, 4))).sum())(model)
    optimizer.update(model, grads)
"""


def vae(attribute="encoder = Encoder()", body="return self.encoder(x)",
        restore="model.update(mx.load(path))", unpack="out") -> str:
    return VAE.format(attribute=attribute, body=body, restore=restore, unpack=unpack)


@pytest.mark.parametrize("restore, attribute, lines", [
    ("model.update(mx.load(path))", "encoder = Encoder()", [19]),
    ("model.update(dict(tree_flatten(model.parameters())))", "encoder = Encoder()", [19]),
    ("model.update(tree_unflatten(list(mx.load(path).items())))", "encoder = Encoder()", []),
    ("model.load_weights(path)", "encoder = Encoder()", []),
    ("model.update(mx.load(path))", "weight = mx.zeros((4, 2))", []),  # no dotted key
])
def test_mlx155_a_flat_checkpoint_given_to_update(restore: str, attribute: str,
                                                  lines: list[int]):
    body = "return self.encoder(x)" if "encoder" in attribute else "return x @ self.weight"
    code = vae(attribute=attribute, body=body, restore=restore)
    assert fired(code, "MLX155") == lines


@pytest.mark.parametrize("body, lines", [
    ("return self.encoder(x)", [24]),
    ("h = self.encoder(x)\n        return h * 2", [24]),
    ("return self.encoder(x), None", []),  # a tuple: unpacking it is right
    ("return helper(x)", []),  # unknown: may be a tuple
])
def test_mlx156_a_single_output_unpacked(body: str, lines: list[int]):
    shift = body.count("\n")
    code = vae(body=body, unpack="logits, _")
    assert fired(code, "MLX156") == [n + shift for n in lines]


LOGGER = """
import json

def log(optimizer, loss, step):
    record = {{"step": step, "lr": {lr}, "loss": {loss}}}
    return json.dumps(record)
"""


@pytest.mark.parametrize("lr, loss, lines", [
    ("optimizer.learning_rate", "loss", [6]),
    ("float(optimizer.learning_rate)", "mx.mean(mx.ones(3))", [6]),  # an array loss
    ("float(optimizer.learning_rate)", "loss", []),
    ("optimizer.learning_rate.item()", "float(loss)", []),
])
def test_mlx157_an_array_given_to_json(lr: str, loss: str, lines: list[int]):
    assert fired(LOGGER.format(lr=lr, loss=loss), "MLX157") == lines



ACT = """
def act(net, state, epsilon):
    if np.random.rand() < epsilon:
        return np.random.randint(2)
    state = {expand}
    if state.shape[0] {test}:
        return np.random.randint(2)
    return mx.argmax(net(state), axis=1).item()
"""


@pytest.mark.parametrize("expand, test, lines", [
    ("mx.array(state)[None, :]", "== 1", [6]),
    ("mx.expand_dims(mx.array(state), 0)", "!= 1", [6]),
    ("mx.array(state).reshape(1, -1)", "== 1", [6]),
    ("mx.array(state)", "== 1", []),  # its own first axis: a real test
    ("mx.array(state)[:, None]", "== 1", []),  # the new axis is the second
])
def test_mlx158_a_test_on_an_axis_just_set_to_one(expand: str, test: str, lines: list[int]):
    assert fired(ACT.format(expand=expand, test=test), "MLX158") == lines
