"""Stop 71's lint changes, on the spelling their corpus case had and on the ones the rules must
still leave alone: MLX240 (a helper that returns nothing, its value bound), MLX004 reading a
NumPy conversion of a flattened pair as an array use, MLX034 leaving a rounding of private
(`self._x`, never a parameter) attributes alone, MLX028 leaving a statistic of the whole data
set computed before the loop alone, and the tighter text tests of MLX221 and MLX228 still
letting their cases through.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

from mlxprobe.lint.rules.lazy_bank import LazyBank
from mlxprobe.lint.rules.unset_attribute import UnsetAttribute

# fresh40 `jsonl_split_loader_none` (mlx-examples lora's `load`) in small
LOADER = """
def load(names):
    def load_and_check(name):
        try:
            train = Dataset(name)
        except Exception as e:
            print(e)
            raise
{ret}
    train, valid, test = (load_and_check(n) for n in names)
    return train, valid, test
"""


def test_a_helper_that_returns_nothing_bound_as_a_value_is_found() -> None:
    assert fired(LOADER.format(ret=""), "MLX240") == [10]


def test_the_helper_that_returns_its_dataset_is_not() -> None:
    assert fired(LOADER.format(ret="        return train"), "MLX240") == []


def test_a_called_name_that_is_a_parameter_or_an_import_is_not_the_local_function() -> None:
    code = """
from helpers import load


class Chat:
    def load(self, name):
        self.model = load(name)

    def step(self, update, cache):
        result = update(cache)
        return result


def update(cache):
    cache.clear()
"""
    assert fired(code, "MLX240") == []


def test_a_stub_or_a_bare_call_is_left_alone() -> None:
    code = """
def hook(x):
    pass


def log(x):
    print(x)


value = hook(1)
log(2)
_ = log(3)
"""
    assert fired(code, "MLX240") == []


def test_a_numpy_conversion_of_each_flattened_pair_is_an_array_use() -> None:
    # fresh27 `accum_gradnorm_tuple_crash` (mlx_rl_trainer 3cf0fc84)
    code = """
def norms(grads):
    return [np.linalg.norm(np.array(v).flatten()) for v in tree_flatten(grads)[1]]
"""
    assert fired(code, "MLX004") == [3]
    assert fired(code.replace("for v in tree_flatten(grads)[1]",
                              "for _, v in tree_flatten(grads)"), "MLX004") == []


ROUNDED = """
class Rounded(nn.Module):
    def __init__(self, w, s):
        super().__init__()
        self._w_fp, self._scales = w, s
        self.alpha = mx.zeros(w.shape)

    def __call__(self, x):
        r = mx.round({operand} / self._scales) + self.alpha
        return x @ r.T


def loss_fn(model, x):
    return mx.mean(model(x) ** 2)


step = nn.value_and_grad(model, loss_fn)
"""


def test_a_rounding_of_private_attributes_is_no_cut_gradient() -> None:
    # fresh243 `loom_bobbin_adaround_ok`: the stored weights rounded beside trained offsets
    assert fired(ROUNDED.format(operand="mx.array(self._w_fp)"), "MLX034") == []


def test_a_rounding_of_a_parameter_still_is() -> None:
    assert fired(ROUNDED.format(operand="self.alpha"), "MLX034") == [9]


STANDARDISED = """
def main(X, Y, model, opt, step):
    {stats}
    for s in range(100):
        {inner}
        xb = mx.array((X[s] - mu) / sd)
        loss, g = step(model, xb, mx.array(Y[s]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
"""


def test_a_data_set_statistic_computed_before_the_loop_is_left_alone() -> None:
    # fresh243 `cloakroom_queue_stages`, correct: features standardised by the training std
    code = STANDARDISED.format(stats="mu, sd = X.mean(0), X.std(0)", inner="pass")
    assert fired(code, "MLX028") == []


def test_a_spread_computed_at_each_step_still_fires() -> None:
    code = STANDARDISED.format(stats="pass", inner="mu, sd = X[s].mean(0), X[s].std(0)")
    assert fired(code, "MLX028") == [6]


def test_the_tighter_text_tests_still_admit_their_cases() -> None:
    bank = """
def features(model, loader):
    feats = []
    for x in loader:
        f = model.get_image_features(x)
        feats.append(f)
    return mx.concatenate(feats)
"""
    assert LazyBank.may_fire(bank) and fired(bank, "MLX221") == [6]
    in_forward = "class M(nn.Module):\n" + "\n".join(
        "    " + line for line in bank.splitlines())
    assert not LazyBank.may_fire(in_forward)
    plain = """
class Normal:
    def __init__(self, loc, scale):
        self.loc, self.scale = loc, scale

    def log_prob(self, x):
        return -((x - self.mean) ** 2) / (2 * self.scale ** 2)
"""
    assert UnsetAttribute.may_fire(plain) and fired(plain, "MLX228") == [7]
    assert not UnsetAttribute.may_fire("@dataclass\n" + plain.lstrip("\n"))
    stored = "self.loc = loc\n        self.scale = scale\n        self.mean = 0"
    assert not UnsetAttribute.may_fire(plain.replace("self.loc, self.scale = loc, scale", stored))


# fresh244 `hive_waggle_charlm` (dalongbao/papers 9530537): an LSTM cell's gates multiplied
# as matrices
CELL = """
class LSTM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.sigmoid = nn.Sigmoid()
        self.W1 = nn.Linear(2 * d, d)
        self.W2 = nn.Linear(2 * d, d)

    def __call__(self, x, c):
        f = self.sigmoid(self.W1(x))
        g = mx.tanh(self.W2(x))
        c = {combine}
        return c, {output}
"""


def test_gates_multiplied_as_matrices_are_found() -> None:
    code = CELL.format(combine="mx.matmul(f, g)", output="f @ mx.tanh(c)")
    assert fired(code, "MLX241") == [12, 13]


def test_gates_multiplied_element_wise_and_attention_products_are_not() -> None:
    code = CELL.format(combine="f * c + mx.multiply(f, g)", output="mx.softmax(c) @ g")
    assert fired(code, "MLX241") == []


# fresh205 `grpo_digitsum_trainer` (MLX-GRPO issue 2): the module handed to mx.value_and_grad
TRAINER = """
class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(2, 2)
        self.widths = [2, 2]

    def __call__(self, x):
        return self.l(x)


class Trainer:
    def __init__(self, model, args):
        self.model = model

    def step(self, x):
        def loss_fn(model):
            return model(x).sum()
        return {grad}


trainer = Trainer(Policy(), None)
"""


def test_a_module_differentiated_by_mx_value_and_grad_is_found() -> None:
    code = TRAINER.format(grad="mx.value_and_grad(loss_fn)(self.model)")
    assert fired(code, "MLX242") == [19]


def test_nn_value_and_grad_or_a_parameter_tree_is_not() -> None:
    code = TRAINER.format(grad="nn.value_and_grad(self.model, loss_fn)(self.model)")
    assert fired(code, "MLX242") == []
    code = TRAINER.format(grad="mx.value_and_grad(loss_fn)(self.model.parameters())")
    assert fired(code, "MLX242") == []


# fresh244 `signalbox_lever_sft`, correct: a micro-batch loop sums the loss, the update loop
# evaluates the sum whole after each update
ACCUMULATED = """
def train(model, optimizer, loss_and_grad, batches, iters, accum):
    losses, window = 0.0, []
    for it in range(iters):
        total = None
        for _ in range(accum):
            loss, g = loss_and_grad(model, next(batches))
            total = g if total is None else tree_map(mx.add, total, g)
            {kept}
        optimizer.update(model, total)
        mx.eval(model.parameters(), optimizer.state, {evaluated})
"""


def test_a_micro_batch_sum_evaluated_with_each_update_is_bounded() -> None:
    code = ACCUMULATED.format(kept="losses += loss", evaluated="losses")
    assert fired(code, "MLX008") == []


def test_a_list_kept_across_updates_with_only_its_last_item_evaluated_still_fires() -> None:
    code = ACCUMULATED.format(kept="window.append(loss)", evaluated="window[-1]")
    assert fired(code, "MLX008") == [9]
