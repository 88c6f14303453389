"""Handloom warp tension: predict warp tension (cN/end) from setup features.
Early stopping on validation RMSE; the best weights are written to a temp dir
with save_weights and restored with load_weights before the final test."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N = 10000
X = rng.normal(size=(N, 6)).astype(np.float32)
# made-up law: reed density, beam diameter, brake weight, yarn twist, humidity, shed angle
y = (40 + 6 * X[:, 2] + 3 * np.tanh(X[:, 0] * X[:, 3]) - 2.5 * X[:, 1] ** 2
     + 1.5 * np.sin(2 * X[:, 4]) + 0.8 * X[:, 5] + rng.normal(0, 1.2, N)).astype(np.float32)
tr, va, te = slice(0, 7000), slice(7000, 8500), slice(8500, N)
mu, sd = y[tr].mean(), y[tr].std()
Xtr, Xva, Xte = mx.array(X[tr]), mx.array(X[va]), mx.array(X[te])
ytr, yva, yte = mx.array((y[tr] - mu) / sd), y[va], y[te]


class WarpNet(nn.Module):
    def __init__(self, d=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.norm = nn.LayerNorm(h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


def rmse_cn(model, Xs, ys):
    pred = np.array(model(Xs)) * sd + mu
    return float(np.sqrt(np.mean((pred - ys) ** 2)))


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


mx.random.seed(3)
model = WarpNet()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=6e-4, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

ckdir = tempfile.mkdtemp(prefix="warp_")
best_path = os.path.join(ckdir, "best.safetensors")
print(f"data: train=7000; val=1500; test=1500; predict-mean val RMSE={np.std(yva):.3f} cN")
print(f"epoch=0; val_rmse_cn={rmse_cn(model, Xva, yva):.3f}")

B, patience, max_epochs = 64, 3, 40
best, best_ep, bad, step = float("inf"), 0, 0, 0
t0 = time.time()
for ep in range(1, max_epochs + 1):
    perm = rng.permutation(7000)
    tot, nb = 0.0, 0
    for i in range(0, 7000 - B + 1, B):
        idx = mx.array(perm[i:i + B])
        loss, g = vg(model, Xtr[idx], ytr[idx])
        if step == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            print(f"grad_check; leaves={len(leaves)}; zero={zero}")
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item(); nb += 1; step += 1
    v = rmse_cn(model, Xva, yva)
    mark = ""
    if v < best - 0.005:
        best, best_ep, bad = v, ep, 0
        model.save_weights(best_path)
        mark = "; saved=best"
    else:
        bad += 1
    print(f"epoch={ep}; steps={step}; train_mse_std={tot / nb:.4f}; val_rmse_cn={v:.3f}; "
          f"patience_left={patience - bad}; secs={time.time() - t0:.1f}{mark}")
    if bad >= patience:
        print(f"early_stop; epoch={ep}; best_epoch={best_ep}")
        break

last_val = rmse_cn(model, Xva, yva)
model.load_weights(best_path)
restored_val = rmse_cn(model, Xva, yva)
print(f"restored; best_epoch={best_ep}; val_rmse_last={last_val:.3f}; val_rmse_restored={restored_val:.3f}")
print(f"done; test_rmse_cn={rmse_cn(model, Xte, yte):.3f}; noise_sd=1.2; secs={time.time() - t0:.1f}")
