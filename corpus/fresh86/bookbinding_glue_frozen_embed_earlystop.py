# Bookbinding workshop: predict glue set time (minutes) from paper/glue features.
# Glue type goes through an embedding table copied from an earlier model and kept FIXED;
# the MLP on top trains. Early stopping on validation MAE, best weights restored at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_GLUE = 6
glue_vec = rng.normal(size=(N_GLUE, 4)).astype(np.float32)       # "pretrained" glue descriptors

def make(n):
    g = rng.integers(0, N_GLUE, n)
    x = rng.normal(size=(n, 5)).astype(np.float32)            # humidity, temp, grain, weight, press
    base = 12 + 4 * glue_vec[g, 0] - 2 * glue_vec[g, 1] * x[:, 0]
    y = base + 3 * np.tanh(x[:, 1]) - 1.5 * x[:, 2] * x[:, 3] + 0.8 * x[:, 4] ** 2
    y = y + rng.normal(scale=0.6, size=n)
    return g.astype(np.int32), x, y.astype(np.float32)

gtr, xtr, ytr = make(24000)
gva, xva, yva = make(1500)
ymu, ysd = float(ytr.mean()), float(ytr.std())

class GlueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.glue = nn.Embedding(N_GLUE, 4)
        self.l1 = nn.Linear(9, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)
    def __call__(self, g, x):
        h = mx.concatenate([self.glue(g), x], axis=1)
        h = nn.relu(self.l1(h))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)

mx.random.seed(3)
net = GlueNet()
net.glue.weight = mx.array(glue_vec)
net.glue.freeze()
frozen_before = np.array(net.glue.weight)

def loss_fn(m, g, x, y):
    return nn.losses.mse_loss(m(g, x), (y - ymu) / ysd)

step = nn.value_and_grad(net, loss_fn)
opt = optim.Adam(learning_rate=2e-3)
Gva, Xva = mx.array(gva), mx.array(xva)
Gtr, Xtr, Ytr = mx.array(gtr), mx.array(xtr), mx.array(ytr)

def val_mae():
    p = np.array(net(Gva, Xva)) * ysd + ymu
    return float(np.abs(p - yva).mean())

print(f"rows train={len(ytr)} val={len(yva)}  predict-mean MAE={np.abs(yva - ymu).mean():.3f} min")
print(f"untrained val MAE={val_mae():.3f} min")
t0 = time.time()
best, best_ep, best_w, patience, bad = float("inf"), -1, None, 4, 0
for ep in range(1, 41):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - 63, 64):
        idx = mx.array(perm[i:i + 64])
        loss, grads = step(net, Gtr[idx], Xtr[idx], Ytr[idx])
        if ep == 1 and nb == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            print(f"first step: {len(leaves)} trainable gradient leaves, zero={zero}, embedding trainable={'glue.weight' in dict(leaves)}")
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    mae = val_mae()
    mark = ""
    if mae < best - 1e-4:
        best, best_ep, bad = mae, ep, 0
        best_w = [(k, mx.array(v)) for k, v in tree_flatten(net.parameters())]
        mark = " *"
    else:
        bad += 1
    print(f"epoch {ep:2d}  train mse(std) {tot / nb:.4f}  val MAE {mae:.3f} min  {time.time() - t0:.1f}s{mark}")
    if bad >= patience:
        print(f"early stop: no improvement for {patience} epochs")
        break
net.load_weights(best_w)
mx.eval(net.parameters())
drift = float(np.abs(np.array(net.glue.weight) - frozen_before).max())
print(f"restored epoch {best_ep}: val MAE {val_mae():.3f} min (best {best:.3f}); glue table drift {drift:.1e}")
