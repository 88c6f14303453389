"""Stop 81's lint changes.

- MLX124 leaves alone a loop that builds a new model at the start of each pass and puts it
  in eval mode at its end (fresh287 `estuary_zone_teacher_panel`, correct: a panel of site
  models, each `m = mlp(64, 2)`, trained, then `m.eval()`; the rule read the next pass's
  steps as training the eval'd model).
- MLX260 (new): `os.makedirs(os.path.dirname(path))` with no test of the dirname's truth
  (fresh267 `pantry_shelf_cnn`: a checkpoint name with no directory part, FileNotFoundError).
- MLX178 reads the count of `range(1, ROUNDS + 1)` (fresh289 `tidetable_crier_onlinedpo`,
  correct: a reference model copied once a round, 8 rounds).
- MLX261 (new): a step taken modulo a setting whose declared default is 0 (fresh289
  `heron_sluice_grpo`: `step % args.logging_steps` under `logging_steps: int = 0`).
- MLX262 (new): keywords packed into a dict for a method that unpacks them into another
  that does not take them (fresh288 `estuary_relay_relconv`, mlx-graphs 63e55b8).
- MLX263 (new): a loop that ignores its own item and reads what the loop before it bound per
  item (fresh229 `gecko_grpo_prefill`, mlx-grpo 5452908).
- MLX264 (new): the same optimizer step twice in one pass with the same gradients (fresh182
  `quarry_probe_accum`, mlx-lm 71500840).
- MLX008 leaves a loop inside an `mx.compile`d function (fresh290 `tallow_beacon_featdraft`,
  correct: a compiled step sums its 2 micro-batches and returns the sum).
- MLX265 (new): a layer with parameters built and read nowhere in a file that trains and
  loads no weights (fresh290 `fennel_tideflat_spectral_gate`, llm-asi-arch dac31cd).
- MLX214 reads a file that names torch without importing it (fresh291 `quarry_relay_grpo_sync`,
  chuk-finetune 25a1b53: a helper `is_torch_model` beside `ref_model.load_state_dict(...)`).
- MLX170 takes `n = 12 * (len(rows) // 128)` as a step count when `n` is read by an argument
  of an `mlx.optimizers` call (fresh287 `sonde_ascent_cholesky_nll`, correct: a cosine
  schedule's length).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

PANEL = """
panel = []
for site in range(3):
{build}    opt = optim.Adam(learning_rate=1e-3)
    lg = nn.value_and_grad(m, loss_fn)
    for step in range(10):
        loss, g = lg(m, x, y)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
    m.eval()
    panel.append(m)
"""


def test_a_model_built_anew_each_pass_is_not_trained_after_its_eval() -> None:
    assert fired(PANEL.format(build="    m = nn.Linear(4, 2)\n"), "MLX124") == []


def test_one_model_trained_again_after_its_eval_still_fires() -> None:
    """The model is built once before the loop: the second pass steps the eval'd one."""
    code = "m = nn.Linear(4, 2)\n" + PANEL.format(build="")
    assert fired(code, "MLX124") == [11]


SCHEDULE = """
rows = list(range(1000))
steps = 12 * (len(rows) // 128)
{use}
"""


def test_a_step_count_read_by_a_schedule_is_no_share() -> None:
    use = "opt = optim.Adam(learning_rate=optim.cosine_decay(1e-3, steps - 100, 2e-5))"
    assert fired(SCHEDULE.format(use=use), "MLX170") == []


def test_the_same_count_used_as_a_split_still_fires() -> None:
    assert fired(SCHEDULE.format(use="train = rows[:steps]"), "MLX170") == [3]


SAVE = """
import os

def save(model, fname{default}):
    dir_path = os.path.dirname({path})
{guard}    os.makedirs(dir_path, exist_ok=True)
    model.save_weights(fname)

def train(model, opt, x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    save(model, "model_000.npz")
"""


def test_makedirs_of_a_dirname_never_tested_fires() -> None:
    assert fired(SAVE.format(default="", path="fname", guard=""), "MLX260") == [6]


def test_an_exists_check_is_no_guard_against_the_empty_dirname() -> None:
    guard = "    if not os.path.exists(dir_path):\n    "
    assert fired(SAVE.format(default="", path="fname", guard=guard), "MLX260") == [7]


def test_a_truth_test_of_the_dirname_is_a_guard() -> None:
    guard = "    if dir_path:\n    "
    assert fired(SAVE.format(default="", path="fname", guard=guard), "MLX260") == []


def test_a_joined_or_absolute_path_has_a_directory_part() -> None:
    for path in ('os.path.join(out, "w.npz")', "os.path.abspath(fname)", 'f"ckpt/{fname}"'):
        assert fired(SAVE.format(default=", out='runs'", path=path, guard=""), "MLX260") == []


ROUNDS = """
ROUNDS = {rounds}
grad_fn = nn.value_and_grad(policy, loss_fn)

def copy_frozen(model):
    twin = Net()
    twin.load_weights(list(tree_flatten(model.parameters())))
    return twin

for rnd in range(1, ROUNDS + 1):
    ref = copy_frozen(policy)
    for step in range(30):
        loss, g = grad_fn(policy, ref)
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state)
"""
NET = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)
"""


def test_a_copy_built_once_a_round_over_few_rounds_is_no_per_step_build() -> None:
    """fresh289 `tidetable_crier_onlinedpo` (correct): a frozen reference copied once per
    round of online DPO, `range(1, ROUNDS + 1)` with ROUNDS = 8: the count was not read."""
    assert fired(NET + ROUNDS.format(rounds=8), "MLX178") == []


def test_the_same_copy_over_many_rounds_still_fires() -> None:
    assert fired(NET + ROUNDS.format(rounds=5000), "MLX178") == [11]


SETTINGS = """
from dataclasses import dataclass

@dataclass
class Args:
    logging_steps: int = {default}
    lr: float = 1e-3

args = Args()
for it in range(100):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if {test}:
        print(it, loss.item())
"""


def test_a_step_modulo_a_setting_whose_default_is_zero_fires() -> None:
    assert fired(SETTINGS.format(default=0, test="it % args.logging_steps == 0"),
                 "MLX261") == [14]


def test_a_setting_tested_first_or_with_another_default_is_quiet() -> None:
    guarded = "args.logging_steps > 0 and it % args.logging_steps == 0"
    assert fired(SETTINGS.format(default=0, test=guarded), "MLX261") == []
    assert fired(SETTINGS.format(default=10, test="it % args.logging_steps == 0"),
                 "MLX261") == []


def test_a_counter_that_starts_at_zero_is_no_setting() -> None:
    counter = SETTINGS.format(default=0, test="it % args.logging_steps == 0")
    assert fired(counter + "    args.logging_steps += 1\n", "MLX261") == []


def test_a_parameter_whose_default_is_zero_is_a_setting() -> None:
    code = ("def report(step, every=0):\n    return step % every == 0\n"
            "for x, y in batches:\n"
            "    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)\n")
    assert fired(code, "MLX261") == [2]
    assert fired(code.replace("return", "return every and"), "MLX261") == []


GRAPH = """
class MessagePassing(nn.Module):
    def propagate(self, h, update_kwargs={{}}):
        agg = h.sum(axis=0)
        return self.update_nodes(agg, **update_kwargs)


class RelConv(MessagePassing):
    def __call__(self, h):
        return self.propagate(h, update_kwargs={given})

    def update_nodes(self, aggregated, {receives}):
        return aggregated + old


for x, y in batches:
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
"""


def test_a_keyword_forwarded_to_a_method_that_does_not_take_it_fires() -> None:
    """fresh288 `estuary_relay_relconv` (mlx-graphs 63e55b8)."""
    assert fired(GRAPH.format(given="dict(input=h)", receives="old"), "MLX262") == [10]
    assert fired(GRAPH.format(given='{"input": h}', receives="old"), "MLX262") == [10]


def test_a_forwarded_keyword_the_method_takes_is_quiet() -> None:
    assert fired(GRAPH.format(given="dict(old=h)", receives="old"), "MLX262") == []
    assert fired(GRAPH.format(given="dict(input=h)", receives="old=None, **kw"),
                 "MLX262") == []


ROLLOUT = """
def build_rollout(model, indices):
    prompts, answers = [], []
    for i in indices:
        prompt, answer = question(i)
        prompts.append(prompt)
    logits = []
    for {item} in {over}:
        logits.append(model([{read}]))
    return logits

for step in range(100):
    loss, g = nn.value_and_grad(model, loss_fn)(model, build_rollout(model, idx))
"""


def test_a_loop_that_ignores_its_item_for_the_earlier_loops_last_fires() -> None:
    """fresh229 `gecko_grpo_prefill` (mlx-grpo 5452908)."""
    assert fired(ROLLOUT.format(item="i", over="prompts", read="prompt"), "MLX263") == [9]


def test_a_loop_that_reads_its_item_or_repeats_a_count_is_quiet() -> None:
    assert fired(ROLLOUT.format(item="p", over="prompts", read="p"), "MLX263") == []
    assert fired(ROLLOUT.format(item="k", over="range(4)", read="prompt"), "MLX263") == []
    assert fired(ROLLOUT.format(item="p", over="prompts", read="sum(q for q in p) + prompt"),
                 "MLX263") == []


STEP = """
def step(it, x, y):
    loss, grad = loss_and_grad(model, x, y)
    if (it + 1) % accum == 0:
        grad = average_gradients(grad)
        optimizer.update(model, grad)
{tail}
    return loss

for it in range(100):
    mx.eval(step(it, x, y), model.parameters(), optimizer.state)
"""


def test_the_same_update_twice_in_one_pass_fires() -> None:
    """fresh182 `quarry_probe_accum` (mlx-lm 71500840)."""
    assert fired(STEP.format(tail="    optimizer.update(model, grad)"), "MLX264") == [7]


def test_updates_on_two_branches_or_with_new_gradients_are_quiet() -> None:
    other_branch = "    else:\n        optimizer.update(model, grad)"
    regraded = "    loss, grad = loss_and_grad(model, x, y)\n    optimizer.update(model, grad)"
    for tail in (other_branch, regraded, "    pass"):
        assert fired(STEP.format(tail=tail), "MLX264") == []


COMPILED = """
{decorator}
def dstep(hs, ys):
    acc_g, tot = None, 0.0
    for i in range(ACC):
        l, g = dgrad(draft, hs[i], ys[i])
        acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
        tot = tot + l
    dopt.update(draft, acc_g)
    return tot

for u in range(100):
    tot = dstep(h, y)
    mx.eval(tot, draft.state, dopt.state)
"""


def test_a_sum_inside_a_compiled_step_is_the_callers_to_evaluate() -> None:
    """fresh290 `tallow_beacon_featdraft` (correct): MLX raises on an eval while tracing."""
    decorator = "@partial(mx.compile, inputs=[draft.state], outputs=[draft.state])"
    assert fired(COMPILED.format(decorator=decorator), "MLX008") == []


def test_the_same_sum_in_a_plain_function_still_fires() -> None:
    assert fired(COMPILED.format(decorator=""), "MLX008") == [8]


MIXER = """
class Mixer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.v_proj = nn.Linear(d, d)
        self.g_proj = nn.Linear(d, d)
        self.act = nn.GELU()

    def __call__(self, h):
        return {forward}

for x, y in batches:
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
{tail}"""


def test_a_layer_with_parameters_never_read_fires() -> None:
    """fresh290 `fennel_tideflat_spectral_gate` (llm-asi-arch dac31cd)."""
    assert fired(MIXER.format(forward="self.act(self.v_proj(h))", tail=""), "MLX265") == [6]


def test_a_layer_called_or_a_file_that_loads_weights_is_quiet() -> None:
    used = "self.v_proj(h) * mx.sigmoid(self.g_proj(h))"
    assert fired(MIXER.format(forward=used, tail=""), "MLX265") == []
    loads = 'model.load_weights("base.safetensors")\n'
    assert fired(MIXER.format(forward="self.v_proj(h)", tail=loads), "MLX265") == []


SYNC = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

def is_torch_model(m):
    return type(m).__module__.startswith("torch")

base_model = Net()
ref_model = Net()
for x, y in batches:
    ref_model.load_state_dict(base_model.state_dict())
    loss, g = nn.value_and_grad(base_model, loss_fn)(base_model, x, y)
"""


def test_the_word_torch_alone_does_not_stand_the_torch_method_rule_down() -> None:
    """fresh291 `quarry_relay_grpo_sync` (chuk-finetune 25a1b53): a helper named
    `is_torch_model`, no torch import."""
    assert fired(SYNC, "MLX214") == [13, 13]
    assert fired("import torch\n" + SYNC, "MLX214") == []


def test_an_option_whose_default_is_zero_is_a_setting_too() -> None:
    code = ("import argparse\np = argparse.ArgumentParser()\n"
            'p.add_argument("--every", type=int, default={default})\nargs = p.parse_args()\n'
            "for x, y in batches:\n    loss, g = nn.value_and_grad(m, f)(m, x, y)\n"
            "    if it % args.every == 0:\n        print(loss)\n")
    assert fired(code.format(default=0), "MLX261") == [7]
    assert fired(code.format(default=10), "MLX261") == []
