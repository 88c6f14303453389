"""From fresh54's held-out half: MLX159 (a quantized model's layers selected by
`isinstance(m, nn.Linear)`), MLX160 (a PyTorch-style `forward` with no `__call__`, called)
and MLX161 (a stateful compiled function that raises, called under a `try` that goes on),
each with the spellings that are right beside it."""

from __future__ import annotations

import pytest
from lint_snippets import fired

QUANTIZED = """
def attach(model):
    picked = [(k, m) for k, m in model.named_modules() if {test}]
    model.update_modules(dict(picked))

def main():
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    {first}
    {second}
"""


@pytest.mark.parametrize("test, first, second, lines", [
    ("isinstance(m, nn.Linear)", "nn.quantize(model, bits=4)", "attach(model)", [3]),
    ("isinstance(m, (nn.Linear, nn.Embedding))", "nn.quantize(model)", "attach(model)", [3]),
    ("isinstance(m, (nn.Linear, nn.QuantizedLinear))", "nn.quantize(model)", "attach(model)",
     []),
    ("isinstance(m, nn.Linear) or isinstance(m, nn.QuantizedLinear)", "nn.quantize(model)",
     "attach(model)", []),
    ("isinstance(m, nn.Linear)", "attach(model)", "nn.quantize(model)", []),  # before: Linear
    ("isinstance(m, nn.Linear)", "attach(model)", "pass", []),  # never quantized
])
def test_mlx159_layers_of_a_quantized_model_selected_as_linear(test: str, first: str,
                                                                second: str, lines: list[int]):
    assert fired(QUANTIZED.format(test=test, first=first, second=second), "MLX159") == lines


def test_mlx159_the_quantize_predicate_itself_is_not_a_selection():
    code = """
    model = nn.Sequential(nn.Linear(64, 64))
    nn.quantize(
        model,
        class_predicate=lambda p, m: isinstance(m, nn.Linear) and m.weight.shape[0] % 64 == 0,
    )
    """
    assert fired(code, "MLX159") == []


FORWARD = """
class Field(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 1)

    def {method}(self, x):
        return self.l(x)

def render(model, xs):
    return mx.concatenate([model(xs[i:i + 8]) for i in range(0, xs.shape[0], 8)])

net = Field()
{use}
"""


@pytest.mark.parametrize("method, use, lines", [
    ("forward", "render(net, mx.ones((16, 4)))", [11]),
    ("forward", "net(mx.ones((2, 4)))", [14]),
    ("forward", "net.forward(mx.ones((2, 4)))", []),  # called the way it is written
    ("__call__", "render(net, mx.ones((16, 4)))", []),
    ("__call__", "net(mx.ones((2, 4)))", []),
])
def test_mlx160_a_forward_only_module_called(method: str, use: str, lines: list[int]):
    assert fired(FORWARD.format(method=method, use=use), "MLX160") == lines


def test_mlx160_a_base_class_in_the_file_that_dispatches_to_forward_is_right():
    code = """
    class Base(nn.Module):
        def __call__(self, x):
            return self.forward(x)

    class Net(Base):
        def forward(self, x):
            return x * 2

    net = Net()
    net(mx.ones(2))
    """
    assert fired(code, "MLX160") == []


COMPILED = """
model = nn.Linear(4, 2)
opt = optim.SGD(0.1)
state = [model.state, opt.state]

@partial(mx.compile, {declared})
def step(x):
    if x.shape[0] < 2:
        raise ValueError("too small")
    loss, g = nn.value_and_grad(model, lambda m, x: m(x).sum())(model, x)
    opt.update(model, g)
    return loss

for x in [mx.ones((1, 4)), mx.ones((8, 4))]:
    try:
        loss = step(x)
    except {caught}:
        {handler}
    mx.eval(state)
"""


@pytest.mark.parametrize("declared, caught, handler, lines", [
    ("inputs=state, outputs=state", "ValueError", "continue", [16]),
    ("inputs=state, outputs=state", "Exception", "print('skipped')", [16]),
    ("inputs=state", "ValueError", "continue", [16]),
    ("inputs=state, outputs=state", "ValueError", "raise", []),  # not swallowed
    ("inputs=state, outputs=state", "KeyError", "continue", []),  # not what it raises
])
def test_mlx161_a_stateful_compiled_step_that_raised_and_the_loop_went_on(
        declared: str, caught: str, handler: str, lines: list[int]):
    code = COMPILED.format(declared=declared, caught=caught, handler=handler)
    assert fired(code, "MLX161") == lines


def test_mlx161_a_compiled_function_without_declared_state_traces_again():
    code = COMPILED.replace("@partial(mx.compile, {declared})", "@mx.compile").format(
        caught="ValueError", handler="continue")
    assert fired(code, "MLX161") == []


def test_mlx160_a_subclass_of_the_files_own_module_with_forward_only():
    code = """
    class Base(nn.Module):
        def __init__(self):
            super().__init__()

    class Net(Base):
        def forward(self, x):
            return x * 2

    class External(SomeTorchishBase):
        def forward(self, x):
            return x

    net = Net()
    other = External()
    net(mx.ones(2))
    other(mx.ones(2))
    """
    assert fired(code, "MLX160") == [16]  # External's base may define __call__
