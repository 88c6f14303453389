"""Glass studio: learn a 4-step glory-hole heat schedule (low / medium / high per
reheat) for each gather from three bench readings (batch stiffness, wall thickness,
colour-frit flag).  The schedule is written step by step by a small autoregressive
policy and trained with REINFORCE using the leave-one-out (RLOO) baseline over 4
schedules drawn per gather; the leave-one-out advantages are scaled by their
batch standard deviation.

Rewards are defect costs, so they are always negative; a good studio gets close
to the cost of its unavoidable heat changes.  The surrogate loss hovers around
zero (it is advantage-weighted, the advantages sum to zero per gather).
The run saves a checkpoint half way, rebuilds model and optimizer from it and
goes on.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

STEPS = 4          # reheats per gather
LEVELS = 3         # low / medium / high
K = 4              # schedules drawn per gather (RLOO group)
GATHERS = 64       # gathers per iteration
ITERS = 300
HALF = 150
SWITCH_COST = 0.15
STEP_W = np.array([1.0, 0.8, 0.8, 0.6], dtype=np.float32)

rng = np.random.default_rng(7)
mx.random.seed(7)


def bench_readings(n, r):
    stiff = r.uniform(0, 1, n)
    thick = r.uniform(0, 1, n)
    frit = (r.uniform(0, 1, n) < 0.4).astype(np.float64)
    return np.stack([stiff, thick, frit], 1).astype(np.float32)


def ideal_levels(ctx):
    stiff, thick, frit = ctx[:, 0], ctx[:, 1], ctx[:, 2]
    t0 = np.where(stiff > 0.55, 2, 1)
    t1 = 1 + (thick > 0.5).astype(int)
    t2 = np.where(frit > 0.5, 0, 1 + (stiff > 0.8).astype(int))
    t3 = np.where(thick > 0.75, 1, 0)
    return np.stack([t0, t1, t2, t3], 1)


def defect_cost(ctx, sched, r=None):
    tgt = ideal_levels(ctx)
    miss = (np.abs(sched - tgt) * STEP_W).sum(1)
    switches = (sched[:, 1:] != sched[:, :-1]).sum(1)
    cost = miss + SWITCH_COST * switches
    if r is not None:
        cost = cost + np.abs(r.normal(0, 0.1, len(cost)))
    return -cost.astype(np.float32)


ALL_SCHEDS = np.array(np.meshgrid(*[range(LEVELS)] * STEPS, indexing="ij")).reshape(STEPS, -1).T


def oracle_reward(ctx):
    best = np.full(len(ctx), -np.inf, dtype=np.float32)
    for s in ALL_SCHEDS:
        best = np.maximum(best, defect_cost(ctx, np.tile(s, (len(ctx), 1))))
    return best


class HeatWriter(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(3 + (LEVELS + 1) + STEPS, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, LEVELS)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.head(h)


def step_input(ctx, prev, t):
    n = ctx.shape[0]
    ctx = 2.0 * ctx - 1.0
    prev_oh = mx.zeros((n, LEVELS + 1)).at[mx.arange(n), prev].add(1.0)
    step_oh = mx.zeros((n, STEPS)).at[:, t].add(1.0)
    return mx.concatenate([ctx, prev_oh, step_oh], axis=1)


def write_schedules(model, ctx, greedy=False):
    n = ctx.shape[0]
    prev = mx.full((n,), LEVELS, dtype=mx.int32)
    out = []
    for t in range(STEPS):
        logits = model(step_input(ctx, prev, t))
        a = mx.argmax(logits, axis=1) if greedy else mx.random.categorical(logits)
        a = a.astype(mx.int32)
        out.append(a)
        prev = a
    sched = mx.stack(out, axis=1)
    mx.eval(sched)
    return sched


def rloo_loss(model, ctx, sched, adv, ent_coef):
    n = ctx.shape[0]
    start = mx.full((n, 1), LEVELS, dtype=mx.int32)
    prevs = mx.concatenate([start, sched[:, :-1]], axis=1)
    logp_sum = mx.zeros((n,))
    ent = mx.zeros((n,))
    for t in range(STEPS):
        logits = model(step_input(ctx, prevs[:, t], t))
        logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
        logp_sum = logp_sum + mx.take_along_axis(logp, sched[:, t:t + 1], axis=1)[:, 0]
        ent = ent - (mx.exp(logp) * logp).sum(1)
    pg = -(adv * logp_sum).mean()
    ent_mean = ent.mean() / STEPS
    return pg - ent_coef * ent_mean, (pg, ent_mean)


def make_optimizer():
    warm = optim.linear_schedule(0.0, 1e-3, 40)
    decay = optim.cosine_decay(1e-3, ITERS - 40, end=3e-4)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [40]))


def evaluate(model, ctx):
    sched = np.array(write_schedules(model, mx.array(ctx), greedy=True))
    return float(defect_cost(ctx, sched).mean())


eval_ctx = bench_readings(512, np.random.default_rng(99))
eval_rng = np.random.default_rng(5)
random_base = float(defect_cost(eval_ctx, eval_rng.integers(0, LEVELS, (512, STEPS))).mean())
medium_base = float(defect_cost(eval_ctx, np.ones((512, STEPS), dtype=int)).mean())
oracle = float(oracle_reward(eval_ctx).mean())
print(f"held-out 512 gathers | random schedule {random_base:.3f} | always-medium {medium_base:.3f} | best possible {oracle:.3f}")

model = HeatWriter()
optimizer = make_optimizer()
mx.eval(model.parameters())


def run(model, optimizer, first, last):
    step_fn = nn.value_and_grad(model, rloo_loss)
    for it in range(first, last + 1):
        ctx_np = bench_readings(GATHERS, rng)
        ctx_rep = np.repeat(ctx_np, K, axis=0)
        ctx = mx.array(ctx_rep)
        sched = write_schedules(model, ctx)
        rew = defect_cost(ctx_rep, np.array(sched), rng).reshape(GATHERS, K)
        loo = (rew.sum(1, keepdims=True) - rew) / (K - 1)
        adv_np = (rew - loo).reshape(-1)
        adv = mx.array(adv_np / (adv_np.std() + 1e-6))
        ent_coef = 0.3 * max(0.0, 1.0 - it / 200)
        (loss, (pg, ent)), grads = step_fn(model, ctx, sched, adv, ent_coef)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 25 == 0 or it == first:
            lr = float(optimizer.learning_rate)
            print(f"it {it:03d} lr {lr:.5f} loss {float(loss):+.4f} pg {float(pg):+.4f} "
                  f"entropy {float(ent):.3f} sampled reward {rew.mean():.3f}")
        if it % 50 == 0:
            print(f"  eval it {it:03d}: greedy schedule reward {evaluate(model, eval_ctx):.3f} "
                  f"(random {random_base:.3f}, always-medium {medium_base:.3f}, best {oracle:.3f})")


t0 = time.time()
run(model, optimizer, 1, HALF)

ckpt_dir = tempfile.mkdtemp()
wpath = os.path.join(ckpt_dir, "writer.safetensors")
opath = os.path.join(ckpt_dir, "adam.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(optimizer.state)))
print(f"checkpoint written after it {HALF} -> {ckpt_dir}")

model = HeatWriter()
model.load_weights(wpath)
optimizer = make_optimizer()
optimizer.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), optimizer.state)
print(f"resumed: optimizer step {int(optimizer.state['step'])}, lr {float(optimizer.learning_rate):.5f}, "
      f"eval reward {evaluate(model, eval_ctx):.3f}")

run(model, optimizer, HALF + 1, ITERS)

final = evaluate(model, eval_ctx)
gap_closed = (final - random_base) / (oracle - random_base)
print(f"final greedy reward {final:.3f} | random {random_base:.3f} | always-medium {medium_base:.3f} | "
      f"best {oracle:.3f} | gap closed {gap_closed:.1%} | {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir, ignore_errors=True)
