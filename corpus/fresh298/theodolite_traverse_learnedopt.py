# Survey office: closing a theodolite traverse is a small least-squares
# adjustment (10 station corrections from 24 redundant observations).
# Instead of hand-tuning the adjustment solver, we meta-learn the update
# rule itself ("learning to learn by gradient descent"): a tiny
# coordinate-wise MLP that reads each coordinate's gradient and momentum
# and proposes its step.  It is trained by unrolling it on random
# traverses and back-propagating the mean adjustment residual through
# the unroll (first-order: the gradient inputs are stop_gradient'ed).

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_OBS, N_PAR = 24, 10
BATCH = 16
META_STEPS = 700
STAGES = [(0, 5), (250, 20)]          # (from meta-step, unroll length)
EVAL_HORIZONS = (20, 60)
STEP_SCALE = 0.1


def make_traverses(rng, n):
    a = rng.normal(size=(n, N_OBS, N_PAR)).astype(np.float32) / math.sqrt(N_OBS)
    a *= rng.uniform(0.5, 2.0, size=(n, 1, N_PAR)).astype(np.float32)
    truth = rng.normal(size=(n, N_PAR)).astype(np.float32)
    obs = np.einsum("nop,np->no", a, truth) + 0.05 * rng.normal(size=(n, N_OBS)).astype(np.float32)
    return mx.array(a), mx.array(obs)


def residual(a, obs, theta):
    r = (a @ theta[..., None]).squeeze(-1) - obs
    return mx.mean(mx.square(r), axis=-1)


def residual_grad(a, obs, theta):
    r = (a @ theta[..., None]).squeeze(-1) - obs
    return (2.0 / N_OBS) * (mx.swapaxes(a, -1, -2) @ r[..., None]).squeeze(-1)


class StepRule(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.inp = nn.Linear(2, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, g, m):
        x = mx.stack([g, m], axis=-1)
        x = mx.tanh(self.inp(x))
        x = mx.tanh(self.mid(x))
        return self.out(x).squeeze(-1)


def run_rule(rule, a, obs, steps):
    theta = mx.zeros((a.shape[0], N_PAR))
    mom = mx.zeros_like(theta)
    total = 0.0
    for _ in range(steps):
        g = mx.stop_gradient(residual_grad(a, obs, theta))
        mom = 0.9 * mom + 0.1 * g
        theta = theta + STEP_SCALE * rule(g, mom)
        total = total + mx.mean(residual(a, obs, theta))
    return total / steps, theta


def meta_loss(rule, a, obs, steps):
    avg, _ = run_rule(rule, a, obs, steps)
    return mx.log10(avg)


def sgd_baseline(a, obs, steps, lr):
    theta = mx.zeros((a.shape[0], N_PAR))
    for _ in range(steps):
        theta = theta - lr * residual_grad(a, obs, theta)
    return residual(a, obs, theta)


def adam_baseline(a, obs, steps, lr=0.1):
    theta = mx.zeros((a.shape[0], N_PAR))
    m = mx.zeros_like(theta)
    v = mx.zeros_like(theta)
    for t in range(1, steps + 1):
        g = residual_grad(a, obs, theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mh = m / (1 - 0.9 ** t)
        vh = v / (1 - 0.999 ** t)
        theta = theta - lr * mh / (mx.sqrt(vh) + 1e-8)
    return residual(a, obs, theta)


def unroll_for(step):
    length = STAGES[0][1]
    for start, n in STAGES:
        if step >= start:
            length = n
    return length


def yaml_doc(kind, **fields):
    print("---")
    print(f"kind: {kind}")
    for k, v in fields.items():
        if isinstance(v, float):
            print(f"{k}: {v:.4f}")
        else:
            print(f"{k}: {v}")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    held_a, held_obs = make_traverses(np.random.default_rng(1234), 128)
    start_res = float(mx.mean(residual(held_a, held_obs, mx.zeros((128, N_PAR)))))

    base = {}
    for h in EVAL_HORIZONS:
        best = min(
            (float(mx.mean(sgd_baseline(held_a, held_obs, h, lr))), lr)
            for lr in (0.05, 0.1, 0.2, 0.4)
        )
        base[h] = (best[0], best[1], float(mx.mean(adam_baseline(held_a, held_obs, h))))

    rule = StepRule()
    mx.eval(rule.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(rule, meta_loss)

    a, obs = make_traverses(rng, BATCH)
    _, g0 = loss_and_grad(rule, a, obs, 5)
    flat = [v for _, v in tree_flatten(g0)]
    zero_leaves = sum(int(float(mx.max(mx.abs(v))) == 0.0) for v in flat)
    yaml_doc("setup", unknowns=N_PAR, observations=N_OBS, tasks_per_batch=BATCH,
             meta_steps=META_STEPS, gradient_leaves=len(flat), zero_leaves=zero_leaves,
             start_residual=start_res)
    for h in EVAL_HORIZONS:
        yaml_doc("baseline", horizon=h, sgd_best_lr=base[h][1], sgd_residual=base[h][0],
                 adam_residual=base[h][2])

    t0 = time.time()
    window = []
    for step in range(1, META_STEPS + 1):
        steps = unroll_for(step - 1)
        if step - 1 in [s for s, _ in STAGES]:
            yaml_doc("stage", meta_step=step, unroll=steps)
            window = []
        a, obs = make_traverses(rng, BATCH)
        loss, grads = loss_and_grad(rule, a, obs, steps)
        opt.update(rule, grads)
        mx.eval(rule.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 50 == 0:
            res = {}
            for h in EVAL_HORIZONS:
                _, th = run_rule(rule, held_a, held_obs, h)
                res[h] = float(mx.mean(residual(held_a, held_obs, th)))
            yaml_doc("meta", meta_step=step, unroll=steps,
                     log10_unroll_residual=float(np.mean(window)),
                     heldout_residual_20=res[20], heldout_residual_60=res[60],
                     secs=time.time() - t0)
            window = []

    final = {}
    for h in EVAL_HORIZONS:
        _, th = run_rule(rule, held_a, held_obs, h)
        final[h] = float(mx.mean(residual(held_a, held_obs, th)))
    yaml_doc("done", heldout_residual_20=final[20], sgd_residual_20=base[20][0],
             adam_residual_20=base[20][2], heldout_residual_60=final[60],
             sgd_residual_60=base[60][0], adam_residual_60=base[60][2],
             secs=time.time() - t0)
    print("...")


if __name__ == "__main__":
    main()
