"""unsynced-init: every rank starts from its own random weights and nothing broadcasts them.

Source: issue 16. A data-parallel loop builds the model on each rank after seeding with the
rank (or not seeding at all): the initial weights differ across ranks.
Bug: no broadcast (average) of the initial weights. Symptom: training runs, the loss falls on
every rank, nothing fails; but the ranks apply the same averaged gradients to different
weights, so they end with different models (checkpoints from different ranks disagree; the
"averaged" gradients belong to no single model). Root cause: data parallelism assumes
identical replicas. Fix: average the initial weights once (`all_sum(p) / size` per
parameter), or seed every rank identically before building the model.

Measured here (mlx 0.32.4, Linux CPU, ring backend over 127.0.0.1, 2 ranks, 2026-11-22): the
largest parameter difference from the ranks' mean is 0.243 after 40 steps (it cannot
shrink: every rank applies the same averaged update); 0.0 with the fix.
"""

from __future__ import annotations

from . import _data_parallel as dp

SCENARIO = {
    "id": "unsynced-init",
    "title": "ranks start from different random weights and never sync: replicas disagree",
    "source": ["issue 16"],
    "variants": {"broken": "wrong_result", "fixed": "pass"},
    "budget_s": 120,  # CPU: ~5 s; CUDA may JIT its kernels on a first run
    "ranks": 2,
    "tags": ["distributed"],
}

STEPS = 40
MAX_SPREAD = 1e-5


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, sync=False)


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, sync=True)


def _train(probe, sync: bool) -> None:  # noqa: ANN001
    rank = dp.group().rank()
    model = dp.make_model(seed=rank)  # BUG (broken): each rank's own random init
    if sync:
        dp.synced(model)  # the fix: one average of the initial weights
    optimizer, loss_and_grad = dp.trainer(model)
    data = dp.shard(rank, STEPS)
    probe.reset_clock()
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        dp.apply(model, optimizer, dp.averaged(grads), loss)
        probe.step(loss=loss.item())
    spread = dp.parameter_spread(model)
    probe.check("parameters identical across ranks", spread <= MAX_SPREAD,
                hint="average the initial weights once: model.update(tree_map(lambda p: "
                "mx.distributed.all_sum(p) / size, model.parameters()))",
                max_difference_from_mean=spread, allowed=MAX_SPREAD)
