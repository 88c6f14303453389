"""Change-ringing tower log: striking error (ms) of a ringer's handstroke
regressed from 6 standardised readings (bell weight, rope length, ringer
experience, tempo, rope-sight angle, draught). Rows from the "odd-struck"
back bells follow a sharp extra term, so a minority of rows is much harder.

Minibatches are drawn with probability proportional to each row's last known
loss (mixed 50/50 with uniform), and every row in the batch is weighted by
1/(N p_i) so the gradient stays an unbiased estimate of the uniform MSE.
A uniform-sampling twin is trained on the same budget for comparison.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_TEST, D = 4000, 1000, 6


def make_rows(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    base = 0.8 * x[:, 0] - 0.5 * x[:, 1] * x[:, 2] + 0.6 * np.tanh(x[:, 3]) + 0.3 * x[:, 4] ** 2
    back_bell = x[:, 5] > 1.2  # about 11% of rows
    extra = np.where(back_bell, 2.0 * np.sin(2.0 * x[:, 0]) * x[:, 4], 0.0)
    y = base + extra + 0.1 * rng.normal(size=n)
    return x, y.astype(np.float32), back_bell


xtr, ytr, hard_tr = make_rows(N_TRAIN)
xte, yte, hard_te = make_rows(N_TEST)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xte, Yte = mx.array(xte), mx.array(yte)
print(f"train rows {N_TRAIN}  back-bell share {hard_tr.mean():.3f}  test rows {N_TEST}")

# reference rows: mean predictor and least squares on the raw readings
mean_mse = float(np.mean((yte - ytr.mean()) ** 2))
A = np.c_[xtr, np.ones(N_TRAIN)]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin_mse = float(np.mean((np.c_[xte, np.ones(N_TEST)] @ coef - yte) ** 2))
print(f"reference  mean-predictor test MSE {mean_mse:.4f}   least-squares test MSE {lin_mse:.4f}")


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def per_row(model, x, y):
    return (model(x) - y) ** 2


def weighted_loss(model, x, y, w):
    return mx.mean(w * per_row(model, x, y))


def mse(model, x, y):
    return float(mx.mean(per_row(model, x, y)))


STEPS, BATCH, MIX = 1800, 64, 0.5


def train(sampling):
    mx.random.seed(11)
    model = StrikeNet()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(3e-3, STEPS, end=1e-4)
    opt = optim.Adam(learning_rate=sched)
    lg = nn.value_and_grad(model, weighted_loss)
    score = np.ones(N_TRAIN, dtype=np.float64)
    srng = np.random.default_rng(123)
    print(f"--- {sampling} sampling ---")
    for step in range(1, STEPS + 1):
        if sampling == "loss-proportional":
            p = MIX * score / score.sum() + (1 - MIX) / N_TRAIN
            idx = srng.choice(N_TRAIN, size=BATCH, replace=True, p=p)
            w = 1.0 / (N_TRAIN * p[idx])
        else:
            idx = srng.integers(0, N_TRAIN, size=BATCH)
            w = np.ones(BATCH)
        bi = mx.array(idx)
        xb, yb, wb = Xtr[bi], Ytr[bi], mx.array(w.astype(np.float32))
        loss, grads = lg(model, xb, yb, wb)
        opt.update(model, grads)
        rows = per_row(model, xb, yb)
        mx.eval(model.parameters(), opt.state, loss, rows)
        score[idx] = np.array(rows) + 1e-3
        if step % 150 == 0:
            # refresh every row's score with a full pass
            score = np.array(per_row(model, Xtr, Ytr), dtype=np.float64) + 1e-3
        if step <= 8 or step % 100 == 0:
            raw = float(mx.mean(rows))
            print(f"step {step:5d}  batch loss (weighted) {loss.item():8.4f}  raw batch MSE {raw:8.4f}  "
                  f"back-bell rows in batch {hard_tr[idx].mean():.2f}")
        if step % 450 == 0:
            print(f"   eval step {step}: full-train MSE {mse(model, Xtr, Ytr):.4f}  test MSE {mse(model, Xte, Yte):.4f}")
    te = np.array(per_row(model, Xte, Yte))
    return float(te.mean()), float(te[hard_te].mean()), float(te[~hard_te].mean())


res = {s: train(s) for s in ["loss-proportional", "uniform"]}
print("\nsummary (test MSE)           all      back-bell   other")
for s, (a, h, o) in res.items():
    print(f"  {s:22s}  {a:8.4f}  {h:9.4f}  {o:8.4f}")
print(f"  {'mean predictor':22s}  {mean_mse:8.4f}")
print(f"  {'least squares':22s}  {lin_mse:8.4f}")
