"""Stop 81's lint changes.

- MLX124 leaves alone a loop that builds a new model at the start of each pass and puts it
  in eval mode at its end (fresh287 `estuary_zone_teacher_panel`, correct: a panel of site
  models, each `m = mlp(64, 2)`, trained, then `m.eval()`; the rule read the next pass's
  steps as training the eval'd model).
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
