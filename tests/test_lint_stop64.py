"""Stop 64's lint changes: MLX193's text test, which decides whether a file is parsed at all.

MLX193 reads a whole module, so its text test used to let every file with "mask" and "+" in
it through (756 of the packages' 1,875 files); it now asks for a plain name holding "mask"
beside a `+` or after a `+=` (46 files). The test must hold wherever the rule can fire: each
spelling of the addition still fires, and a file whose masks are only subscripted, called or
selected with `mx.where` is not parsed for it.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lint_snippets import fired
from test_lint_stop63 import LAYERS

from mlxprobe.lint.rules.boolean_add import mask_added

BOOLEAN = "idx[:, None] >= idx[None, :]"


@pytest.mark.parametrize("add", [
    "scores = mask + scores",
    "scores += mask",
    "scores = scores+mask",
    "scores = (mask) + scores",
    "scores = scores + (mask)",
])
def test_every_spelling_of_the_addition_still_fires(add: str) -> None:
    assert mask_added(LAYERS.format(add=add, mask=BOOLEAN))
    assert fired(LAYERS.format(add=add, mask=BOOLEAN), "MLX193") == [10]


SPACES = st.sampled_from(["", " ", "  ", " \\\n    ", "\n        "])
NAMES = st.sampled_from(["mask", "attn_mask", "Mask", "causal_MASK", "mask2", "key_mask_"])


@given(NAMES, SPACES, SPACES, st.booleans())
def test_a_plain_mask_name_beside_a_plus_passes_the_text_test(name: str, before: str,
                                                              after: str, left: bool) -> None:
    text = f"{name}{before}+{after}scores" if left else f"scores{before}+{after}{name}"
    assert mask_added(text)


@pytest.mark.parametrize("text", [
    "scores = scores + mask[:, None]",
    "scores = scores + mask.astype(scores.dtype)",
    "scores = scores + make_mask(n)",
    "scores = mx.where(mask, scores, -1e9)\nx = x + 1",
    "masked = x * mask\ny = y + 2",
])
def test_a_mask_only_subscripted_called_or_selected_fails_the_text_test(text: str) -> None:
    assert not mask_added(text)


TORCH = """
def forward(n, w):
    x = mx.ones((n, 4))
    {line}
    return x
"""


@pytest.mark.parametrize("line", [
    "y = x.view(-1, 1)",
    "y = x.size(0)",
    "y = x.shape(1)",
    "y = x.unsqueeze(1)",
    "y = x.permute(1, 0)",
    "y = x.contiguous()",
    "y = w.view(-1, 1)  # any receiver: the int literal is PyTorch's shape",
])
def test_mlx196_a_pytorch_method_on_an_mlx_array_fires(line: str) -> None:
    assert fired(TORCH.format(line=line), "MLX196") == [4]


@pytest.mark.parametrize("line", [
    "y = x.view(mx.float16)",
    "y = x.reshape(-1, 1)",
    "y = x.shape[0] + x.size",
    "y = w.unsqueeze(1)  # not known to be an MLX array",
    "y = x.unsqueeze(1) if hasattr(x, 'unsqueeze') else x",
])
def test_mlx196_mlx_spellings_and_unknown_receivers_stay_silent(line: str) -> None:
    assert fired(TORCH.format(line=line), "MLX196") == []


def test_mlx196_a_module_that_imports_torch_keeps_its_view() -> None:
    code = "import torch\n" + TORCH.format(line="y = w.view(-1, 1)")
    assert fired(code, "MLX196") == []


OPTIMIZER = """
class AdaDelta(optim.Optimizer):
    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        v = state.get("v", mx.zeros_like(gradient))
        u = state.get("{read}", mx.zeros_like(gradient))
        v = 0.9 * v + 0.1 * mx.square(gradient)
        d = mx.sqrt(u + 1e-6) / mx.sqrt(v + 1e-6) * gradient
        state["v"] = v
        {write}
        return parameter - d
"""


def test_mlx197_a_state_key_read_with_a_default_and_never_written_fires() -> None:
    # fresh184 hivescale_forage_adadelta (mlx 601c6d6): read as "s", written as "u"
    code = OPTIMIZER.format(read="s", write='state["u"] = 0.9 * u + 0.1 * mx.square(d)')
    assert fired(code, "MLX197") == [9]


@pytest.mark.parametrize("read, write", [
    ("u", 'state["u"] = 0.9 * u + 0.1 * mx.square(d)'),  # the fix
    ("s", 'state.setdefault("s", d)'),
    ("s", "state.update(extra)"),  # keys it cannot see
    ("s", "fill(state, d)"),
])
def test_mlx197_a_key_written_somewhere_or_a_state_handed_on_stays_silent(read: str,
                                                                         write: str) -> None:
    assert fired(OPTIMIZER.format(read=read, write=write), "MLX197") == []


BUILDER = """
def build_model():
    m = Net()
    m.freeze()
    m.head.unfreeze()
    return {ret}


model = build_model()


def step(x):
    def local_loss_fn(model):
        return model(x).sum()
    grads = mx.grad(local_loss_fn)(model)
    return grads
"""


def test_mlx110_a_model_frozen_by_the_function_that_builds_it_fires() -> None:
    # fresh183 orpo_chunk_backward (mlx-lm-lora 14fa457): mx.grad over the whole module
    assert fired(BUILDER.format(ret="m"), "MLX110") == [15]


def test_mlx110_a_builder_that_returns_something_else_stays_silent() -> None:
    assert fired(BUILDER.format(ret="Net()"), "MLX110") == []


def test_mlx196_mxnets_asnumpy_on_an_mlx_array_fires() -> None:
    # fresh185 sextant_logbook_charlm (sml-mlx 9dde858): summed.asnumpy() after all_sum
    code = TORCH.format(line="y = mx.distributed.all_sum(x).asnumpy()\n    s = mx.sum(x)\n"
                        "    z = s.asnumpy()")
    assert fired(code, "MLX196") == [6]


REFERENCE = """
def main():
    model = load_model(0)
    mx.eval(model.parameters())
    {bind}
    train_dpo(model, {ref}, optimizer, data)
"""


def test_mlx198_a_reference_model_bound_to_the_trained_model_fires() -> None:
    # fresh185 dpo_selfref_tinylm (mlx-examples 582f979): reference_model = model
    code = REFERENCE.format(bind="reference_model = model", ref="reference_model")
    assert fired(code, "MLX198") == [5]


@pytest.mark.parametrize("bind, ref", [
    ("reference_model = load_model(0)", "reference_model"),  # a separate copy
    ("reference_model = copy.deepcopy(model)", "reference_model"),
    ("target = model", "None"),  # never handed beside it
    ("reference_model = model\n    reference_model = load_model(1)", "reference_model"),
    ("target = data", "target"),  # not a model
])
def test_mlx198_a_copy_or_an_alias_not_used_beside_the_model_stays_silent(bind: str,
                                                                          ref: str) -> None:
    assert fired(REFERENCE.format(bind=bind, ref=ref), "MLX198") == []


SCHEDULED = """
class WarmupCosine:
    def __init__(self, base, warmup):
        self.base, self.warmup = base, warmup

    def __call__(self, step):
        {body}


def linear(step):
    return 1e-3 * mx.minimum(step / 50.0, 1.0)


schedule = WarmupCosine(1e-3, 50)
optimizer = optim.AdamW(learning_rate={rate})
state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss
"""


@pytest.mark.parametrize("body", [
    "if step < self.warmup:\n            return self.base * step / self.warmup\n"
    "        return self.base",
    "return self.base * min(int(step), self.warmup) / self.warmup",
    "return self.base if step.item() < self.warmup else self.base * 0.1",
])
def test_mlx199_a_host_branching_schedule_stepped_under_compile_fires(body: str) -> None:
    # fresh183 compiled_schedule_denoiser (DeepFilterNet4 873cd65)
    code = SCHEDULED.format(body=body, rate="schedule")
    assert fired(code, "MLX199") == [22 + body.count("\n")]


@pytest.mark.parametrize("rate", ["linear", "optim.cosine_decay(1e-3, 1000)", "1e-3"])
def test_mlx199_a_schedule_on_the_step_array_stays_silent(rate: str) -> None:
    code = SCHEDULED.format(body="return self.base", rate=rate)
    assert fired(code, "MLX199") == []


TREE = """
loss_and_grad = nn.value_and_grad(model, loss_fn)
array_grad = mx.grad(lambda w: (w * w).sum())


def step(x, w):
    loss, grads = loss_and_grad(model, x)
    g = array_grad(w)
    {line}
    return loss
"""


@pytest.mark.parametrize("line", [
    "norm = math.sqrt(sum((v ** 2).sum() for v in mx.flatten(grads)))",
    "total = mx.sum(model.parameters())",
    "flat = mx.concatenate(tree_map(lambda v: v.reshape(-1), grads))",
])
def test_mlx200_a_tree_handed_to_an_array_op_fires(line: str) -> None:
    # fresh182 limerick_lm_gradnorm_flatten (sml-mlx 7e86659): mx.flatten(grads)
    assert fired(TREE.format(line=line), "MLX200") == [9]


@pytest.mark.parametrize("line", [
    "norm = mx.linalg.norm(g)",  # mx.grad of an array is an array
    "mx.eval(grads)",  # takes trees
    "norm = sum((v * v).sum() for _, v in tree_flatten(grads))",
    "zero = [k for k, grads in tree_flatten(grads) if float(mx.abs(grads).max()) == 0]",
])
def test_mlx200_arrays_and_tree_taking_calls_stay_silent(line: str) -> None:
    assert fired(TREE.format(line=line), "MLX200") == []


LOSS = """
def head(logits, labels):
    {line}
    return loss_fct(logits, labels)
"""


@pytest.mark.parametrize("line", [
    "loss_fct = nn.losses.cross_entropy()",
    "loss_fct = nn.losses.mse_loss(reduction='mean')",
    "loss_fct = nn.losses.binary_cross_entropy(logits)",
])
def test_mlx201_a_loss_function_built_like_a_pytorch_module_fires(line: str) -> None:
    # fresh187 xlmr_seqcls_lossfct_call (mlx-transformers 88f8e6b)
    assert fired(LOSS.format(line=line), "MLX201") == [3]


@pytest.mark.parametrize("line", [
    "loss_fct = nn.losses.cross_entropy",
    "loss_fct = partial(nn.losses.cross_entropy, reduction='mean')",
    "loss_fct = nn.losses.cross_entropy(*pair)",
    "loss_fct = nn.losses.mse_loss(logits, labels)",
])
def test_mlx201_a_loss_kept_as_a_function_or_given_its_arguments_stays_silent(line: str) -> None:
    assert fired(LOSS.format(line=line), "MLX201") == []


def test_mlx014_a_rollout_over_a_courses_grades_is_no_gradient_step() -> None:
    # fresh189 ultra_pacing_reinforce_seeds (correct): `grades` is no gradient
    code = """
def rollout(grades):
    energy = mx.ones((4,))
    for k in range(8):
        climb = mx.maximum(grades[:, k], 0.0)
        energy = energy - 0.1 * (1.0 + 4.0 * climb)
    return energy


grads_fn = mx.grad(lambda w, x: (x @ w).sum())


def train(w, x):
    for step in range(10):
        grads = grads_fn(w, x)
        w = w - 0.1 * grads
    return w
"""
    assert fired(code, "MLX014") == [16]  # the descent step only, not the rollout


def test_mlx141_an_optimizer_built_with_a_keyword_it_does_not_take_fires() -> None:
    # fresh186 cellbox_adam_wd_kwarg: Adam has no weight_decay (AdamW has)
    code = """
def train(model, x, lr, wd):
    opt = optim.{cls}(learning_rate=lr, weight_decay=wd)
    loss_and_grad = nn.value_and_grad(model, lambda m, x: mx.mean(m(x)))
    for batch in x:
        loss, grads = loss_and_grad(model, batch)
        opt.update(model, grads)
"""
    assert fired(code.format(cls="Adam"), "MLX141") == [3]
    assert fired(code.format(cls="AdamW"), "MLX141") == []


ATTENTION = """
def attend(q, k, v, mask, logits):
    scores = (q @ k.transpose(0, 1, 3, 2)) * 0.125
    {line}
    return w
"""


@pytest.mark.parametrize("line, expected", [
    ("w = mx.softmax(scores + mask)", [4]),  # fresh186 mbert_eager_softmax_allaxes
    ("w = mx.softmax(q @ k.T)", [4]),
    ("w = mx.softmax(scores + mask, axis=-1)", []),
    ("w = mx.softmax(scores, -1)", []),
    ("w = mx.softmax(logits[0])", []),  # one row of logits: 1-D more often than not
])
def test_mlx202_a_softmax_over_every_axis_of_product_scores(line: str, expected) -> None:
    assert fired(ATTENTION.format(line=line), "MLX202") == expected
