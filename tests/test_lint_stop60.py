"""Stop 60's lint changes, on small programs with the spellings beside them that must stay
silent. A model and a checkpoint handed back by the module's own helpers
(`model, opt = build()`, `weights, state = load_state(dir)`) are followed into what the
helpers return: failure corpus fresh139 `rectdet_resume_update` (DINO_DETR_MLX 2025390: a
flat `mx.load` dict returned through a resume helper and given to `model.update`, ValueError
at the resume), which MLX155 missed when the load sat in another function.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

RESUME = """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def __call__(self, x):
        return self.fc(x)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = Head()

    def __call__(self, x):
        return self.head(x)

def build():
    model = Net()
    optimizer = optim.Adam(learning_rate=1e-3)
    return model, optimizer

def load_state(path):
    {load}
    return weights, 3

model, optimizer = build()
for step in range(10):
    loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((3, 4))).sum())(model)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
weights, epoch = load_state("ckpt.safetensors")
model.update(weights)
"""


@pytest.mark.parametrize("load, lines", [
    ("weights = mx.load(path)", [33]),
    ("weights = tree_unflatten(list(mx.load(path).items()))", []),
    ("weights = model_weights(path)", []),  # unknown helper: not assumed flat
])
def test_mlx155_follows_a_checkpoint_and_a_model_through_helpers(load: str,
                                                                 lines: list[int]) -> None:
    assert fired(RESUME.format(load=load), "MLX155") == lines


def test_mlx155_needs_the_helper_to_return_a_tuple_of_that_size() -> None:
    code = RESUME.format(load="weights = mx.load(path)").replace(
        "return weights, 3", "return weights, 3, None")
    assert fired(code, "MLX155") == []


# MLX184: a shape joined with a list (failure corpus fresh140 canal_lock_mamba, mamba.py
# 9f04ef2: TypeError in the first forward pass).
UNSQUEEZE = """
def unsqueeze(x, axis):
    new_shape = {shape}
    return x.reshape(new_shape)

model = nn.Linear(4, 2)
y = model(unsqueeze(mx.ones((3,)), 0))
"""


@pytest.mark.parametrize("shape, lines", [
    ("x.shape + [1]", [3]),
    ("x.shape[:axis] + [1] + x.shape[axis:]", [3]),
    ("[1] + x.shape", [3]),
    ("x.shape + [d for d in (1,)]", [3]),
    ("x.shape + (1,)", []),
    ("list(x.shape) + [1]", []),
    ("(*x.shape, 1)", []),
    ("x.shape[:axis] + (1,) + x.shape[axis:]", []),
    ("[x.shape[0]] + [1]", []),
])
def test_mlx184_a_shape_joined_with_a_list(shape: str, lines: list[int]) -> None:
    assert fired(UNSQUEEZE.format(shape=shape), "MLX184") == lines


# MLX185: an optimizer that hands back parameters of some shape unchanged (failure corpus
# fresh139 pyranometer_offset_muon, mlx-optimizers 4ec812d: every vector stayed at its
# initial value).
MUON = """
class Muon(optim.Optimizer):
    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["step"] = 0

    def apply_single(self, gradient, parameter, state):
        {guard}
        state["v"] = 0.9 * state["v"] + gradient
        return parameter - self.learning_rate * state["v"]
"""


@pytest.mark.parametrize("guard, lines", [
    ("if parameter.ndim != 2:\n            return parameter", [9]),
    ("if len(parameter.shape) < 2:\n            return parameter", [9]),
    ("if parameter.ndim == 2:\n            pass\n        else:\n            return parameter",
     [11]),
    ("if parameter.ndim != 2:\n            return self.alt.apply_single(gradient, parameter, "
     "state)", []),
    ('if state["step"] == 0:\n            return parameter', []),  # ADOPT's first step
    ("if parameter.ndim != 2:\n            parameter = parameter * 0.99\n"
     "            return parameter", []),
])
def test_mlx185_parameters_of_one_shape_handed_back_unchanged(guard: str,
                                                             lines: list[int]) -> None:
    assert fired(MUON.format(guard=guard), "MLX185") == lines


# MLX186: a public list attribute the forward pass grows (failure corpus fresh142
# reedwarbler_vq_codec, VQ-VAE_MLX 6af34a5: IndexError at the second update).
CODEC = """
class Codec(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.{name} = []

    def _encode(self, x):
        y = self.fc(x)
        {grow}
        return y

    def __call__(self, x):
        return self._encode(x)

model = Codec()
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, lambda m, x: m(x).sum())
for it in range(10):
    loss, grads = step(model, mx.ones((2, 4)))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


@pytest.mark.parametrize("name, grow, lines", [
    ("vals", "self.vals.append(y.sum())", [10]),
    ("vals", "self.vals += [y.sum()]", [10]),
    ("_vals", "self._vals.append(y.sum())", []),  # private: not a parameter
    ("vals", "self.vals = [y.sum()]", []),  # rebound, not grown
])
def test_mlx186_a_public_list_the_forward_pass_grows(name: str, grow: str,
                                                     lines: list[int]) -> None:
    assert fired(CODEC.format(name=name, grow=grow), "MLX186") == lines


# MLX013 follows a plain class into an nn.Sequential's layers (failure corpus fresh144
# quarry_vqvae2_residual, mlx-vqvae2 1ee0298: the residual stacks' convolutions never in
# parameters(), never trained, never saved).
STACKED = """
class ResidualStack{base}:
    def __init__(self, dim):
        {init}self.stack = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())

    def __call__(self, x):
        return x + self.stack(x)

class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, dim), {member})

    def __call__(self, x):
        return self.layers(x)

model = Encoder(4)
opt = optim.Adam(learning_rate=1e-3)
loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((2, 4))).sum())(model)
opt.update(model, grads)
"""


@pytest.mark.parametrize("base, init, member, lines", [
    ("", "", "ResidualStack(dim)", [12]),
    ("", "", "*[ResidualStack(dim)] * 2", [12]),
    ("(nn.Module)", "super().__init__()\n        ", "ResidualStack(dim)", []),
    ("", "", "nn.ReLU()", []),
])
def test_mlx013_a_plain_class_among_a_sequentials_layers(base: str, init: str, member: str,
                                                        lines: list[int]) -> None:
    shift = init.count("\n")
    code = STACKED.format(base=base, init=init, member=member)
    assert fired(code, "MLX013") == [n + shift for n in lines]


# MLX187: an optimizer's update handed the parameter dict (failure corpus fresh145
# handbell_peal_grpo, mlx-grpo e54e50a: the policy never changed).
POLICY = """
model = nn.Linear(4, 8)
{bind}
for step in range(10):
    loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((2, 4))).sum())(model)
    {call}
    mx.eval(model.parameters())
"""


@pytest.mark.parametrize("bind, call, lines", [
    ("optimizer = optim.Adam(learning_rate=1e-3)", "optimizer.update(model.parameters(), grads)",
     [6]),
    ("sgd = optim.SGD(learning_rate=1e-3)", "sgd.update(model.trainable_parameters(), grads)",
     [6]),
    ("optimizer = optim.Adam(learning_rate=1e-3)", "optimizer.update(model, grads)", []),
    ("cache = {}", "cache.update(model.parameters())", []),  # a dict's own update
])
def test_mlx187_an_update_handed_the_parameter_dict(bind: str, call: str,
                                                    lines: list[int]) -> None:
    assert fired(POLICY.format(bind=bind, call=call), "MLX187") == lines
