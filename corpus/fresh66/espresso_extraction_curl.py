"""Espresso extraction-yield regressor with early stopping; log written like `curl -v`."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
N = 6000


def brew(n):
    grind = rng.uniform(150, 450, n)      # microns
    dose = rng.uniform(16, 21, n)         # grams
    temp = rng.uniform(88, 96, n)         # deg C
    bar = rng.uniform(6, 11, n)           # pressure
    secs = rng.uniform(18, 40, n)         # shot time
    ratio = rng.uniform(1.5, 3.0, n)      # beverage / dose
    ey = (14.0 + 6.5 * np.tanh((330 - grind) / 120) + 0.35 * (temp - 92)
          + 2.2 * np.log(ratio / 1.5) + 0.08 * (secs - 28) - 0.15 * (dose - 18.5)
          - 0.12 * (bar - 9.0) ** 2 + 0.004 * (330 - grind) * (ratio - 2.2))
    ey = ey + rng.normal(0, 0.35, n)
    X = np.stack([grind, dose, temp, bar, secs, ratio], 1).astype(np.float32)
    return X, ey.astype(np.float32)


X, y = brew(N)
ntr = 4800
mu, sd = X[:ntr].mean(0), X[:ntr].std(0)
ymu, ysd = y[:ntr].mean(), y[:ntr].std()
Xs = (X - mu) / sd
ys = (y - ymu) / ysd
Xtr, ytr = mx.array(Xs[:ntr]), mx.array(ys[:ntr])
Xva, yva = mx.array(Xs[ntr:]), mx.array(ys[ntr:])


class Barista(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.norm = nn.RMSNorm(48)
        self.hid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.mish(self.inp(x))
        h = h + nn.mish(self.hid(self.norm(h)))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = Barista()
opt = optim.Adagrad(learning_rate=0.03)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


grad_fn = nn.value_and_grad(model, loss_fn)

print("*   Trying 127.0.0.1:8093...")
print(f"* Connected to espresso-lab (127.0.0.1) port 8093 (#0)")
print(f"> POST /fit HTTP/1.1")
print(f"> X-Shots: train={ntr} valid={N - ntr}")
base = float(np.sqrt(np.mean((y[ntr:] - y[:ntr].mean()) ** 2)))
print(f"> X-Baseline-RMSE: {base:.3f} %EY (predict the mean)")

_, g0 = grad_fn(model, Xtr[:128], ytr[:128])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"> X-Gradcheck: leaves={len(leaves)} zero={zero}")
print(">")

best, best_params, bad, patience = float("inf"), None, 0, 4
t0 = time.time()
B = 64
for epoch in range(1, 61):
    perm = mx.array(rng.permutation(ntr))
    tot, nb = 0.0, 0
    for i in range(0, ntr - B + 1, B):
        idx = perm[i:i + B]
        loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    pred = model(Xva)
    rmse = float(mx.sqrt(mx.mean((pred - yva) ** 2)).item()) * ysd
    mae = float(mx.mean(mx.abs(pred - yva)).item()) * ysd
    status = "200 OK" if rmse < best else "304 Not Modified"
    print(f"< HTTP/1.1 {status}  epoch={epoch:02d} train_mse(std)={tot / nb:.4f} "
          f"valid_rmse={rmse:.3f}%EY valid_mae={mae:.3f}%EY t={time.time() - t0:.1f}s")
    if rmse < best:
        best, bad = rmse, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
        if bad >= patience:
            print(f"< X-Early-Stop: no improvement for {patience} epochs")
            break

model.update(best_params)
pred = np.array(model(Xva)) * ysd + ymu
rmse = float(np.sqrt(np.mean((pred - y[ntr:]) ** 2)))
print("<")
print(f"< X-Restored-Best-RMSE: {rmse:.3f} %EY (noise floor 0.35)")
print(f"* Connection #0 to host espresso-lab left intact")
