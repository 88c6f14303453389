"""Diffusion policy for a herding dog: drive from the yard to the field gate
around the sheep pen. Demonstrations from a handler who goes round the pen on
the left or the right (coin flip per run), so the expert action distribution is
bimodal near the start. The policy denoises a chunk of 8 future velocity
commands (min-max normalised to [-1, 1]) conditioned on the last two
positions, and is run receding-horizon (4 of the 8 actions, then re-plan).

Training: DDPM with clean-chunk (x0) prediction, squared-cosine schedule, AdamW under a linear
warm-up from exactly 0 joined to cosine decay, EMA weights for evaluation,
checkpoint at the half-way point and resume into fresh objects.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

PEN_C = np.array([0.0, 0.0])
PEN_R = 0.2
GATE = np.array([0.0, 1.0])
START = np.array([0.0, -1.0])
VMAX = 0.12
H = 8          # chunk length
EXEC = 4       # actions executed per plan
T_DIFF = 50
STEPS = 2000
CKPT_AT = 1000
BATCH = 64


def handler_action(pos, side):
    """Expert: waypoint beside the pen on `side`, then the gate."""
    wp = np.stack([side * 0.62, np.zeros_like(side)], -1)
    past = pos[:, 1] > -0.05
    tgt = np.where(past[:, None], GATE[None], wp)
    v = 1.6 * (tgt - pos)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v * np.minimum(1.0, VMAX / np.maximum(n, 1e-9))


def make_demos(n_runs, steps=30):
    side = rng.choice([-1.0, 1.0], size=n_runs)
    pos = START[None] + rng.normal(0, 0.03, (n_runs, 2))
    prev = pos.copy()
    P, A = [], []
    for _ in range(steps):
        a = handler_action(pos, side) + rng.normal(0, 0.008, (n_runs, 2))
        P.append(np.concatenate([pos, prev], 1))
        A.append(a)
        prev = pos
        pos = pos + a
    P = np.stack(P, 1)   # runs, steps, 4
    A = np.stack(A, 1)   # runs, steps, 2
    obs, chunks = [], []
    for t in range(steps):
        idx = np.minimum(np.arange(t, t + H), steps - 1)
        c = A[:, idx]
        c[:, np.arange(t, t + H) >= steps] = 0.0
        obs.append(P[:, t])
        chunks.append(c.reshape(n_runs, -1))
    return np.concatenate(obs).astype(np.float32), np.concatenate(chunks).astype(np.float32), side


obs_np, act_np, demo_side = make_demos(400)
o_lo, o_hi = obs_np.min(0), obs_np.max(0)
a2 = act_np.reshape(-1, 2)
a_lo, a_hi = a2.min(0), a2.max(0)


def norm_obs(o):
    return 2.0 * (o - o_lo) / (o_hi - o_lo) - 1.0


def norm_act(a):
    lo, hi = np.tile(a_lo, H), np.tile(a_hi, H)
    return 2.0 * (a - lo) / (hi - lo) - 1.0


def unnorm_act(a):
    lo, hi = np.tile(a_lo, H), np.tile(a_hi, H)
    return (a + 1.0) * 0.5 * (hi - lo) + lo


X_obs = mx.array(norm_obs(obs_np))
X_act = mx.array(norm_act(act_np))
N = X_obs.shape[0]

# squared-cosine schedule
s = 0.008
steps_ = np.arange(T_DIFF + 1) / T_DIFF
f = np.cos((steps_ + s) / (1 + s) * math.pi / 2) ** 2
ab = f / f[0]
betas = np.clip(1 - ab[1:] / ab[:-1], 0, 0.999)
alphas = 1.0 - betas
abar = np.cumprod(alphas)
abar_prev = np.concatenate([[1.0], abar[:-1]])
ABAR = mx.array(abar.astype(np.float32))


def time_feats(t):
    freqs = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
    ang = t.astype(mx.float32)[:, None] * freqs[None]
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=1)


class ChunkDenoiser(nn.Module):
    def __init__(self, act_dim=2 * H, obs_dim=4, width=128):
        super().__init__()
        self.inp = nn.Linear(act_dim + obs_dim + 16, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, act_dim)

    def __call__(self, x, obs, t):
        h = nn.silu(self.inp(mx.concatenate([x, obs, time_feats(t)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def diffusion_loss(model, a0, obs, t, eps):
    ab_t = ABAR[t][:, None]
    xt = mx.sqrt(ab_t) * a0 + mx.sqrt(1.0 - ab_t) * eps
    return mx.mean((model(xt, obs, t) - a0) ** 2)


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, 100), optim.cosine_decay(1e-3, STEPS - 100, 1e-5)],
        [100],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def ema_update(ema, model, decay):
    new = tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, model.parameters())
    return new


def run_steps(model, opt, ema, start, stop, log_at):
    lg = nn.value_and_grad(model, diffusion_loss)
    for step in range(start, stop + 1):
        idx = mx.array(rng.integers(0, N, BATCH))
        t = mx.array(rng.integers(0, T_DIFF, BATCH))
        eps = mx.random.normal((BATCH, 2 * H))
        loss, g = lg(model, X_act[idx], X_obs[idx], t, eps)
        opt.update(model, g)
        decay = min(0.995, (1 + step) / (10 + step))
        ema = ema_update(ema, model, decay)
        mx.eval(model.parameters(), opt.state, ema, loss)
        if step in log_at:
            lr = opt.learning_rate.item()
            print(f"step {step:5d}  lr {lr:.2e}  x0-mse {loss.item():.4f}")
    return ema


def sample_chunks(model, obs_n, n):
    x = mx.random.normal((n, 2 * H))
    for t in range(T_DIFF - 1, -1, -1):
        tt = mx.full((n,), t, dtype=mx.int32)
        x0 = mx.clip(model(x, obs_n, tt), -1.0, 1.0)
        c1 = float(math.sqrt(abar_prev[t]) * betas[t] / (1 - abar[t]))
        c2 = float(math.sqrt(alphas[t]) * (1 - abar_prev[t]) / (1 - abar[t]))
        mean = c1 * x0 + c2 * x
        if t > 0:
            var = float(betas[t] * (1 - abar_prev[t]) / (1 - abar[t]))
            x = mean + math.sqrt(var) * mx.random.normal(x.shape)
        else:
            x = mean
    return np.array(x)


def rollout(policy_fn, n=200, max_steps=32):
    pos = START[None] + rng.normal(0, 0.03, (n, 2))
    prev = pos.copy()
    hit = np.zeros(n, bool)
    done = np.zeros(n, bool)
    steps_taken = np.full(n, max_steps)
    t = 0
    while t < max_steps:
        obs = np.concatenate([pos, prev], 1).astype(np.float32)
        chunk = policy_fn(obs).reshape(n, H, 2)
        for k in range(EXEC):
            a = np.where(done[:, None], 0.0, chunk[:, k])
            prev = pos
            pos = pos + a
            hit |= np.linalg.norm(pos - PEN_C, axis=1) < PEN_R
            reached = (np.linalg.norm(pos - GATE, axis=1) < 0.1) & ~done
            steps_taken[reached] = t + 1
            done |= reached
            t += 1
    ok = done & ~hit
    return ok.mean(), hit.mean(), np.mean(np.sign(pos[:, 0]) < 0), steps_taken[ok].mean() if ok.any() else float("nan")


class MeanPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2 * H))

    def __call__(self, obs):
        return self.net(obs)


def main():
    t0 = time.time()
    print(f"demos: {N} (obs, chunk) pairs from {len(demo_side)} runs, left {np.mean(demo_side < 0):.2f}")
    print(f"action range per dim: lo {a_lo.round(3).tolist()} hi {a_hi.round(3).tolist()}")

    model = ChunkDenoiser()
    mx.eval(model.parameters())
    opt = make_opt()
    ema = tree_map(lambda p: p, model.parameters())
    log_at = {1, 50, 100, 200, 400, CKPT_AT}
    ema = run_steps(model, opt, ema, 1, CKPT_AT, log_at)

    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "ema.safetensors"), dict(tree_flatten(ema)))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {CKPT_AT}")
    del model, opt, ema

    model = ChunkDenoiser()
    model.load_weights(os.path.join(ckdir, "model.safetensors"))
    opt = make_opt()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    ema = tree_unflatten(list(mx.load(os.path.join(ckdir, "ema.safetensors")).items()))
    print(f"resumed: optimizer step {opt.state['step'].item()}  lr {opt.learning_rate.item():.2e}")
    ema = run_steps(model, opt, ema, CKPT_AT + 1, STEPS, {CKPT_AT + 1, 1500, STEPS})

    # reference: a plain regression policy on the same chunks
    base = MeanPolicy()
    bopt = optim.Adam(learning_rate=1e-3)
    blg = nn.value_and_grad(base, lambda m, o, a: mx.mean((m(o) - a) ** 2))
    for _ in range(600):
        idx = mx.array(rng.integers(0, N, BATCH))
        l, g = blg(base, X_obs[idx], X_act[idx])
        bopt.update(base, g)
        mx.eval(base.parameters(), bopt.state)
    print(f"regression reference mse {l.item():.4f}")

    ema_model = ChunkDenoiser()
    ema_model.update(ema)

    def dp_policy(o):
        return unnorm_act(sample_chunks(ema_model, mx.array(norm_obs(o)), o.shape[0]))

    def mean_policy(o):
        return unnorm_act(np.array(base(mx.array(norm_obs(o)))))

    def handler_policy(o):
        side = np.where(o[:, 0] < 0, -1.0, 1.0)
        out, pos = [], o[:, :2].copy()
        for _ in range(H):
            a = handler_action(pos, side)
            out.append(a)
            pos = pos + a
        return np.stack(out, 1).reshape(o.shape[0], -1)

    print("policy        gate%   pen-hit%  went-left%  steps-to-gate")
    for name, fn in [("diffusion", dp_policy), ("regression", mean_policy), ("handler", handler_policy)]:
        ok, hit, left, st = rollout(fn)
        print(f"{name:12s}  {100*ok:5.1f}   {100*hit:6.1f}    {100*left:6.1f}     {st:5.1f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
