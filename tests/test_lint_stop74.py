"""Stop 74's lint changes, on the spelling their corpus case had and on the ones the rules must
leave alone: MLX031 following a field filled with a nested tree in one function and spread
into `mx.savez` in another.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

CHECKPOINTED = """
@dataclass
class Checkpoint:
    step: int
    model_state: dict


def save(checkpoint):
    mx.savez("model.npz", **checkpoint.model_state)


def train(model, loss_fn, optimizer):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for step in range(3):
        loss, grads = loss_and_grad(model, step)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        model_state = FILL
        save(Checkpoint(step=step, model_state=model_state))
"""


def test_a_field_filled_with_a_nested_tree_and_saved_in_another_function_is_found() -> None:
    # fresh252 cobbler_satchel_ledger (your_ai 312b674): RuntimeError std::bad_cast
    assert fired(CHECKPOINTED.replace("FILL", "dict(model.parameters())"), "MLX031") == [9]


def test_a_field_filled_flat_or_also_flat_elsewhere_is_left_alone() -> None:
    flat = "dict(tree_flatten(model.parameters()))"
    assert fired(CHECKPOINTED.replace("FILL", flat), "MLX031") == []
    mixed = CHECKPOINTED.replace("FILL", "dict(model.parameters())") + (
        "\n\nsave(Checkpoint(step=0, model_state=dict(tree_flatten(model.parameters()))))\n")
    assert fired(mixed, "MLX031") == []


def test_one_entry_of_a_shape_iterated_is_found() -> None:
    # fresh254 aurora_raymarch_probe (nerf_meets_mlx 1e08319): TypeError at the first render
    code = """
    def run_model(inputs, net):
        flat = net(inputs.reshape(-1, inputs.shape[-1]))
        return mx.reshape(flat, list(inputs.shape[-1]) + [flat.shape[-1]])
    for i in x.shape[0]:
        print(i)
    rows = [*x.shape[1], 4]
    """
    assert fired(code, "MLX252") == [4, 5, 7]


def test_a_slice_of_a_shape_or_a_range_over_an_entry_is_left_alone() -> None:
    code = """
    out = mx.reshape(flat, list(inputs.shape[:-1]) + [flat.shape[-1]])
    for i in range(x.shape[0]):
        print(i)
    rows = [*x.shape[1:], 4]
    n = list(x.shape)[k]
    """
    assert fired(code, "MLX252") == []


FEDERATED = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 8)

    def __call__(self, x):
        return self.l1(x)

def local_train(global_flat, data):
    client = Net()
    client.update(tree_unflatten(global_flat))
    vg = nn.value_and_grad(client, mse)
    opt = optim.SGD(learning_rate=0.05)
    tot, nb = 0.0, 0
    for xb, yb in INNER:
        loss, g = vg(client, xb, yb)
        opt.update(client, g)
        mx.eval(client.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    return tree_flatten(client.parameters()), tot / nb

losses = []
for rnd in range(rounds):
    for c in chosen:
        flat, c_loss = local_train(tree_flatten(model.parameters()), farms[c])
        losses.append(c_loss)
"""


def test_a_client_model_built_per_training_run_is_no_build_per_step() -> None:
    # fresh255 creamery_yield_fedprox_resume (correct): a federated client per farm and
    # round, trained over its farm's batches; its mean loss is a float
    text = FEDERATED.replace("INNER", "batches(*data)")
    assert fired(text, "MLX178") == [] and fired(text, "MLX008") == []
    assert fired(FEDERATED.replace("INNER", "zip(range(6), data)"), "MLX178") == []
    few = FEDERATED.replace("for xb, yb in INNER:", "for _ in range(6):\n        xb, yb = data")
    assert fired(few, "MLX178") == [11]  # Reptile's few inner steps per build stay found


GOSSIP = """
for epoch in range(3):
    for b in range(steps):
        for k, (m, opt, vg) in enumerate(kilns):
            loss, g = vg(m, X, y)
            opt.update(m, g)
        EVAL
"""


def test_models_stepped_in_turn_inside_an_evaluating_loop_are_no_backlog() -> None:
    # fresh255 raku_glaze_gossip_soup (correct): four models stepped in turn, all evaluated
    evaluated = GOSSIP.replace("EVAL", "mx.eval([(m.parameters(), o.state) for m, o, _ in kilns])")
    assert fired(evaluated, "MLX001") == []
    assert fired(GOSSIP.replace("EVAL", "pass"), "MLX001") == [6]


CONFIGURED = """
sched_cfg = {"name": "cosine_decay", "arguments": [3e-3, 600, 1e-4], "warmup": 40}
sched = SCHEDULE(sched_cfg)
opt = optim.Adam(learning_rate=sched)
loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(3):
    loss, grads = loss_and_grad(model, step)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


def test_a_config_dict_handed_to_an_imported_function_is_read_there() -> None:
    # fresh255 lockkeeper_tally_mlxlm_resume (correct): mlx-lm's build_schedule reads warmup
    imported = "from mlx_lm.tuner.utils import build_schedule\n" + CONFIGURED
    assert fired(imported.replace("SCHEDULE", "build_schedule"), "MLX084") == []
    own = "def build_schedule(cfg):\n    return cfg['arguments'][0]\n" + CONFIGURED
    assert fired(own.replace("SCHEDULE", "build_schedule"), "MLX084") == [4]


MEL = """
class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 16)

    def __call__(self, x):
        return self.l1(x)

gen = Gen()

def stft(y, n_fft):
    x = np.array(y, dtype=np.float32)
    win = np.hanning(n_fft)
    return mx.array(np.abs(np.fft.rfft(x * win, axis=-1)))

def mel_of(y, basis, n_fft):
    spec = SPEC
    return mx.log(basis @ spec)

def g_loss_fn(gen, mel, y):
    y_hat = gen(mel)
    return mx.mean(mx.abs(mel - mel_of(y_hat, BASIS, 16)))

g_step = nn.value_and_grad(gen, lambda g, mel, y: g_loss_fn(g, mel, y))
for step in range(3):
    loss, grads = g_step(gen, mel, y)
    optimizer.update(gen, grads)
    mx.eval(gen.parameters(), optimizer.state)
"""


def test_a_loss_through_a_helper_that_calls_a_host_stft_is_found() -> None:
    # fresh255 chorister_sibilant_hifigan (GPT-SoVITS-mlx bfd9825): the generator's mel loss
    # went through np.array and np.fft, so it gave no gradient; the loss is reached through
    # a lambda that only calls the module's g_loss_fn
    assert fired(MEL.replace("SPEC", "stft(y, n_fft)"), "MLX069") == [23]


def test_a_helper_whose_result_also_reads_its_argument_is_left_alone() -> None:
    assert fired(MEL.replace("SPEC", "stft(y, n_fft) + y"), "MLX069") == []
