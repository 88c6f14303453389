# Velocity prediction for a small keelboat: boat speed (kn) from true wind angle/speed.
# 4-fold cross-validation, SGD+Nesterov with warm restarts, compiled step,
# early stopping that restores the best weights of each fold.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(21)
N = 2400
twa = rs.uniform(35, 180, N)                   # degrees off the wind
tws = rs.uniform(3, 24, N)                     # knots
hull = 7.4
rad = np.radians(twa)
power = np.sin(rad) ** 0.7 * (1.0 - 0.25 * np.cos(rad) ** 2)
bsp = hull * np.tanh(tws * power / 9.0) * (1 - 0.35 * np.exp(-((twa - 40) / 8) ** 2))
bsp = bsp + rs.normal(0, 0.18, N)
feat = np.stack([np.cos(rad), np.sin(rad), tws / 24, (tws / 24) ** 2, np.cos(2 * rad)], 1).astype(np.float32)
target = bsp.astype(np.float32)
folds = np.array_split(rs.permutation(N), 4)


class Polar(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(5, 48), nn.Linear(48, 48), nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(mx.tanh(self.l2(mx.tanh(self.l1(x))))).squeeze(-1)


CYCLE, CYCLES, BATCH = 90, 3, 96
sched = optim.join_schedules([optim.cosine_decay(0.02, CYCLE, 0.0005)] * CYCLES,
                             [CYCLE * (i + 1) for i in range(CYCLES - 1)])

print(f"{'fold':>4} {'step':>5} {'lr':>8} {'train_rmse_kn':>13} {'val_rmse_kn':>11} {'meanspeed_rmse':>14}")
t0 = time.time()
summary = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, Ytr = mx.array(feat[tr_idx]), mx.array(target[tr_idx])
    Xva, Yva = mx.array(feat[va_idx]), mx.array(target[va_idx])
    base = float(np.sqrt(np.mean((target[va_idx] - target[tr_idx].mean()) ** 2)))
    mx.random.seed(100 + k)
    model = Polar()
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(x, y):
        return mx.mean((model(x) - y) ** 2)

    state = [model.state, opt.state]

    def _raw(x, y):
        loss, g = nn.value_and_grad(model, lambda m, a, b: mx.mean((m(a) - b) ** 2))(model, x, y)
        opt.update(model, g)
        return loss

    opt.init(model.trainable_parameters())
    cstep = mx.compile(_raw, inputs=state, outputs=state)

    if k == 0:
        _, g0 = nn.value_and_grad(model, lambda m, a, b: mx.mean((m(a) - b) ** 2))(model, Xtr[:BATCH], Ytr[:BATCH])
        zero = [n for n, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
        print(f"# grad check: {len(tree_flatten(g0))} tensors, zero-gradient: {zero}")

    best, best_params, bad = float("inf"), None, 0
    brng = np.random.RandomState(k)
    for s in range(1, CYCLE * CYCLES + 1):
        idx = mx.array(brng.randint(0, len(tr_idx), BATCH))
        loss = cstep(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        if s % 15 == 0:
            val = math.sqrt(float(loss_fn(Xva, Yva)))
            if val < best - 1e-4:
                best, best_params, bad = val, dict(tree_flatten(model.parameters())), 0
            else:
                bad += 1
            print(f"{k:>4} {s:>5} {float(opt.learning_rate):>8.4f} {math.sqrt(float(loss)):>13.3f} {val:>11.3f} {base:>14.3f}")
            if bad >= 6:
                print(f"# fold {k}: patience out at step {s}")
                break
    model.load_weights(list(best_params.items()))
    mx.eval(model.parameters())
    restored = math.sqrt(float(loss_fn(Xva, Yva)))
    summary.append((k, best, restored, base))
    print(f"# fold {k}: restored best weights, val_rmse {restored:.3f} kn (best seen {best:.3f}, mean-speed baseline {base:.3f})")

print("\nfold | best val rmse (kn) | baseline (kn) | skill %")
for k, b, r, base in summary:
    print(f"{k:>4} | {r:>18.3f} | {base:>13.3f} | {100 * (1 - r / base):>6.1f}")
print(f"cv mean rmse {np.mean([r for _, _, r, _ in summary]):.3f} kn in {time.time() - t0:.1f}s")
