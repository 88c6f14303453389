"""Tea auction: grade lots (5 grades) from 10 synthetic taster/lab readings.

Token-choice top-1 mixture of 4 experts with a set per-batch capacity: rows that
overflow their expert's capacity skip the expert and keep only the residual path.
A Switch-style balance term keeps the capacity overflow small. Learning rate
follows cosine cycles with warm restarts (SGDR), so the loss bumps up at each
restart; evaluation is printed only at cycle ends.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
D_IN, N_CLS = 10, 5


def make_lots(n):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    estate = rng.integers(0, 3, size=n)                 # hidden growing region
    x[:, 0] += np.array([-1.5, 0.0, 1.5])[estate]
    score = np.where(estate == 0, 1.2 * x[:, 1] - 0.8 * x[:, 2] + 0.6 * x[:, 3] * x[:, 4],
             np.where(estate == 1, -1.0 * x[:, 1] + 1.1 * x[:, 5] + 0.5 * x[:, 6] ** 2,
                      0.9 * x[:, 2] + 0.9 * x[:, 7] - 0.7 * np.abs(x[:, 8])))
    score += rng.normal(scale=0.35, size=n)
    cuts = np.quantile(score, [0.15, 0.4, 0.7, 0.9])
    y = np.digitize(score, cuts)
    flip = rng.random(n) < 0.04                          # mis-recorded grades
    y[flip] = rng.integers(0, N_CLS, size=flip.sum())
    return x, y.astype(np.int32)


xtr, ytr = make_lots(9000)
xva, yva = make_lots(2000)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
majority = np.bincount(ytr).argmax()
majority_acc = float((yva == majority).mean())
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


class CapacityMoE(nn.Module):
    def __init__(self, d, h, n_exp=4, capacity_factor=1.25):
        super().__init__()
        self.n_exp, self.cf = n_exp, capacity_factor
        self.gate = nn.Linear(d, n_exp)
        self.w_in = [nn.Linear(d, h) for _ in range(n_exp)]
        self.w_out = [nn.Linear(h, d) for _ in range(n_exp)]

    def __call__(self, x):
        B = x.shape[0]
        logits = self.gate(x)
        probs = mx.softmax(logits, axis=-1)
        choice = mx.stop_gradient(mx.argmax(probs, axis=-1))
        onehot = (choice[:, None] == mx.arange(self.n_exp)[None, :]).astype(x.dtype)
        cap = int(np.ceil(self.cf * B / self.n_exp))
        slot = mx.cumsum(onehot, axis=0) * onehot          # 1-based position in its expert
        keep = ((slot > 0) & (slot <= cap)).astype(x.dtype)  # (B, E)
        outs = mx.stack([o(nn.relu(i(x))) for i, o in zip(self.w_in, self.w_out)], axis=1)
        gate_w = (probs * keep)[:, :, None]
        y = (outs * gate_w).sum(1)
        frac = onehot.mean(0)
        balance = self.n_exp * (frac * probs.mean(0)).sum()
        zloss = (mx.logsumexp(logits, axis=-1) ** 2).mean()
        dropped = 1.0 - keep.sum() / B
        return y, balance, zloss, dropped, frac


class GradeNet(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.inp = nn.Linear(D_IN, d)
        self.ln = nn.RMSNorm(d)
        self.moe = CapacityMoE(d, 64)
        self.head = nn.Linear(d, N_CLS)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        y, bal, z, drop, frac = self.moe(self.ln(h))
        return self.head(h + y), bal, z, drop, frac


def loss_fn(model, x, y):
    logits, bal, z, drop, frac = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce + 0.02 * bal + 1e-3 * z, (ce, bal, drop, frac)


model = GradeNet()
opt = optim.Adam(learning_rate=0.0)
vg = nn.value_and_grad(model, loss_fn)

CYCLES, BATCH, PEAK, FLOOR = [150, 300, 450], 128, 4e-3, 1e-4
print(f"majority-grade accuracy on validation: {100 * majority_acc:.1f}%")
step, t0 = 0, time.time()
for c, length in enumerate(CYCLES):
    ce_sum, drop_sum, first_ce = 0.0, 0.0, None
    for s in range(length):
        opt.learning_rate = FLOOR + 0.5 * (PEAK - FLOOR) * (1 + np.cos(np.pi * s / length))
        sel = mx.array(rng.integers(0, xtr.shape[0], size=BATCH))
        (_, (ce, bal, drop, frac)), grads = vg(model, xtr[sel], ytr[sel])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, ce, drop)
        if s < 5:
            first_ce = float(ce) if first_ce is None else first_ce
        ce_sum += float(ce)
        drop_sum += float(drop)
        step += 1
    model.eval()
    logits, _, _, vdrop, vfrac = model(xva)
    acc = float((mx.argmax(logits, -1) == yva).mean())
    vce = float(nn.losses.cross_entropy(logits, yva, reduction="mean"))
    model.train()
    print(f"cycle {c + 1} ({length} steps, step {step}) ce first {first_ce:.3f} mean {ce_sum / length:.3f} "
          f"| val ce {vce:.3f} acc {100 * acc:.1f}% (majority {100 * majority_acc:.1f}%) "
          f"| overflow {100 * drop_sum / length:.1f}% val {100 * float(vdrop):.1f}% "
          f"| shares {' '.join(f'{v:.2f}' for v in np.array(vfrac))} [{time.time() - t0:.1f}s]", flush=True)

print(f"done: val accuracy {100 * acc:.1f}% against majority {100 * majority_acc:.1f}%")
