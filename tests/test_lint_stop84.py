"""Stop 84's lint changes.

- MLX267: a function that writes into its array argument in place and returns it, called
  as if it made a new array on an array read again (fresh304 `gearbox_hum_cutout_pseudo`,
  keras 7fde639: `xl_aug = cutout(XL, s)` with `cutout` returning `slice_update(x, ...)`,
  which did `inputs[slices] = updates; return inputs`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

CUTOUT = """
XL = mx.array(np.ones((64, 16), dtype=np.float32))
YL = mx.array(np.zeros((64,), dtype=np.int32))

def slice_update(inputs, start, updates):
{copy}    inputs[:, start:start + updates.shape[1]] = updates
    {ret}

def cutout(x, start):
    return slice_update(x, start, mx.zeros((x.shape[0], 4)))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    {call}
    loss, grads = lg(model, x_aug, YL)
    opt.update(model, grads)
"""


def cutout(copy: str = "", ret: str = "return inputs",
           call: str = "x_aug = cutout(XL, step)") -> str:
    return CUTOUT.format(copy=copy, ret=ret, call=call)


def test_a_kept_array_handed_to_a_helper_that_writes_into_it_fires() -> None:
    assert fired(cutout(), "MLX267") == [17]


def test_the_helper_that_copies_its_input_first_is_quiet() -> None:
    assert fired(cutout(copy="    inputs = mx.array(inputs)\n"), "MLX267") == []


def test_a_write_in_place_that_returns_nothing_is_quiet() -> None:
    """A cache update (`write(buf, i, v)`) does not look like it makes a new array."""
    code = cutout(ret="return None", call="cutout(XL, step); x_aug = XL")
    assert fired(code, "MLX267") == []


def test_an_argument_rebound_to_the_result_is_quiet() -> None:
    assert fired(cutout(call="xb = XL[:8]; xb = cutout(xb, step); x_aug = xb"), "MLX267") == []


def test_a_fresh_array_per_step_read_nowhere_after_is_quiet() -> None:
    """`xu = XU[idx]` makes a new array each step: writing into it harms nothing."""
    code = cutout(call="xu = XL[step:step + 8]; x_aug = cutout(xu, step)")
    assert fired(code, "MLX267") == []


def test_an_argument_read_after_the_call_fires_outside_a_loop() -> None:
    code = """
X = mx.array(np.ones((8, 4), dtype=np.float32))

def add_noise(x, scale):
    x += scale * mx.random.normal(x.shape)
    return x

noisy = add_noise(X, 0.1)
print(mx.mean(noisy - X).item())
""" + TRAINED
    assert fired(code, "MLX267") == [8]


def test_a_local_rule_alone_reads_a_block_that_does_not_name_mlx() -> None:
    """With one local rule selected the engine parses only the blocks its `may_fire` takes;
    "mlx" is asked of the file (`file_words`), not of the function that fires."""
    from mlxprobe.lint import lint_source
    code = "import mlx.core as mx\n\n\ndef pick(n):\n    x = mx.arange(n)\n    return x[x > 1]\n"
    assert [f.line for f in lint_source(code, "case.py", select=["MLX148"])] == [6]


ROUTED = """
class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 4)

    def __call__(self, h):
        scores = mx.softmax(self.gate(h), axis=-1)
        return mx.argsort(-scores, axis=-1)[..., :2], scores

class Moe(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = Router()

    def __call__(self, h):
        idx, scores = self.router(h)
        out = mx.zeros_like(h)
        for k in range(2):
            if idx[0, k] < 3:
                out = out + scores[..., k:k + 1] * h
        return out

model = Moe()
state = [model.state, opt.state]

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

lg = nn.value_and_grad(model, loss_fn)

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
    return loss
"""


def test_a_branch_on_what_a_layer_attributes_forward_returns_under_compile_fires() -> None:
    """fresh305 `ferrule_cask_moe` (mlx-lm e7eb042): `if expert_idx < self.n_routed_experts`
    on the router's top-k indices inside a compiled step."""
    assert fired(ROUTED, "MLX015") == [20]


def test_a_branch_on_a_python_value_there_is_quiet() -> None:
    assert fired(ROUTED.replace("if idx[0, k] < 3:", "if k < 3:"), "MLX015") == []


DELTAS = """
class VLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.{name} = None

    def rope_index(self, inputs):
        return mx.arange(inputs.shape[1]), mx.zeros((inputs.shape[0], 1))

    def __call__(self, inputs):
        pos, deltas = self.rope_index(inputs)
        self.{name} = deltas
        return self.proj(inputs) + pos[:, None]
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_an_array_unpacked_from_a_helper_stored_on_the_module_fires() -> None:
    """fresh305 `saffron_kiln_mrope` (mlx-vlm PR 573): `self.rope_deltas = rope_deltas`,
    KeyError 'rope_deltas' at the second update."""
    assert fired(DELTAS.format(name="rope_deltas"), "MLX087") == [13]


def test_the_same_under_a_private_name_is_quiet() -> None:
    assert fired(DELTAS.format(name="_rope_deltas"), "MLX087") == []


SEEDS = """
def run(seed):
    mx.random.seed(seed)
    model = nn.Linear(4, 2)
    opt = optim.Adam(learning_rate=1e-2)
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(100):
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    probs = mx.softmax(model(x), axis=-1)
    return loss.item(), probs

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

kept = []
for seed in {seeds}:
    final, probs = run(seed)
    kept.append(probs)
ensemble = mx.mean(mx.stack(kept), axis=0)
"""


def test_arrays_kept_over_a_few_literal_seeds_are_quiet() -> None:
    """fresh304 `shearing_shed_seed_study` (correct): four seeds' probabilities kept for an
    ensemble."""
    assert fired(SEEDS.format(seeds="[11, 23, 37, 41]"), "MLX008") == []


def test_arrays_kept_over_an_unknown_count_of_runs_fire() -> None:
    assert fired(SEEDS.format(seeds="range(n_runs)"), "MLX008") == [20]


BRANCHES = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 4)

    def __call__(self, x):
        return self.l1(x)

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

for name, cfg in {branches}:
    m = Net()
    m.load_weights("base.safetensors")
    o = optim.Adam(learning_rate=cfg["lr"])
    lg = nn.value_and_grad(m, loss_fn)
    loss, grads = lg(m, x, y)
    o.update(m, grads)
"""


def test_a_model_built_per_branch_of_a_dict_literal_is_quiet() -> None:
    """fresh304 `rockpool_branch_finetune` (correct): three branches from one checkpoint."""
    branches = '{"still": dict(lr=0.0), "gentle": dict(lr=3e-4)}.items()'
    assert fired(BRANCHES.format(branches=branches), "MLX178") == []


def test_a_model_built_per_item_of_a_stream_fires() -> None:
    assert fired(BRANCHES.format(branches="configs()"), "MLX178") == [14]
