"""Stop 84's lint changes.

- MLX267: a function that writes into its array argument in place and returns it, called
  as if it made a new array on an array read again (fresh304 `gearbox_hum_cutout_pseudo`,
  keras 7fde639: `xl_aug = cutout(XL, s)` with `cutout` returning `slice_update(x, ...)`,
  which did `inputs[slices] = updates; return inputs`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from pathlib import Path

import pytest
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


# (script, rule) where the rule alone found nothing while the whole lint found it (stop 84:
# over the 5,132 corpus, scenario and example scripts, 11 such pairs): a rule said to read one
# block read another (the module's helpers, its imports' use, a training loop elsewhere)
ALONE = [("fresh142/reedwarbler_vq_codec_broken.py", "MLX186"),
         ("fresh16/full_logits_kept_for_metrics_broken.py", "MLX105"),
         ("fresh170/mnist_vit_perm_slice_broken.py", "MLX134"),
         ("fresh185/dpo_selfref_tinylm_broken.py", "MLX198"),
         ("fresh202/nerf_posonly_split_broken.py", "MLX141"),
         ("fresh230/tollgate_chime_grpo_broken.py", "MLX141"),
         ("fresh232/quarry_lantern_rerank_broken.py", "MLX229"),
         ("fresh239/lighthouse_lamp_ddqn_broken.py", "MLX234"),
         ("fresh241/marten_glaze_flowmatch_broken.py", "MLX236"),
         ("fresh31/glyph_cnn_softmax_head_broken.py", "MLX086"),
         ("fresh41/e2_infill_concat_cond_broken.py", "MLX141")]


@pytest.mark.parametrize(("script", "rule"), ALONE)
def test_a_rule_alone_finds_what_the_whole_lint_finds(script: str, rule: str) -> None:
    from mlxprobe.lint import lint_source
    path = Path(__file__).resolve().parents[1] / "corpus" / script
    text = path.read_text()
    alone = [(f.line, f.col) for f in lint_source(text, str(path), select=[rule])]
    whole = [(f.line, f.col) for f in lint_source(text, str(path)) if f.rule == rule]
    assert alone == whole and whole


META = """
def task_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def {name}(model, tasks):
    tot = 0.0
    for x, y in tasks:
        tot = tot + task_loss(model, x, y)
    return tot / len(tasks)

{use}
for step in range(100):
    loss, grads = lg(model, tasks)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


def test_a_sum_over_tasks_inside_the_differentiated_loss_is_quiet() -> None:
    """fresh306 `apiary_swarm_anil` (correct): a meta-loss summing four tasks' query losses
    under `mx.value_and_grad`, one graph by design."""
    code = META.format(name="meta_loss", use="lg = nn.value_and_grad(model, meta_loss)")
    assert fired(code, "MLX205") == []


def test_the_same_sum_in_a_pass_that_only_evaluates_fires() -> None:
    use = ("lg = nn.value_and_grad(model, task_loss)\n"
           "print(validate(model, val_tasks).item())")
    assert fired(META.format(name="validate", use=use), "MLX205") == [8]


CAUSAL = """
class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def __call__(self, x, mask=None):
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        scores = q @ k.transpose(0, 2, 1)
        if mask is not None:
            scores = mx.where(mask == 0, -np.inf, scores)
        return mx.softmax(scores, axis=-1) @ v

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attention = Attention(d)

    def __call__(self, x, mask=None):
        return x + self.attention(x, mask=mask)

class LM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.blocks = [Block(d) for _ in range(2)]

    def __call__(self, x, keep):
        T = x.shape[1]
        mask = {mask}
        for block in self.blocks:
            x = block(x, mask)
        return x
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_a_causal_mask_handed_down_through_two_layers_is_quiet() -> None:
    """fresh306 `quarto_folio_stanza_ok` (correct): attention's `mask` is the block's, which
    is the model's `mx.tril(mx.ones((T, T)))`: the diagonal is kept, no row is all -inf."""
    assert fired(CAUSAL.format(mask="mx.tril(mx.ones((T, T)))"), "MLX035") == []


def test_a_padding_mask_handed_down_the_same_way_fires() -> None:
    assert fired(CAUSAL.format(mask="keep[:, None, :]"), "MLX035") == [11]


STACK = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ff = nn.Linear(d, d)

    def __call__(self, x, mask=None):
        return x + self.ff(x)

class LM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(d) for _ in range(2)])

    def __call__(self, x, mask):
        return {call}
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_a_sequential_given_a_mask_fires() -> None:
    """fresh306 `quarto_folio_stanza` (mlx-minGPT f1a3fc5): `self.blocks(x=x, mask=mask)`."""
    assert fired(STACK.format(call="self.blocks(x=x, mask=mask)"), "MLX268") == [16]
    assert fired(STACK.format(call="self.blocks(x, mask)"), "MLX268") == [16]


def test_a_sequential_given_its_one_input_is_quiet() -> None:
    assert fired(STACK.format(call="self.blocks(x)"), "MLX268") == []
    assert fired(STACK.format(call="self.blocks(x=x)"), "MLX268") == []


KEPT_STATE = """
def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

lg = nn.value_and_grad(model, loss_fn)
history, snapshots = [], []
for epoch in range(3):
    for step in range(100):
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        {per_step}
    {per_epoch}
    mx.eval(history)
"""


def test_each_steps_parameters_and_optimizer_state_kept_fire() -> None:
    """fresh306 `harbor_lamp_epochsweep` (mlx-playground b95cc35): `(loss, components,
    model.parameters(), optimizer.state)` appended for every batch, evaluated once an epoch."""
    code = KEPT_STATE.format(per_step="history.append((loss, model.parameters(), opt.state))",
                             per_epoch="pass")
    assert fired(code, "MLX269") == [11]


def test_one_snapshot_an_epoch_is_quiet() -> None:
    """fresh303 `pipeorgan_voicing_swa_snapshots` (correct): SWA keeps one copy an epoch."""
    code = KEPT_STATE.format(per_step="mx.eval(model.parameters(), opt.state)",
                             per_epoch="snapshots.append(model.parameters())")
    assert fired(code, "MLX269") == []


TOWERS = """
class Towers(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.text = nn.Linear(d, d)
        self.image = nn.Linear(d, d)
        self.logit_scale = {scale}

    def __call__(self, t, i):
        return (self.text(t) @ self.image(i).T) * mx.exp(self.logit_scale)
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_a_parameter_with_no_element_fires() -> None:
    """fresh306 `lanternslide_caption_towers` (mlx-examples 508f9f6): `mx.array([])`,
    "[broadcast_shapes] Shapes (64,64) and (0)" at the first loss."""
    assert fired(TOWERS.format(scale="mx.array([])"), "MLX270") == [7]
    assert fired(TOWERS.format(scale="mx.zeros((0,))"), "MLX270") == [7]


def test_a_scalar_parameter_is_quiet() -> None:
    assert fired(TOWERS.format(scale="mx.ones([])"), "MLX270") == []
    assert fired(TOWERS.format(scale="mx.array(0.0)"), "MLX270") == []
