"""Stop 70's lint changes, on the spelling their corpus case had and on the ones the rule must
still leave alone: MLX016 judges a differentiated function's data arguments as constants
(only what the transform differentiates carries a gradient), reads `x.shape`/`x.dtype` as
no value and a tuple unpacked from a constant as constants, and points at a host copy first.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

# fresh238 `fourier_tensor_svec` (cvxpylayers 9069eba) in small: the model's output goes
# through NumPy two helpers down and comes back as mx.array; the loss still reaches its data
UNPACK = """
def to_matrix(v, n, batch, rows):
    out = []
    for b in range(batch[0]):
        host = np.zeros((n, n))
        host[rows, rows] = {copy}
        out.append(mx.array(host, dtype=v.dtype))
    return mx.stack(out)


def unpack(v, n, batch):
    rows, cols = np.tril_indices(n)
    return to_matrix(v, n, batch, rows)


def predict(model, x):
    return unpack(model(x), 3, (x.shape[0],))


def loss_fn(model, x, g, y):
    return mx.mean((mx.einsum("bij,bj->bi", predict(model, x), g) - y) ** 2)


model = nn.Linear(3, 6)
step = nn.value_and_grad({how})
for i in range(10):
    loss, grads = step(model, mx.ones((4, 3)), mx.ones((4, 3)), mx.ones((4, 3)))
"""


def test_a_prediction_sent_through_numpy_in_a_helper_is_a_cut_gradient() -> None:
    code = UNPACK.format(copy="np.array(v[b])", how="model, loss_fn")
    assert fired(code, "MLX016") == [6]


def test_the_same_helpers_kept_in_mlx_are_not() -> None:
    code = UNPACK.format(copy="0.0", how="model, loss_fn").replace(
        "mx.array(host, dtype=v.dtype)", "v[b] * mx.array(host, dtype=v.dtype)")
    assert fired(code, "MLX016") == []


def test_what_argnums_differentiates_carries_a_gradient() -> None:
    # `mx.value_and_grad(f, argnums=2)` differentiates `g`, which the loss reaches: no finding
    code = UNPACK.format(copy="np.array(v[b])", how="model, loss_fn").replace(
        "nn.value_and_grad(model, loss_fn)", "mx.value_and_grad(loss_fn, argnums=2)")
    assert fired(code, "MLX016") == []


def test_a_loss_over_a_global_model_with_the_data_first_is_left_alone() -> None:
    code = """
def loss_fn(x, y):
    return mx.mean((model(x) - y) ** 2)


model = nn.Linear(3, 3)
step = nn.value_and_grad(model, loss_fn)
for i in range(10):
    loss, grads = step(mx.ones((4, 3)), mx.ones((4, 3)))
    print(float(loss))
"""
    assert fired(code, "MLX016") == []


# fresh239 `lighthouse_lamp_ddqn` (mario-rl-mlx 3beed92): a checkpoint path joined with `/`
CHECKPOINT = """
from pathlib import Path


class Agent:
    def __init__(self, save_dir):
        self.net = nn.Linear(2, 2)
        self.save_dir = save_dir

    def save(self, step):
        path = {path}
        self.net.save_weights(path)


agent = Agent(Path("runs"))
agent.net.load_weights({load})
"""


@pytest.mark.parametrize("path, load, expected", [
    ('self.save_dir / f"net_{step}.safetensors"', '"net.safetensors"', [12]),
    ('str(self.save_dir) + f"net_{step}.safetensors"', 'Path("runs") / "net.safetensors"',
     [16]),
    ('str(self.save_dir / f"net_{step}.safetensors")', 'str(Path("runs") / "a.npz")', []),
])
def test_a_path_object_handed_to_save_or_load_weights(path: str, load: str,
                                                       expected: list[int]) -> None:
    assert fired(CHECKPOINT.format(path=path, load=load), "MLX234") == expected


def test_a_files_own_save_weights_is_left_alone() -> None:
    code = CHECKPOINT.format(path='self.save_dir / "net.npz"', load='"net.npz"') + """

def save_weights(model, path):
    mx.savez(path, **dict(tree_flatten(model.parameters())))
"""
    assert fired(code, "MLX234") == []


# fresh239 `saltmarsh_ferry_twin_adapters`: two adapters per layer, the model frozen after
# they were attached, each stage unfreezing one adapter by its path
ADAPTERS = """
model = Net()
model.l1 = TwinLoRALinear(model.l1)
model.l2 = TwinLoRALinear(model.l2)
model.freeze()
for m in ({layers}):
    m.marsh.unfreeze()
train(model)
"""


@pytest.mark.parametrize("layers, expected", [
    ("model.l1, model.l2", []),
    ("model.head,", [5]),  # the head unfrozen, the adapters still frozen
])
def test_an_adapter_unfrozen_by_its_path_after_the_freeze(layers: str,
                                                          expected: list[int]) -> None:
    assert fired(ADAPTERS.format(layers=layers), "MLX096") == expected


# fresh240 `tramline_junction_heads` (mlx PR 819): a tree walker's dict branch
WALKER = """
def unwrap(tree, prefix, value):
    if isinstance(value, dict):
        out = {{}}
        for k, v in {iterated}.items():
            out[k] = unwrap(tree, f"{{prefix}}.{{k}}", v)
        return out
    return [v * 2 for v in value]
"""


@pytest.mark.parametrize("iterated, expected", [("v", [5]), ("value", [])])
def test_a_loop_that_iterates_its_own_target(iterated: str, expected: list[int]) -> None:
    assert fired(WALKER.format(iterated=iterated), "MLX235") == expected


@pytest.mark.parametrize("before", ["v = tree[prefix]", "global v", "import v"])
def test_a_name_bound_elsewhere_in_the_function_is_left_alone(before: str) -> None:
    code = WALKER.format(iterated="v").replace("        out = {}", f"        {before}\n"
                                                "        out = {}")
    assert fired(code, "MLX235") == []


# fresh241 `platen_ink_noisegrad` (a clean script): annealed noise added to one gradient tree
NOISY = """
model = nn.Linear(3, 1)
opt = optim.SGD(learning_rate=0.01)
step = nn.value_and_grad(model, lambda m, x: (m(x) ** 2).mean())
acc = None
for i in range(10):
    loss, grads = step(model, mx.ones((4, 3)))
    grads = tree_map({fn}, grads{more})
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


@pytest.mark.parametrize("fn, more, expected", [
    ("lambda g: g + 0.1 * mx.random.normal(g.shape)", "", []),
    ("lambda a, b: a + b", ", grads", [9]),  # a sum of two gradient trees, never divided
])
def test_noise_added_to_one_gradient_tree_is_no_accumulation(fn: str, more: str,
                                                             expected: list[int]) -> None:
    assert fired(NOISY.format(fn=fn, more=more), "MLX005") == expected


# fresh241 `quarry_cairn_rmsllama_ok` (a clean script): RMSNorm gains set to 1.0
NORMS = """
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = {layer}

    def init_params(self):
        self.norm.apply(nn.init.constant(1.0))
"""


@pytest.mark.parametrize("layer, expected", [("nn.RMSNorm(8)", []), ("nn.LayerNorm(8)", []),
                                             ("nn.Linear(8, 8)", [8])])
def test_a_constant_on_a_normalisation_layer_is_its_usual_start(layer: str,
                                                                expected: list[int]) -> None:
    assert fired(NORMS.format(layer=layer), "MLX054") == expected


# fresh241 `marten_glaze_flowmatch` (mflux 8c9a38b): a list of sigmas gathered by timesteps
SIGMAS = """
class Schedule:
    def __init__(self, n):
        self.sigmas = [t / n for t in range(n)]


sched = Schedule(10)
for step in range(5):
    t = mx.random.randint(0, 10, (4,))
    s = {gather}
    u = sched.sigmas[step]
"""


@pytest.mark.parametrize("gather, expected", [("sched.sigmas[t]", [10]),
                                              ("mx.array(sched.sigmas)[t]", [])])
def test_a_list_gathered_with_an_array_of_indices(gather: str, expected: list[int]) -> None:
    assert fired(SIGMAS.format(gather=gather), "MLX236") == expected


# fresh241 `quarry_cairn_rmsllama` (mini-llama-mlx bee8edf): std d ** 0.5 for d ** -0.5
INIT = """
class Attention(nn.Module):
    def __init__(self, d_embd):
        super().__init__()
        self.proj = nn.Linear(d_embd, d_embd)
        self.proj.apply(nn.init.normal(0.0, {std}))
        self.extra = mx.random.normal((d_embd, d_embd)) * {scale}
"""


@pytest.mark.parametrize("std, scale, expected", [
    ("d_embd ** 0.5", "d_embd ** -0.5", [6]),
    ("d_embd ** -0.5", "mx.sqrt(d_embd)", [7]),
    ("d_embd ** -0.5", "mx.sqrt(2 / d_embd)", []),
    ("sigma ** 0.5", "0.02", []),  # a variance's root, no width
])
def test_a_start_scale_that_grows_with_the_width(std: str, scale: str,
                                                 expected: list[int]) -> None:
    assert fired(INIT.format(std=std, scale=scale), "MLX237") == expected


# fresh16 `lora_keys_miss_fused_qkv` (mlx-lm issue 90): keys for a model with a fused qkv_proj
KEYS = """
CONFIG = {{"lora_parameters": {{"keys": [{keys}], "rank": 8}}}}


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv_proj = nn.Linear(8, 24)
        self.o_proj = nn.Linear(8, 8)
"""


@pytest.mark.parametrize("keys, header, expected", [
    ('"self_attn.q_proj", "self_attn.v_proj"', "", [2]),
    ('"self_attn.qkv_proj", "self_attn.q_proj"', "", []),  # one key names a layer
    ('"self_attn.q_proj", "self_attn.v_proj"', "from mlx_lm import load\n", []),
])
def test_lora_keys_that_name_no_layer_of_the_model(keys: str, header: str,
                                                   expected: list[int]) -> None:
    code = KEYS.format(keys=keys).replace("\nCONFIG", "\n" + header + "CONFIG", 1)
    assert fired(code, "MLX238") == [n + header.count("\n") for n in expected]
