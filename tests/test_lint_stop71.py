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
    assert not UnsetAttribute.may_fire(plain.replace("self.loc, self.scale = loc, scale",
                                                     "self.loc = loc\n        self.scale = scale\n        self.mean = 0"))
