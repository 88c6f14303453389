"""Stop 69's lint changes, on the spelling their corpus cases had and on the ones the rules
must still find or leave alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

QUANTIZER = """
def quantize(w):
    w_max = mx.max(w, axis=-1, keepdims=True)
    w_min = mx.min(w, axis=-1, keepdims=True)
    delta = {delta}
    scales = mx.squeeze(delta, -1)
    codes = mx.round((w - w_min) / delta)
    return codes, scales, w_min


def fake_quant(w):
    codes, scales, low = quantize(w)
    w_hat = codes * scales[..., None] + low
    return w + mx.stop_gradient(w_hat - w)


def loss_fn(model, x, y):
    return mx.mean((x @ fake_quant(model.weight).T - y) ** 2)


model = nn.Linear(4, 4)
grad_fn = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = grad_fn(model, mx.ones((2, 4)), mx.ones((2, 4)))
codes, scales, low = quantize(model.weight)
"""


@pytest.mark.parametrize("delta, expected", [
    ("(w_max - w_min) / 15", [7]),  # fresh232 ledger_tern_zeroinit_qat_broken
    ("mx.maximum((w_max - w_min) / 15, 1e-7)", []),  # its fixed twin
    ("(w_max - w_min + 1e-7) / 15", []),
])
def test_mlx230_finds_a_division_by_a_range_on_the_way_to_the_loss(delta: str,
                                                                     expected: list) -> None:
    assert fired(QUANTIZER.format(delta=delta), "MLX230") == expected


def test_mlx230_finds_a_min_max_normalisation_in_the_loss_and_leaves_data_alone() -> None:
    code = """
    def loss_fn(model, x):
        h = model(x)
        z = (h - h.min()) / (h.max() - h.min())
        return mx.mean(z)

    x = np.random.rand(8, 4)
    x = (x - x.min()) / (x.max() - x.min())
    model = nn.Linear(4, 4)
    grad_fn = nn.value_and_grad(model, loss_fn)
    """
    assert fired(code, "MLX230") == [4]


def test_mlx034_reads_a_straight_through_estimator_two_helpers_up() -> None:
    """fresh232 `ledger_tern_zeroinit_qat_ok`: the rounding sits in `quantize`, the
    estimator in `fake_quant`, and a report calls `quantize` outside the loss."""
    assert fired(QUANTIZER.format(delta="mx.maximum((w_max - w_min) / 15, 1e-7)"),
                 "MLX034") == []
    direct = QUANTIZER.replace("return w + mx.stop_gradient(w_hat - w)", "return w_hat")
    assert fired(direct.format(delta="(w_max - w_min) / 15"), "MLX034") == [7]


SCHEDULE = """
def make_schedule(kind, lr, steps):
    if kind == "none":
        return mx.array(lr)
    warm = optim.linear_schedule(0.1 * lr, lr, 10)
    return optim.join_schedules([warm, optim.cosine_decay(lr, steps)], [10])


class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = optim.AdamW(learning_rate=1e-3)

    def train(self, steps):
        schedule = make_schedule("cosine", 1e-3, steps)
        self.optimizer.learning_rate = {value}
"""


@pytest.mark.parametrize("value, expected", [
    ("schedule", [16]),  # fresh232 quarry_lantern_rerank_broken
    ("optim.cosine_decay(1e-3, steps)", [16]),
    ("lambda step: 1e-3", [16]),
    ("schedule(0)", []),  # a number at a step
    ("1e-4", []),
    ("mx.array(2e-4)", []),
])
def test_mlx229_finds_a_schedule_set_as_the_rate(value: str, expected: list) -> None:
    assert fired(SCHEDULE.format(value=value), "MLX229") == expected


def test_mlx045_stands_down_once_the_model_gets_new_parts() -> None:
    """fresh232 `oast_floor_qlora_handover`: adapters put in as `model.mid = LowRank(...)`
    after `nn.quantize`, then the adapters' own file loaded with strict=False."""
    code = """
    model = Net()
    nn.quantize(model, group_size=32, bits=4)
    {swap}
    model.load_weights("adapters.safetensors", strict=False)
    """
    assert fired(code.format(swap="model.mid = LowRank(model.mid)"), "MLX045") == []
    assert fired(code.format(swap="model.freeze()"), "MLX045") == [5]


STAGES = """
def first_loss(model, x, y, mask):
    return mx.mean((model(x) - y) ** 2 * mask)


def second_loss(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def main(model, optimizer, x, y, mask):
    vg = nn.value_and_grad(model, {first})
    for step in range(10):
        loss, grads = vg(model, x, y, mask)
        optimizer.update(model, grads)
    vg = nn.value_and_grad(model, second_loss)
    for step in range(10):
        loss, grads = vg(model, x, y)
        optimizer.update(model, grads)
"""


def test_mlx125_reads_each_binding_up_to_the_next() -> None:
    """fresh233 `carillon_peal_mlm_probe`, `cipher_desk_scst`: one name rebound to the second
    stage's loss, which takes fewer arguments; each call checked against its own binding."""
    assert fired(STAGES.format(first="first_loss"), "MLX125") == []
    assert fired(STAGES.replace("vg(model, x, y)", "vg(model, x)").format(first="first_loss"),
                 "MLX125") == [17]


SNAPSHOTS = """
grad_fn = nn.value_and_grad(model, loss_fn)
for step in range(100):
    loss, grads = grad_fn(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
preds = []
for {target} in snapshots:
    model.update({arg})
    preds.append(model(x))
print(mx.mean(mx.stack(preds)).item())
"""


def test_mlx014_leaves_a_snapshot_ensemble_alone() -> None:
    """fresh233 `peat_rewetting_sgdr_yaml`: stored trees put in one per iteration."""
    assert fired(SNAPSHOTS.format(target="tree", arg="tree"), "MLX014") == []
    assert fired(SNAPSHOTS.format(target="i, tree", arg="tree"), "MLX014") == []
    stepped = SNAPSHOTS.format(target="tree", arg="tree_map(lambda p: p * 0.9, tree)")
    assert fired(stepped, "MLX014") == [9]


@pytest.mark.parametrize("save, expected", [
    ("mx.save(path, **state)", [4]),  # fresh234 orchard_graft_ledger_broken
    ("mx.save(path, state)", [4]),
    ("mx.save(path, model.parameters())", [4]),
    ("mx.savez(path, **state)", []),
    ("mx.save_safetensors(path, state)", []),  # its fixed twin
    ("mx.save(path, state['w'])", []),  # one array
])
def test_mlx231_finds_a_tree_given_to_mx_save(save: str, expected: list) -> None:
    code = f"""
    def checkpoint(model, path):
        state = dict(tree_flatten(model.trainable_parameters()))
        {save}
    """
    assert fired(code, "MLX231") == expected


EXPORT = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

grad_fn = nn.value_and_grad(model, loss_fn)
for name, net in trained.items():
    {train}
    plain = Net()
    plain.load_weights(f"{{name}}.safetensors")
    print(name, plain(x).sum().item())
"""


def test_mlx178_leaves_a_loop_that_only_reloads_trained_models_alone() -> None:
    """fresh234 `hammock_bed_adapters`: one fresh model per trained fabric, loaded from its
    export; a loop that takes a gradient step at each pass still fires."""
    assert fired(EXPORT.format(train="pass"), "MLX178") == []
    assert fired(EXPORT.format(train="loss, grads = grad_fn(net, x)"), "MLX178") == [10]


def test_mlx178_reads_a_while_loops_stepped_counter_as_once_in_the_run() -> None:
    """fresh234 `sedge_folio_packed_lm`: `if step == SAVE_AT:` in a `while` loop."""
    code = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

    grad_fn = nn.value_and_grad(model, loss_fn)
    step = 0
    while step < 1000:
        loss, grads = grad_fn(model, x)
        step += 1
        if {test}:
            model = Net()
            model.load_weights("ckpt.safetensors")
    """
    assert fired(code.format(test="step == SAVE_AT"), "MLX178") == []
    assert fired(code.format(test="step > SAVE_AT"), "MLX178") == [13]


@pytest.mark.parametrize("block, expected", [
    ("with mx.eval():", [3]),  # fresh236 saltmarsh_ledger_grpo_broken
    ("with mx.stop_gradient(x):", [3]),
    ("with mx.stream(mx.cpu):", []),  # a real context manager
])
def test_mlx232_finds_eval_used_as_a_block(block: str, expected: list) -> None:
    code = f"""
    def old_logps(model, x):
        {block}
            return model(x)
    """
    assert fired(code, "MLX232") == expected


def test_mlx195_leaves_a_function_that_trains_the_model_it_is_given() -> None:
    """fresh236 `lockkeeper_ledger_resume`: `run_session(..., ckpt_dir)` trains and leaves
    saving to its caller."""
    code = """
    def run(model, data, ckpt_dir):
        {body}
        return model
    """
    trains = "step = nn.value_and_grad(model, loss_fn); step(model, data)"
    assert fired(code.format(body=trains), "MLX195") == []
    assert fired(code.format(body="print(model(data))"), "MLX195") == [2]


def test_mlx178_counts_a_literal_list_bound_to_a_name() -> None:
    """fresh236 `ripflag_soup_correct`: five recipes, one fine-tuned model each."""
    code = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

    grad_fn = nn.value_and_grad(model, loss_fn)
    recipes = {recipes}
    for k, r in enumerate(recipes):
        m = Net()
        m.update(base_params)
        loss, grads = grad_fn(m, x)
    """
    assert fired(code.format(recipes="[dict(lr=1e-3), dict(lr=3e-3)]"), "MLX178") == []
    assert fired(code.format(recipes="load_recipes()"), "MLX178") == [10]


@pytest.mark.parametrize("default, expected", [
    ("label_smoothing: float = 0.0", []),  # fresh235 quayside_manifest_microbatch_ok: off
    ("grad_accum: int = 1", []),
    ("label_smoothing: float = 0.1", [4]),  # declared on, never read
])
def test_mlx084_leaves_a_field_whose_default_is_off(default: str, expected: list) -> None:
    code = f"""
    @dataclass
    class TrainConfig:
        {default}
        learning_rate: float = 1e-3

    cfg = TrainConfig()
    optimizer = optim.Adam(learning_rate=cfg.learning_rate)
    for step in range(10):
        loss, grads = grad_fn(model, x)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    """
    assert fired(code, "MLX084") == expected


def test_mlx008_reads_a_returned_dict_of_floats_as_no_array() -> None:
    """fresh235 `purser_manifest_pooling_ok`: `return loss, {"loss": loss.item(), ...}`."""
    code = """
    def train_step(batch):
        loss, grads = grad_fn(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        return loss, {{"loss": loss.item(), "first": {first}}}

    totals = {{"loss": 0.0, "first": 0.0}}
    for batch in batches:
        loss, metrics = train_step(batch)
        for key, value in metrics.items():
            totals[key] += value
    """
    assert fired(code.format(first="float(loss.item())"), "MLX008") == []
    assert fired(code.format(first="mx.mean(loss)"), "MLX008") == [12]


SHADOW = """
def closure(bf16, grads):
    if bf16:
        {bind}
        grads = grads.astype(mx.bfloat16)
    tm = getattr(mx, "tree_map", None)
    return tm
"""


@pytest.mark.parametrize("bind, expected", [
    ("mx, _ = load_mlx()", [6]),  # fresh235 quayside_manifest_microbatch_broken
    ("core, _ = load_mlx()", []),  # another name
])
def test_mlx233_finds_an_import_rebound_under_an_if(bind: str, expected: list) -> None:
    assert fired(SHADOW.format(bind=bind), "MLX233") == expected


def test_mlx233_leaves_a_name_bound_on_every_path() -> None:
    code = SHADOW.format(bind="pass").replace("def closure(bf16, grads):\n",
                                              "def closure(bf16, grads):\n    mx = load()\n")
    assert fired(code, "MLX233") == []
