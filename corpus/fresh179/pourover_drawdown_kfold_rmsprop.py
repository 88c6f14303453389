"""Predict pour-over drawdown time (seconds) of a coffee brew; 4-fold CV, early stopping."""
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)-5s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("drawdown")

mx.random.seed(2026)
N = 320
# features: fines share (0-1), grind size (0-1, coarse=1), water temp (norm), dose g (norm), thick-paper flag
fines = mx.random.uniform(shape=(N,))
grind = mx.random.uniform(shape=(N,))
temp = mx.random.uniform(-1, 1, (N,))
dose = mx.random.uniform(-1, 1, (N,))
thick = (mx.random.uniform(shape=(N,)) > 0.6).astype(mx.float32)
X = mx.stack([fines, grind, temp, dose, thick], axis=1)
drawdown_s = (60 + 150 * fines + 70 * grind * (1 + thick) - 35 * temp - 25 * dose * fines
           + 18 * mx.sin(3 * grind) + 8 * mx.random.normal((N,)))
Y = ((drawdown_s - 150.0) / 60.0)[:, None]     # train on a scaled target
mx.eval(X, Y)


class DrawdownNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


K = 4
perm = mx.random.permutation(N)
folds = [perm[i::K] for i in range(K)]
summary = []

for k in range(K):
    val_idx = folds[k]
    tr_idx = mx.concatenate([folds[j] for j in range(K) if j != k])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]
    baseline_mae = (mx.abs(yva - ytr.mean()).mean() * 60).item()

    model = DrawdownNet()
    opt = optim.RMSprop(learning_rate=4e-3, alpha=0.95)
    mx.eval(model.parameters())
    lg = nn.value_and_grad(model, mse)
    state = [model.state, opt.state]

    def _raw(x, y):
        loss, g = lg(model, x, y)
        opt.update(model, g)
        return loss
    step = mx.compile(_raw, inputs=state, outputs=state)

    best, best_ep, best_params, patience, wait = float("inf"), -1, None, 25, 0
    for epoch in range(1, 401):
        order = mx.random.permutation(xtr.shape[0])
        for b in range(0, xtr.shape[0], 32):
            ids = order[b:b + 32]
            loss = step(xtr[ids], ytr[ids])
            mx.eval(state, loss)
        val_mae = (mx.abs(model(xva) - yva).mean() * 60).item()
        if val_mae < best - 0.05:
            best, best_ep, wait = val_mae, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if epoch % 40 == 0:
            log.info("fold %d/%d epoch %3d  train_mse=%.4f  val_MAE=%.1f s  (mean-baseline %.1f s)",
                     k + 1, K, epoch, loss.item(), val_mae, baseline_mae)
        if wait >= patience:
            log.warning("fold %d: no val gain for %d epochs, stop at %d, restore epoch %d",
                        k + 1, patience, epoch, best_ep)
            break
    model.update(best_params)
    restored = (mx.abs(model(xva) - yva).mean() * 60).item()
    log.info("fold %d restored check: val_MAE %.2f s vs best %.2f s (diff %.3f)",
             k + 1, restored, best, abs(restored - best))
    summary.append((k + 1, best_ep, baseline_mae, restored))

print("fold | best_ep | baseline_MAE_s | model_MAE_s | gain_%")
for f, ep, base, m in summary:
    print(f"{f:>4} | {ep:>7} | {base:>14.1f} | {m:>11.1f} | {100 * (1 - m / base):>6.1f}")
mean_m = sum(s[3] for s in summary) / K
mean_b = sum(s[2] for s in summary) / K
print(f"mean | {'':>7} | {mean_b:>14.1f} | {mean_m:>11.1f} | {100 * (1 - mean_m / mean_b):>6.1f}")
