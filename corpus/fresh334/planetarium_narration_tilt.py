"""Planetarium narration picker.

Stage A: a reward model learns from audience pairwise votes which of 6
narration styles suits a show context (8 synthetic features).
Stage B: the picker policy is pulled toward the KL-regularised optimum
pi_ref(a|x) * exp(r(x,a)/beta) for a falling beta (three sub-stages with
restarting counters), fitted by cross-entropy to that tilted target.
Output is tab-separated rows.
"""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

A, D = 6, 8
rng = np.random.default_rng(11)
mx.random.seed(11)
W_true = rng.normal(0, 1, (D, A)).astype(np.float32)


def true_reward(x):
    return np.tanh(x @ W_true) + 0.3 * np.sin(2 * x[:, :1] * np.arange(1, A + 1)[None])


def contexts(n):
    return rng.normal(0, 1, (n, D)).astype(np.float32)


class RewardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, A, bias=False)

    def __call__(self, x):
        return self.head(self.body(x))


class Picker(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 48), nn.Tanh(), nn.Linear(48, A))

    def __call__(self, x):
        return self.net(x)


def row(*cols):
    print("\t".join(str(c) for c in cols))


t0 = time.time()
row("stage", "step", "loss", "metric", "value", "lr")

# ---- stage A: reward model from votes ----
Xv = contexts(12000)
ai = rng.integers(0, A, 12000)
aj = (ai + rng.integers(1, A, 12000)) % A
R = true_reward(Xv)
p_i = 1 / (1 + np.exp(-(R[np.arange(12000), ai] - R[np.arange(12000), aj]) / 0.3))
vote_i = (rng.random(12000) < p_i).astype(np.float32)
Xh, Rh = contexts(2000), None
Rh = true_reward(Xh)
hi = rng.integers(0, A, 2000)
hj = (hi + rng.integers(1, A, 2000)) % A


def bt_loss(m, x, i, j, y):
    s = m(x)
    gap = mx.take_along_axis(s, i[:, None], 1)[:, 0] - mx.take_along_axis(s, j[:, None], 1)[:, 0]
    return nn.losses.binary_cross_entropy(gap, y, with_logits=True, reduction="mean")


rm = RewardNet()
mx.eval(rm.parameters())
opt = optim.Adam(learning_rate=2e-3)
bt_grad = nn.value_and_grad(rm, bt_loss)
bayes = np.mean(np.maximum(p_i, 1 - p_i))
row("A", 0, "-", "vote_ceiling_pct", f"{100 * bayes:.1f}", "-")
for step in range(1, 601):
    idx = rng.integers(0, 12000, 128)
    loss, g = bt_grad(rm, mx.array(Xv[idx]), mx.array(ai[idx]), mx.array(aj[idx]), mx.array(vote_i[idx]))
    opt.update(rm, g)
    mx.eval(rm.parameters(), opt.state, loss)
    if step % 150 == 0:
        s = np.array(rm(mx.array(Xh)))
        agree = np.mean((s[np.arange(2000), hi] > s[np.arange(2000), hj]) ==
                        (Rh[np.arange(2000), hi] > Rh[np.arange(2000), hj]))
        row("A", step, f"{loss.item():.4f}", "held_order_pct", f"{100 * agree:.1f}", "2.0e-03")
rm.freeze()

# ---- stage B: tilted-target fitting ----
ref = Picker()
mx.eval(ref.parameters())
ref.freeze()
pick = Picker()
pick.update(ref.parameters())  # start at the reference
mx.eval(pick.parameters())
Xe = contexts(3000)
Re = true_reward(Xe)
row("B", 0, "-", "oracle_reward", f"{Re.max(1).mean():.3f}", "-")
row("B", 0, "-", "ref_reward", f"{(np.array(mx.softmax(ref(mx.array(Xe)), -1)) * Re).sum(1).mean():.3f}", "-")


def fit_loss(m, x, target):
    lp = nn.log_softmax(m(x), axis=-1)
    return -(target * lp).sum(-1).mean()


def tilted(x, beta):
    lr_ = nn.log_softmax(ref(x), axis=-1)
    return mx.softmax(lr_ + rm(x) / beta, axis=-1)


ckpt = os.path.join(tempfile.mkdtemp(), "picker.safetensors")
for k, beta in enumerate([2.0, 1.0, 0.5]):
    if k == 2:  # resume the last sub-stage from disk
        pick.save_weights(ckpt)
        before = np.array(pick(mx.array(Xe[:5])))
        pick = Picker()
        pick.load_weights(ckpt)
        mx.eval(pick.parameters())
        drift = np.abs(np.array(pick(mx.array(Xe[:5]))) - before).max()
        row("B", 0, "-", "resume_drift", f"{drift:.1e}", "-")
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 25),
                                  optim.cosine_decay(3e-3, 275, 3e-4)], [25])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    fg = nn.value_and_grad(pick, fit_loss)
    stage = f"B{k + 1}(beta={beta})"
    for step in range(1, 301):
        x = mx.array(contexts(256))
        tgt = mx.stop_gradient(tilted(x, beta))
        loss, g = fg(pick, x, tgt)
        opt.update(pick, g)
        mx.eval(pick.parameters(), opt.state, loss)
        if step % 100 == 0:
            xe = mx.array(Xe)
            p = mx.softmax(pick(xe), -1)
            kl = (p * (mx.log(p + 1e-9) - nn.log_softmax(ref(xe), -1))).sum(-1).mean().item()
            rew = (np.array(p) * Re).sum(1).mean()
            row(stage, step, f"{loss.item():.4f}", "true_reward", f"{rew:.3f}",
                f"{opt.learning_rate.item():.1e}")
            row(stage, step, "-", "kl_to_ref", f"{kl:.3f}", "-")

row("end", "-", "-", "secs", f"{time.time() - t0:.1f}", "-")
