"""MLX113: a function compiled without `inputs=` reads a model the program updates outside
it, on small programs: a compiled loss-and-gradient and a trainer's compiled method fire; the
same with `inputs=`/`outputs=`, a compiled function given what it reads as arguments, one
that updates the model itself (MLX023's) and a model nothing updates stay clean."""

from __future__ import annotations

from lint_snippets import fired

HEAD = """
model = nn.Linear(3, 1)
opt = optim.SGD(learning_rate=0.1)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
"""
STEP = HEAD + """
@mx.compile
def step(x, y):
    return vg(model, x, y)

for _ in range(10):
    loss, grads = step(x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""
TRAINER = """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = optim.Adam(learning_rate=1e-3)
        self.vg = nn.value_and_grad(model, loss_fn)
        self.step = mx.compile(self.grads)

    def grads(self, x, y):
        return self.vg(self.model, x, y)

    def train(self, x, y):
        loss, g = self.step(x, y)
        self.opt.update(self.model, g)
        mx.eval(self.model.parameters())
"""
PREDICT = HEAD + """
@mx.compile
def predict(x):
    return model(x)

for _ in range(10):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    print(predict(x))
"""


def test_mlx113_a_compiled_step_reading_an_updated_model_fires():
    assert fired(STEP, "MLX113") == [6]


def test_mlx113_a_trainers_compiled_method_fires():
    assert fired(TRAINER, "MLX113") == [7]


def test_mlx113_a_compiled_evaluation_of_a_trained_model_fires():
    assert fired(PREDICT, "MLX113") == [6]


def test_mlx113_state_declared_is_clean():
    declared = STEP.replace("@mx.compile", "@partial(mx.compile, inputs=model.state, "
                            "outputs=model.state)")
    assert fired(declared, "MLX113") == []


def test_mlx113_a_model_given_as_an_argument_is_clean():
    given = PREDICT.replace("def predict(x):\n    return model(x)",
                            "def predict(model, x):\n    return model(x)")
    assert fired(given, "MLX113") == []


def test_mlx113_an_update_inside_is_left_to_mlx023():
    inside = STEP.replace("    return vg(model, x, y)",
                          "    loss, g = vg(model, x, y)\n    opt.update(model, g)\n"
                          "    return loss")
    assert fired(inside, "MLX113") == []
    assert fired(inside, "MLX023") == [6]


def test_mlx113_a_model_nothing_updates_is_clean():
    frozen = PREDICT.replace("    opt.update(model, grads)\n", "")
    assert fired(frozen, "MLX113") == []
