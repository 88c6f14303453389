"""MLX117: a schedule that decays to 0 over one pass of an inner loop that an outer loop
repeats, on small programs: it fires for cosine_decay and for linear_schedule to 0; a
schedule over the whole run, a warm-up inside join_schedules, a schedule rebuilt each epoch,
a linear warm-up (end above 0) and a single outer pass stay clean."""

from __future__ import annotations

from lint_snippets import fired

ONE_EPOCH = """
EPOCHS, STEPS = 25, 16
schedule = optim.cosine_decay(3e-4, decay_steps=STEPS)
opt = optim.Adam(learning_rate=schedule)
for epoch in range(EPOCHS):
    for b in range(STEPS):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
"""


def test_mlx117_cosine_over_one_epoch_fires():
    assert fired(ONE_EPOCH, "MLX117") == [3]


def test_mlx117_linear_to_zero_over_one_epoch_fires():
    linear = ONE_EPOCH.replace("optim.cosine_decay(3e-4, decay_steps=STEPS)",
                               "optim.linear_schedule(3e-4, 0.0, STEPS)")
    assert fired(linear, "MLX117") == [3]


def test_mlx117_a_schedule_over_the_run_is_clean():
    assert fired(ONE_EPOCH.replace("decay_steps=STEPS", "decay_steps=EPOCHS * STEPS"),
                 "MLX117") == []


def test_mlx117_a_warmup_a_restart_a_rising_ramp_and_one_pass_are_clean():
    warmup = ONE_EPOCH.replace(
        "optim.cosine_decay(3e-4, decay_steps=STEPS)",
        "optim.join_schedules([optim.linear_schedule(0.0, 3e-4, STEPS), "
        "optim.cosine_decay(3e-4, 400)], [STEPS])")
    ramp = ONE_EPOCH.replace("optim.cosine_decay(3e-4, decay_steps=STEPS)",
                             "optim.linear_schedule(0.0, 3e-4, STEPS)")
    single = ONE_EPOCH.replace("range(EPOCHS)", "range(1)")
    restart = """
for epoch in range(EPOCHS):
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-4, STEPS))
    for b in range(STEPS):
        opt.update(model, grads)
"""
    for program in (warmup, ramp, single, restart):
        assert fired(program, "MLX117") == []
