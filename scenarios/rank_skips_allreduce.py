"""rank-skips-allreduce: one rank skips the gradient averaging on a condition only it sees.

Source: issue 16 (measured there: ring and NCCL, mlx 0.32.4). A data-parallel loop guards
against bad batches locally: a rank whose own loss is too large skips the step (no
`all_sum`, no update). The other rank averages as usual.
Bug: the skip is a local decision. Symptom: nothing fails at the skipped step; from then on
the ranks' collectives pair different steps (rank 1's step-4 `all_sum` meets rank 0's step-3
one: the wrong gradients are averaged, silently), and the job blocks at the first collective
whose shapes differ: here the final `all_sum` of the validation loss (a scalar) meets rank 0's
last gradient `all_sum`. Root cause: collectives are matched by order, not by step.
Fix: decide the skip collectively (`all_sum` of a "bad batch" flag: every rank skips or none).

Measured here (mlx 0.32.4, Linux CPU, ring backend over 127.0.0.1, 2 ranks, 2026-11-22): both
ranks block for good inside `mx.eval` (py-spy: `pthread_cond_wait` <- `mlx::core::Event::wait`
<- `mlx::core::eval`), each main thread at 0.00 cores beside a ring thread polling at
0.06-0.6 cores (over half a second; the lower figures with mlxprobe's own sampling competing
for the 2 cores). With equal shapes instead (a rank that skips and then exits) the ring backend does
not hang: the waiting rank raises "[ring] connection to a peer was lost".
"""

from __future__ import annotations

import mlx.core as mx

from . import _data_parallel as dp

SCENARIO = {
    "id": "rank-skips-allreduce",
    "title": "one rank skips the gradient all_sum on a local condition: the ranks block",
    "source": ["issue 16"],
    "variants": {"broken": "hang:collective", "fixed": "pass"},
    "budget_s": 120,  # CPU: ~5 s; CUDA may JIT its kernels on a first run
    "ranks": 2,
    "tags": ["distributed"],
}

STEPS, BAD_STEP, BAD_LOSS = 30, 3, 50.0


def _batches(rank: int) -> list:
    data = dp.shard(rank, STEPS)
    if rank == 1:  # a corrupt batch that only rank 1 holds
        x, y = data[BAD_STEP - 1]
        data[BAD_STEP - 1] = (x, y * 100.0)
    return data


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, collective_skip=False)


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, collective_skip=True)


def _train(probe, collective_skip: bool) -> None:  # noqa: ANN001
    rank = dp.group().rank()
    model = dp.make_model(0)
    optimizer, loss_and_grad = dp.trainer(model)
    data, held_out = _batches(rank), dp.shard(rank + 10, 4)
    before = dp.validation_loss(model, held_out)
    probe.reset_clock()
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        bad = loss > BAD_LOSS
        if collective_skip:  # the fix: every rank learns whether any rank saw a bad batch
            bad = mx.distributed.all_sum(bad.astype(mx.float32)) > 0
        if bad.item():  # BUG (broken): a decision only this rank sees
            probe.step(loss=loss.item(), skipped=True)
            continue
        dp.apply(model, optimizer, dp.averaged(grads), loss)
        probe.step(loss=loss.item())
    after = dp.validation_loss(model, held_out)  # the final all_sum: where the broken job blocks
    probe.check("validation loss fell", after < 0.5 * before, before=before, after=after)
