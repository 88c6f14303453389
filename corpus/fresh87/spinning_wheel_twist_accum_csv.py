# Hand-spinning: predict yarn twist-per-inch from wheel ratio, treadle rate, draft length,
# fibre staple, ply count. Gradient accumulation (4 micro-batches, averaged), hand-written Adam.
import csv, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N, NV = 9000, 1500
X = rng.uniform(-1, 1, size=(N + NV, 5)).astype(np.float32)
ratio, treadle, draft, staple, ply = X.T
tpi = 8 + 3 * ratio + 2 * treadle * (1 + 0.5 * ratio) - 2.5 * np.tanh(2 * draft) + 1.2 * staple ** 2 + 0.8 * ply
y = (tpi + rng.normal(0, 0.3, size=tpi.shape)).astype(np.float32)
ym, ys = y[:N].mean(), y[:N].std()
Xtr, Xva = mx.array(X[:N]), mx.array(X[N:])
ytr, yva = mx.array((y[:N] - ym) / ys), y[N:]

class TwistNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)

mx.random.seed(3)
net = TwistNet()
mx.eval(net.parameters())

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)
vg = nn.value_and_grad(net, loss_fn)

class HandAdam:
    def __init__(self, params, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = tree_map(mx.zeros_like, params)
        self.v = tree_map(mx.zeros_like, params)
    def step(self, params, grads):
        self.t += 1
        self.m = tree_map(lambda m, g: self.b1 * m + (1 - self.b1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: self.b2 * v + (1 - self.b2) * g * g, self.v, grads)
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        return tree_map(lambda p, m, v: p - self.lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
                        params, self.m, self.v)

opt = HandAdam(net.trainable_parameters())
MICRO, ACC, EPOCHS = 32, 4, 12

def val_rmse():
    pred = np.array(net(Xva)) * ys + ym
    return float(np.sqrt(np.mean((pred - yva) ** 2)))

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["epoch", "updates", "train_mse_std", "val_rmse_tpi", "secs"])
out.writerow([0, 0, "", f"{val_rmse():.4f}", "0.0"])
t0, updates = time.time(), 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(N)
    nblocks = N // (MICRO * ACC)
    run = 0.0
    for b in range(nblocks):
        acc = None
        for k in range(ACC):
            idx = mx.array(perm[(b * ACC + k) * MICRO:(b * ACC + k + 1) * MICRO])
            loss, g = vg(net, Xtr[idx], ytr[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            run += loss.item()
        acc = tree_map(lambda a: a / ACC, acc)
        if updates == 0:
            leaves = tree_flatten(acc)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            print(f"# first update: {len(leaves)} gradient leaves, zero {zero}", flush=True)
        net.update(opt.step(net.trainable_parameters(), acc))
        mx.eval(net.parameters(), opt.m, opt.v)
        updates += 1
    out.writerow([ep, updates, f"{run / (nblocks * ACC):.4f}", f"{val_rmse():.4f}", f"{time.time() - t0:.1f}"])
    sys.stdout.flush()
print(f"# noise floor rmse 0.30 tpi; target sd {ys:.3f}")
