"""Model-railway club: members rate layout kits 1-5 after building them.

Item-based AutoRec (each kit is one sample: its vector of member ratings),
trained in two stages:
  stage A  denoising (input dropout on observed ratings), lr warmup from 0 then cosine
  stage B  plain reconstruction, small constant lr
Reported beside the global-mean and kit-mean baselines and the noise floor.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_MEMBERS, N_KITS, RANK = 360, 240, 3

# ---- synthetic club ratings ------------------------------------------------
taste = rng.normal(0, 0.75, (N_MEMBERS, RANK))
style = rng.normal(0, 0.75, (N_KITS, RANK))
m_bias = rng.normal(0, 0.35, N_MEMBERS)
k_bias = rng.normal(0, 0.45, N_KITS)
signal = 3.3 + m_bias[:, None] + k_bias[None, :] + taste @ style.T
noisy = signal + rng.normal(0, 0.4, signal.shape)
ratings = np.clip(np.rint(noisy), 1, 5)
oracle = np.clip(signal, 1, 5)

built = rng.random((N_MEMBERS, N_KITS)) < 0.22        # who built (and rated) what
held = built & (rng.random(built.shape) < 0.12)       # ratings kept aside for checking
train_mask = built & ~held

print(f"members {N_MEMBERS}  kits {N_KITS}  train ratings {train_mask.sum()}  "
      f"held ratings {held.sum()}")

R_tr = (ratings * train_mask).T.astype(np.float32)    # kits x members
M_tr = train_mask.T.astype(np.float32)
R_all = ratings.T.astype(np.float32)
M_held = held.T.astype(np.float32)

# baselines on the held ratings
gmean = ratings[train_mask].mean()
kit_sum = (ratings * train_mask).sum(0)
kit_cnt = train_mask.sum(0)
kit_mean = (kit_sum + 5 * gmean) / (kit_cnt + 5)
def rmse(pred):
    d = (pred - ratings)[held]
    return float(np.sqrt((d ** 2).mean()))
print(f"baseline rmse: global mean {rmse(np.full_like(ratings, gmean)):.4f}  "
      f"kit mean {rmse(np.broadcast_to(kit_mean, ratings.shape)):.4f}  "
      f"noise floor {rmse(oracle):.4f}")


class KitAutoRec(nn.Module):
    def __init__(self, n_in, hidden):
        super().__init__()
        self.enc = nn.Linear(n_in, hidden)
        self.dec = nn.Linear(hidden, n_in)

    def __call__(self, r):
        return self.dec(mx.sigmoid(self.enc(r)))


model = KitAutoRec(N_MEMBERS, 32)
mx.eval(model.parameters())

R_tr_mx, M_tr_mx = mx.array(R_tr), mx.array(M_tr)
R_all_mx, M_held_mx = mx.array(R_all), mx.array(M_held)
LAMBDA = 1e-3


def loss_fn(model, r, m, keep):
    inp = r * keep
    out = model(inp)
    err = ((out - r) * m) ** 2
    rec = err.sum() / m.sum()
    l2 = (model.enc.weight ** 2).sum() + (model.dec.weight ** 2).sum()
    return rec + LAMBDA * l2, rec


grad_fn = nn.value_and_grad(model, loss_fn)


def held_rmse():
    out = mx.clip(model(R_tr_mx), 1.0, 5.0)
    se = (((out - R_all_mx) * M_held_mx) ** 2).sum() / M_held_mx.sum()
    return float(mx.sqrt(se))


def train_stage(name, opt, steps, drop, log_every, batch=32):
    for step in range(steps):
        idx = mx.array(rng.choice(N_KITS, batch, replace=False))
        r, m = R_tr_mx[idx], M_tr_mx[idx]
        if drop > 0:
            keep = (mx.random.uniform(shape=r.shape) >= drop).astype(mx.float32) / (1 - drop)
        else:
            keep = mx.ones(r.shape)
        (loss, rec), grads = grad_fn(model, r, m, keep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % log_every == 0 or step == steps - 1:
            lr = float(opt.learning_rate)
            print(f"[{name}] step {step:4d}  lr {lr:.5f}  loss {float(loss):.4f}  "
                  f"train mse {float(rec):.4f}  held rmse {held_rmse():.4f}")


t0 = time.time()
print(f"start held rmse (untrained) {held_rmse():.4f}")

warm = optim.linear_schedule(0.0, 3e-3, 60)
cos = optim.cosine_decay(3e-3, 840, 3e-4)
opt_a = optim.Adam(learning_rate=optim.join_schedules([warm, cos], [60]))
train_stage("A", opt_a, 900, drop=0.25, log_every=75)
after_a = held_rmse()

opt_b = optim.Adam(learning_rate=2e-4)
train_stage("B", opt_b, 400, drop=0.0, log_every=200)
after_b = held_rmse()

print(f"held rmse after stage A {after_a:.4f}  after stage B {after_b:.4f}")
print(f"final: autorec {after_b:.4f} vs kit mean "
      f"{rmse(np.broadcast_to(kit_mean, ratings.shape)):.4f} vs global mean "
      f"{rmse(np.full_like(ratings, gmean)):.4f} (noise floor {rmse(oracle):.4f})")
print(f"done in {time.time() - t0:.1f}s")
