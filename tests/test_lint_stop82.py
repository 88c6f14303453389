"""Stop 82's lint changes.

- MLX266 (new): a value computed from some of a function's arguments and never read, those
  arguments read nowhere else (fresh294 `ebbtide_ledger_deltanet`, mlx-lm d6c4599: a gated
  delta rule's decay `g = compute_g(A_log, a, dt_bias)` never applied to the state).
- MLX159 follows a model quantized inside the module's own loader and returned (fresh295
  `quayside_lantern_retrieval`, mlx-embed-finetune 13d1ff7: `model = load_model()`, then a
  LoRA helper tested `isinstance(layer, nn.Linear)` on the 4-bit encoder's projections).
- MLX055 reads a step function's evaluation and a model's trainable parameters inside the
  argument (fresh296 `weir_sluice_fit_tracker`, keras PR #23193: `mx.eval([v for _, v in
  tree_flatten(self.model.trainable_parameters())] + [loss])` in `train_step`).
- MLX005 reads a sum kept in an object (lintheld3 `a3_grad_accumulator`, spelled anew: a
  `GradAccumulator` whose `add` sums trees into `self.total` and whose `finalize` returns
  it undivided, handed to `opt.update`).
- MLX046 reads a loader's dtype parameter whose bfloat16 default no call overrides, and
  the model the loader returns to a slow optimizer (lintheld3 `a3_bf16_finetune`, spelled
  anew: `def load_for_finetune(teacher, dtype=mx.bfloat16)`, `student.set_dtype(dtype)`).
- MLX022 follows a model's output into its forward (lintheld3 `b3_sigmoid_prob_bce`, the
  rule spelled anew: `p = model(feats)` whose `__call__` returns `sigmoid(...).squeeze(-1)`,
  then `log(p)` and `log(1.0 - p)` in the loss), and leaves alone the log of a sigmoid of
  the module's own scalar attribute (fresh296 `gnomon_tip_vdm`, correct: a VDM's prior term
  `mx.log(mx.sigmoid(self.g1))`, g1 = 6).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

DELTA = """
def compute_g(A_log, dt_bias):
    return mx.exp(-mx.exp(A_log) * nn.softplus(dt_bias))

def step_state(state, k, v, A_log, dt_bias):
    g = compute_g(A_log, dt_bias)
{apply}    return state + k[..., None] * v[..., None, :]
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_a_gate_computed_from_arguments_and_never_applied_fires() -> None:
    assert fired(DELTA.format(apply=""), "MLX266") == [6]


def test_the_gate_applied_is_quiet() -> None:
    assert fired(DELTA.format(apply="    state = state * g\n"), "MLX266") == []


def test_an_unused_value_whose_arguments_are_read_elsewhere_is_quiet() -> None:
    """`mu = mx.exp(log_mu)` for a print later removed, the loss written in `log_mu`: the
    argument still reaches the result."""
    code = DELTA.format(apply="    state = state * A_log + dt_bias\n")
    assert fired(code, "MLX266") == []


def test_a_name_read_by_locals_or_prefixed_is_quiet() -> None:
    assert fired(DELTA.format(apply="    print(locals())\n"), "MLX266") == []
    assert fired(DELTA.replace("    g = ", "    _g = ").format(apply=""), "MLX266") == []


LOADER = """
def load_model():
    model = Encoder()
    nn.quantize(model, group_size=64, bits=4)
    return model

def add_lora(model):
    for layer in model.layers:
        if isinstance(layer.q_proj, {kinds}):
            layer.q_proj = LoRALinear.from_base(layer.q_proj)

def main():
    model = load_model()
    add_lora(model)
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(10):
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
"""


def test_a_linear_test_on_a_model_a_loader_quantized_fires() -> None:
    assert fired(LOADER.format(kinds="nn.Linear"), "MLX159") == [9]


def test_the_quantized_class_tested_too_is_quiet() -> None:
    assert fired(LOADER.format(kinds="(nn.Linear, nn.QuantizedLinear)"), "MLX159") == []


VDM = """
class VDM(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 2)
        self.g1 = mx.array(6.0)

    def __call__(self, x):
        s1 = mx.sigmoid({arg})
        return mx.sum(s1 * x - mx.log(s1))

def loss_fn(model, x):
    return mx.mean(model(x))

lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = lg(model, x)
    opt.update(model, grads)
"""


def test_the_log_of_a_learned_scalars_sigmoid_is_quiet() -> None:
    assert fired(VDM.format(arg="self.g1"), "MLX022") == []


def test_the_log_of_a_predictions_sigmoid_still_fires() -> None:
    assert fired(VDM.format(arg="self.net(x)"), "MLX022") == [10]


TRACKER = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.bn = nn.BatchNorm(8)

    def __call__(self, x):
        return self.bn(self.fc(x))

class Trainer:
    def train_step(self, x, y):
        loss, grads = nn.value_and_grad(self.model, loss_fn)(self.model, x, y)
        self.optimizer.update(self.model, grads)
        mx.eval([v for _, v in tree_flatten(self.model.{what}())] + [loss])

for step in range(10):
    trainer.train_step(x, y)
"""


def test_a_step_function_evaluating_only_trainable_parameters_fires() -> None:
    assert fired(TRACKER.format(what="trainable_parameters"), "MLX055") == [15]


def test_a_step_function_evaluating_all_parameters_is_quiet() -> None:
    assert fired(TRACKER.format(what="parameters"), "MLX055") == []


CTR = """
class CTR(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Linear(12, 1)

    def __call__(self, feats):
        return {out}

def bce(model, feats, y):
    p = model(feats)
    return -mx.mean(y * mx.log(p) + (1 - y) * mx.log(1 - p))

model = CTR()
lg = nn.value_and_grad(model, bce)
for step in range(10):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
"""


def test_the_log_of_a_models_sigmoid_output_fires() -> None:
    code = CTR.format(out="mx.sigmoid(self.tower(feats)).squeeze(-1)")
    assert fired(code, "MLX022") == [12, 12]


def test_the_log_of_a_models_logit_output_is_quiet() -> None:
    assert fired(CTR.format(out="self.tower(feats).squeeze(-1)"), "MLX022") == []


ACCUMULATOR = """
class GradAccumulator:
    def __init__(self):
        self.total = None
        self.count = 0

    def add(self, grads):
        self.total = grads if self.total is None else tree_map(mx.add, self.total, grads)
        self.count += 1

    def finalize(self):
        out = {out}
        self.total, self.count = None, 0
        return out

acc = GradAccumulator()
vg = nn.value_and_grad(model, loss_fn)
for upd in range(10):
    for _ in range(4):
        loss, g = vg(model, x, y)
        acc.add(g)
    opt.update(model, acc.finalize())
"""


def test_an_accumulator_object_returning_its_plain_sum_fires() -> None:
    assert fired(ACCUMULATOR.format(out="self.total"), "MLX005") == [22]


def test_an_accumulator_object_returning_the_mean_is_quiet() -> None:
    out = "tree_map(lambda g: g / self.count, self.total)"
    assert fired(ACCUMULATOR.format(out=out), "MLX005") == []


LOADER_DTYPE = """
def load_for_finetune(teacher, dtype=mx.bfloat16):
    student = copy.deepcopy(teacher)
    student.set_dtype(dtype)
    return student

def main():
    student = load_for_finetune({args})
    opt = optim.AdamW(learning_rate=2e-5)
    step = nn.value_and_grad(student, loss_fn)
    for it in range(400):
        loss, grads = step(student, x)
        opt.update(student, grads)
"""


def test_a_loaders_bfloat16_default_under_a_slow_adam_fires() -> None:
    assert fired(LOADER_DTYPE.format(args="teacher"), "MLX046") == [4]


def test_a_loader_called_with_float32_is_quiet() -> None:
    assert fired(LOADER_DTYPE.format(args="teacher, dtype=mx.float32"), "MLX046") == []
