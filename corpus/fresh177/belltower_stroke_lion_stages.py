# Change-ringing practice night: predict each ringer's striking error (ms) for a bell stroke.
# Two stages: stage "rounds" (only handstrokes in plain rounds), then "methods" (backstrokes
# and place changes added, which are harder -> loss jumps up when the stage starts).
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N = 6000
bell = rng.integers(1, 9, N)                 # bell number 1 (treble) .. 8 (tenor)
weight = 3.0 + 2.2 * bell + rng.normal(0, 0.4, N)   # cwt
back = rng.integers(0, 2, N)                 # 0 handstroke, 1 backstroke
place = rng.integers(1, 9, N)                # place in the row
exper = rng.gamma(2.0, 3.0, N)               # years ringing
rope = rng.normal(0, 1, N)                   # rope-length misfit (standardised)
method = rng.integers(0, 2, N)               # 0 rounds, 1 method ringing
moves = method * np.abs(place - bell)        # how far the bell is from its rounds place
err = (28 / np.sqrt(1 + exper) + 0.9 * weight * back + 6.0 * moves * method
       - 4.0 * rope * back + 3.5 * np.sin(place) + rng.normal(0, 4.0, N))
X = np.stack([bell / 8, weight / 20, back, place / 8, np.log1p(exper), rope, method, moves / 7], 1).astype(np.float32)
y = err.astype(np.float32)
ymu, ysd = y.mean(), y.std()
perm = rng.permutation(N); tr, va = perm[:5000], perm[5000:]
Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
easy_tr = np.where((X[tr, 2] == 0) & (X[tr, 6] == 0))[0]

class Ringer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)

model = Ringer()
mx.eval(model.parameters())

def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), (yb - ymu) / ysd, delta=1.0, reduction="mean")

def rmse_ms(m, xb, yb):
    return math.sqrt(float(mx.mean((m(xb) * ysd + ymu - yb) ** 2)))

vg = nn.value_and_grad(model, loss_fn)
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 150), optim.cosine_decay(3e-4, 1200, 2e-5)], [150])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)

base_ms = math.sqrt(float(mx.mean((yva - float(ytr.mean())) ** 2)))
t0 = time.time()
step = 0
for stage, idx, epochs in [("rounds", easy_tr, 6), ("methods", np.arange(len(tr)), 14)]:
    # validation on the stage's own population
    if stage == "rounds":
        vmask = np.where((X[va, 2] == 0) & (X[va, 6] == 0))[0]
    else:
        vmask = np.arange(len(va))
    xv, yv = Xva[mx.array(vmask)], yva[mx.array(vmask)]
    for ep in range(1, epochs + 1):
        order = rng.permutation(idx)
        tot, nb = 0.0, 0
        for s in range(0, len(order), 64):
            b = mx.array(order[s:s + 64])
            loss, g = vg(model, Xtr[b], ytr[b])
            if step == 0:
                gn = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in nn.utils.tree_flatten(g)}
                assert all(v > 0 for v in gn.values()), gn
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss); nb += 1; step += 1
        print(json.dumps({"stage": stage, "epoch": ep, "step": step, "lr": round(float(opt.learning_rate), 7),
                          "huber": round(tot / nb, 4), "val_rmse_ms": round(rmse_ms(model, xv, yv), 2),
                          "mean_guess_ms": round(base_ms, 2)}), flush=True)
full = rmse_ms(model, Xva, yva)
print(f"peal summary: val RMSE {full:.2f} ms vs mean-guess {base_ms:.2f} ms ({100*(1-full/base_ms):.1f}% better), {time.time()-t0:.1f}s")
