"""Smokehouse damper control learned from logged shifts with a small
return-conditioned sequence model (decision-transformer style).

Each logged shift is 24 ten-minute slots. State: chamber heat level 0..9.
Action: damper closed / half / open. Reward +1 in the smoking band (4-5),
-1 when the chamber is scorching (>=8) or cold (<=1), else 0.
Training is split in two sessions: the first writes a checkpoint, the second
rebuilds everything from disk and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SLOTS = 24
LEVELS = 10
ACTS = 3
CTX = 6
DIM = 32
SEED = 7

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def env_step(heat, act, rng):
    sun = (rng.random(heat.shape) < 0.6).astype(np.int64)
    gust = (rng.random(heat.shape) < 0.15).astype(np.int64)
    nxt = np.clip(heat + sun + gust - act, 0, LEVELS - 1)
    rew = np.where((nxt >= 4) & (nxt <= 5), 1.0, 0.0)
    rew = np.where((nxt >= 8) | (nxt <= 1), -1.0, rew)
    return nxt, rew


def keeper_action(heat):
    # the head smoker's rule of thumb
    return np.where(heat >= 5, 2, np.where(heat >= 4, 1, 0))


def log_shifts(n, rng):
    heat = rng.integers(2, 7, size=n)
    careless = rng.random(n)  # fraction of slots where the apprentice guesses
    S = np.zeros((n, SLOTS), np.int64)
    A = np.zeros((n, SLOTS), np.int64)
    R = np.zeros((n, SLOTS), np.float32)
    for t in range(SLOTS):
        S[:, t] = heat
        guess = rng.random(n) < careless
        act = np.where(guess, rng.integers(0, ACTS, size=n), keeper_action(heat))
        heat, rew = env_step(heat, act, rng)
        A[:, t] = act
        R[:, t] = rew
    rtg = np.flip(np.cumsum(np.flip(R, 1), 1), 1).copy()
    return S, A, R, rtg


S_all, A_all, R_all, G_all = log_shifts(3000, rng)
ret_all = R_all.sum(1)
RTG_SCALE = 12.0


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class DamperDT(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb_ret = nn.Linear(1, DIM)
        self.emb_state = nn.Embedding(LEVELS, DIM)
        self.emb_act = nn.Embedding(ACTS, DIM)
        self.emb_time = nn.Embedding(SLOTS, DIM)
        self.ln = nn.LayerNorm(DIM)
        self.blocks = [Block(DIM, 2) for _ in range(2)]
        self.head = nn.Linear(DIM, ACTS)

    def __call__(self, rtg, states, acts, times):
        B, K = states.shape
        te = self.emb_time(times)
        r = self.emb_ret(rtg[..., None] / RTG_SCALE) + te
        s = self.emb_state(states) + te
        a = self.emb_act(acts) + te
        x = mx.stack([r, s, a], axis=2).reshape(B, 3 * K, DIM)
        x = self.ln(x)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(3 * K)
        for blk in self.blocks:
            x = blk(x, mask)
        x = x.reshape(B, K, 3, DIM)[:, :, 1]  # read out at the state tokens
        return self.head(x)


def sample_batch(bs, rng):
    ep = rng.integers(0, len(S_all), size=bs)
    st = rng.integers(0, SLOTS - CTX + 1, size=bs)
    idx = st[:, None] + np.arange(CTX)[None]
    rows = ep[:, None]
    return (mx.array(G_all[rows, idx]), mx.array(S_all[rows, idx]),
            mx.array(A_all[rows, idx]), mx.array(idx))


def loss_fn(model, g, s, a, t):
    logits = model(g, s, a, t)
    return nn.losses.cross_entropy(logits, a, reduction="mean")


def rollout(model, target, n, rng):
    heat = rng.integers(2, 7, size=n)
    g_hist = np.zeros((n, SLOTS), np.float32)
    s_hist = np.zeros((n, SLOTS), np.int64)
    a_hist = np.zeros((n, SLOTS), np.int64)
    togo = np.full(n, float(target), np.float32)
    total = np.zeros(n)
    for t in range(SLOTS):
        g_hist[:, t] = togo
        s_hist[:, t] = heat
        lo = max(0, t - CTX + 1)
        sl = slice(lo, t + 1)
        times = np.broadcast_to(np.arange(lo, t + 1), (n, t + 1 - lo))
        logits = model(mx.array(g_hist[:, sl]), mx.array(s_hist[:, sl]),
                       mx.array(a_hist[:, sl]), mx.array(times))
        act = np.array(mx.argmax(logits[:, -1], axis=-1))
        a_hist[:, t] = act
        heat, rew = env_step(heat, act, rng)
        togo = togo - rew
        total += rew
    return total.mean()


def policy_return(fn, n, rng):
    heat = rng.integers(2, 7, size=n)
    total = np.zeros(n)
    for _ in range(SLOTS):
        heat, rew = env_step(heat, fn(heat), rng)
        total += rew
    return total.mean()


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, 350, 1e-4)], [50])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4), sched


def train_session(model, opt, sched, first, last, rng, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    run_loss, run_n = 0.0, 0
    for it in range(first, last):
        g, s, a, t = sample_batch(32, rng)
        lr_now = float(sched(mx.array(it)))
        loss, grads = step_fn(model, g, s, a, t)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run_loss += loss.item()
        run_n += 1
        if it == first or (it + 1) % 50 == 0:
            print(f"[{tag}] step {it + 1:4d}  lr {lr_now:.2e}  ce {run_loss / run_n:.4f}")
            run_loss, run_n = 0.0, 0


t0 = time.time()
eval_rng = np.random.default_rng(123)
print(f"logged shifts: {len(S_all)}  slots: {SLOTS}  context: {CTX}")
print(f"logged return: mean {ret_all.mean():.2f}  min {ret_all.min():.0f}  max {ret_all.max():.0f}")
print(f"reference: random damper {policy_return(lambda h: eval_rng.integers(0, ACTS, size=h.shape), 400, eval_rng):.2f}"
      f"  head smoker {policy_return(keeper_action, 400, eval_rng):.2f}")
print(f"chance cross-entropy ln(3) = {np.log(3):.4f}")

TOTAL, SPLIT = 400, 200
ckpt_dir = tempfile.mkdtemp()

model = DamperDT()
mx.eval(model.parameters())
opt, sched = make_optimizer()
train_session(model, opt, sched, 0, SPLIT, rng, "session 1")
model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after step {SPLIT}; session 1 closed")
del model, opt

model = DamperDT()
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt, sched = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optim.safetensors")).items()))
print(f"session 2 resumes at optimizer step {opt.state['step'].item()}")
train_session(model, opt, sched, SPLIT, TOTAL, rng, "session 2")

model.eval()
print("return conditioning check (120 simulated shifts each):")
for target in (-6, 8, 18):
    print(f"  target {target:4d}  achieved {rollout(model, target, 120, eval_rng):6.2f}")
print(f"done in {time.time() - t0:.1f}s")
