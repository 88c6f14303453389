"""MLX083, MLX084, MLX085 and MLX089 on small programs: a loss guard that a NaN passes, a
training setting declared and never read, an option default that hides the config's value,
an update every k steps with the last gradients alone; and the near misses that stay silent
(the guard tests isfinite, a guard that stops the run, two losses compared; the setting read
as an attribute, a key, through getattr, a config handed on whole; no default; gradients
summed)."""

from __future__ import annotations

from lint_snippets import fired

GUARD = """
for x, y in batches():
    loss, grads = loss_and_grad(model, x, y)
    loss_f = loss.item()
    if {test}:
        {leave}
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx083_a_guard_that_nan_passes() -> None:
    for test in ("loss_f > MAX_SANE_LOSS", "loss_f >= 100.0", "100.0 < loss_f"):
        assert fired(GUARD.format(test=test, leave="continue"), "MLX083") == [5], test


def test_mlx083_silent_when_nan_is_tested_or_the_guard_does_not_skip() -> None:
    tested = "not math.isfinite(loss_f) or loss_f > MAX_SANE_LOSS"
    assert fired(GUARD.format(test=tested, leave="continue"), "MLX083") == []
    assert fired(GUARD.format(test="loss_f > 100.0", leave="break"), "MLX083") == []
    assert fired(GUARD.format(test="loss_f > best_loss", leave="continue"), "MLX083") == []
    assert fired(GUARD.format(test="loss_f < 100.0", leave="continue"), "MLX083") == []
    elsewhere = GUARD.format(test="loss_f > 100.0", leave="continue") + \
        "assert not mx.isnan(loss_f)\n"
    assert fired(elsewhere, "MLX083") == []


CONFIG = """
@dataclass
class TrainConfig:
    lr: float = 0.1
    max_grad_norm: float = 1.0

def train(cfg: TrainConfig):
    opt = optim.SGD(learning_rate=cfg.lr)
    for x, y in batches():
        loss, grads = loss_and_grad(model, x, y)
        {use}
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
"""


def test_mlx084_a_setting_never_read() -> None:
    assert fired(CONFIG.format(use="pass"), "MLX084") == [5]
    options = ("parser.add_argument('--weight-decay', type=float, default=0.01)\n"
               "args = parser.parse_args()\nopt = optim.AdamW(learning_rate=args.lr)\n")
    assert fired(options, "MLX084") == [1]
    literal = "config = {'lr': 0.1, 'warmup_steps': 100}\nopt = optim.Adam(config['lr'])\n"
    assert fired(literal, "MLX084") == [1]


def test_mlx084_silent_when_the_setting_is_read_or_the_config_handed_on() -> None:
    for use in ("grads, _ = optim.clip_grad_norm(grads, cfg.max_grad_norm)",
                "clip = getattr(cfg, 'max_grad_norm')", "log(asdict(cfg))",
                "clip = settings['max_grad_norm']"):
        assert fired(CONFIG.format(use=use), "MLX084") == [], use
    plain = "class Net(nn.Module):\n    momentum = 0.9\n"
    assert fired(plain, "MLX084") == []


OPTIONS = """
parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", type=float{default})
parser.add_argument("--iters", type=int)
args = parser.parse_args()
for k, v in yaml.safe_load(open(args.config)).items():
    if {test}:
        {fill}
opt = optim.Adam(learning_rate=args.learning_rate)
"""


def test_mlx085_a_default_the_config_fill_never_replaces() -> None:
    for test, fill in (("getattr(args, k, None) is None", "setattr(args, k, v)"),
                       ("args.get(k) is None", "args[k] = v")):
        code = OPTIONS.format(default=", default=1e-5", test=test, fill=fill)
        assert fired(code, "MLX085") == [3], test


def test_mlx085_silent_with_no_default_a_none_default_or_an_unconditional_fill() -> None:
    fill = dict(test="getattr(args, k, None) is None", fill="setattr(args, k, v)")
    assert fired(OPTIONS.format(default="", **fill), "MLX085") == []
    assert fired(OPTIONS.format(default=", default=None", **fill), "MLX085") == []
    always = OPTIONS.format(default=", default=1e-5", test="True", fill="setattr(args, k, v)")
    assert fired(always, "MLX085") == []


ACCUM = """
loss_and_grad = nn.value_and_grad(model, loss_fn)
acc = None
for step, (x, y) in enumerate(batches()):
    loss, grads = loss_and_grad(model, x, y)
    {accumulate}
    if (step + 1) % 4 == 0:
        {before}
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx089_an_update_every_k_steps_with_the_last_gradients_alone() -> None:
    code = ACCUM.format(accumulate="mx.eval(loss, grads)", before="pass")
    assert fired(code, "MLX089") == [9]


def test_mlx089_silent_when_the_gradients_are_summed_or_every_step_updates() -> None:
    summed = ACCUM.format(
        accumulate="acc = grads if acc is None else tree_map(mx.add, acc, grads)",
        before="grads = tree_map(lambda g: g / 4, acc)")
    assert fired(summed, "MLX089") == []
    every = ACCUM.replace("if (step + 1) % 4 == 0:", "if True:").format(
        accumulate="pass", before="pass")
    assert fired(every, "MLX089") == []


def test_mlx094_an_assignment_into_the_random_state() -> None:
    """b12_rng_state_rewind_assign (fresh12): read-only since mlx 0.32.1."""
    assert fired("key = mx.random.state[0]\nmx.random.state[0] = key\n", "MLX094") == [2]
    assert fired("key = mx.random.state[0]\nmx.random.seed(0)\n", "MLX094") == []
