"""Mountain-hut warden: pick which of 8 weather-briefing templates to read out,
given 6 morning readings. Stage 1 imitates noisy warden logs (SFT), stage 2
aligns the policy with guests' pairwise preferences (DPO) against a frozen
copy of the SFT model."""
import copy
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_FEAT, N_TPL = 6, 8
W_true = rng.normal(0, 1.0, (N_TPL, N_FEAT)).astype(np.float32)


def utility(x):
    return x @ W_true.T + 0.6 * np.sin(2.0 * x[:, :1])


def make_contexts(n):
    return rng.normal(0, 1, (n, N_FEAT)).astype(np.float32)


# stage-1 data: warden logs sampled from a blurry version of the guests' taste
X_sft = make_contexts(3000)
u = utility(X_sft) / 2.5
p = np.exp(u - u.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
y_sft = np.array([rng.choice(N_TPL, p=pi) for pi in p], dtype=np.int32)

# stage-2 data: pairwise guest votes (Bradley-Terry on the true utility)
X_pref = make_contexts(4000)
a = rng.integers(0, N_TPL, len(X_pref))
b = (a + rng.integers(1, N_TPL, len(X_pref))) % N_TPL
ua = utility(X_pref)[np.arange(len(a)), a]
ub = utility(X_pref)[np.arange(len(b)), b]
a_wins = rng.random(len(a)) < 1 / (1 + np.exp(-(ua - ub)))
chosen = np.where(a_wins, a, b).astype(np.int32)
rejected = np.where(a_wins, b, a).astype(np.int32)

X_test = make_contexts(2000)
best_test = utility(X_test).argmax(1)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, N_TPL)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def bar(tag, i, n, extra, width=20):
    frac = i / n
    full = int(frac * width)
    return f"{tag}: {int(frac * 100):3d}%|{'#' * full}{' ' * (width - full)}| {i}/{n} [{extra}]"


def hit_rate(model):
    pred = np.array(model(mx.array(X_test)).argmax(axis=1))
    return float((pred == best_test).mean())


policy = Policy()
mx.eval(policy.parameters())

# ---------------- stage 1: SFT ----------------
sft_opt = optim.Adam(learning_rate=2e-3)


def sft_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


sft_step = nn.value_and_grad(policy, sft_loss)
steps, bs = 300, 128
t0 = time.time()
for it in range(1, steps + 1):
    idx = rng.integers(0, len(X_sft), bs)
    loss, g = sft_step(policy, mx.array(X_sft[idx]), mx.array(y_sft[idx]))
    sft_opt.update(policy, g)
    mx.eval(policy.parameters(), sft_opt.state, loss)
    if it % 60 == 0:
        print(bar("sft", it, steps, f"xent={loss.item():.3f}, {it / (time.time() - t0):.0f}it/s"), flush=True)

ref = copy.deepcopy(policy)
ref.freeze()
ref_hit = hit_rate(ref)
print(f"sft done: top-1 agreement with guests' favourite {ref_hit * 100:.1f}% (uniform guess {100 / N_TPL:.1f}%)")

# ---------------- stage 2: DPO ----------------
beta = 0.5
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 40), optim.cosine_decay(1e-3, 360, 1e-5)], [40])
dpo_opt = optim.Lion(learning_rate=sched, weight_decay=0.0)


def logps(model, x, c, r):
    lp = nn.log_softmax(model(x), axis=-1)
    return mx.take_along_axis(lp, c[:, None], 1)[:, 0], mx.take_along_axis(lp, r[:, None], 1)[:, 0]


def dpo_loss(model, x, c, r, ref_c, ref_r):
    pc, pr = logps(model, x, c, r)
    margin = beta * ((pc - ref_c) - (pr - ref_r))
    loss = -nn.log_sigmoid(margin).mean()
    return loss, (margin.mean(), (margin > 0).mean())


dpo_step = nn.value_and_grad(policy, dpo_loss)
steps, bs = 400, 128
for it in range(1, steps + 1):
    idx = rng.integers(0, len(X_pref), bs)
    x, c, r = mx.array(X_pref[idx]), mx.array(chosen[idx]), mx.array(rejected[idx])
    rc, rr = logps(ref, x, c, r)
    (loss, (marg, acc)), g = dpo_step(policy, x, c, r, mx.stop_gradient(rc), mx.stop_gradient(rr))
    if it == 1:
        zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        gn = math.sqrt(sum(float((v * v).sum()) for _, v in tree_flatten(g)))
        print(f"grad audit: {len(tree_flatten(g))} tensors, all-zero: {zero or 'none'}, |g|={gn:.4f}, lr@1={float(sched(0)):.1e}")
    dpo_opt.update(policy, g)
    mx.eval(policy.parameters(), dpo_opt.state, loss, marg, acc)
    if it % 40 == 0:
        lp = nn.log_softmax(policy(mx.array(X_test[:500])), -1)
        lq = nn.log_softmax(ref(mx.array(X_test[:500])), -1)
        kl = (mx.exp(lp) * (lp - lq)).sum(-1).mean().item()
        print(bar("dpo", it, steps, f"loss={loss.item():.3f}, margin={marg.item():+.3f}, pref_acc={acc.item() * 100:.0f}%, kl_ref={kl:.3f}nats"), flush=True)

final = hit_rate(policy)
print(f"guests' favourite hit-rate: policy {final * 100:.1f}% | reference {ref_hit * 100:.1f}% | delta {100 * (final - ref_hit):+.1f} pts")
