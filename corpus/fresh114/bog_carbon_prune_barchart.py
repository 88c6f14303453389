# Peat bog carbon accumulation (g C / m2 / yr) from six field readings, with iterative
# magnitude pruning: train dense, then keep only the largest weights of each hidden
# layer (50% -> 75% -> 87.5% removed) and fine-tune again.  The masks are buffers of a
# MaskedLinear layer and are frozen on purpose.  Nothing is printed while training:
# the run ends with a text bar chart of validation RMSE per epoch over all rounds.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)


def make_bog(n):
    wt = rng.uniform(2, 45, n)          # water-table depth, cm
    sph = rng.uniform(0, 1, n)          # sphagnum cover share
    temp = rng.normal(6.5, 2.0, n)      # mean annual temperature, C
    ph = rng.uniform(3.4, 6.2, n)
    age = rng.uniform(1.0, 4.0, n)      # log10 years since initiation
    sedge = rng.uniform(0, 0.6, n)
    rate = (18 + 55 * sph * np.exp(-wt / 25.0) + 3.0 * temp - 4.0 * (ph - 4)
            - 9.0 * sedge * (wt > 20) + 12.0 / age)
    rate = rate * np.exp(rng.normal(0, 0.08, n))
    X = np.stack([wt, sph, temp, ph, age, sedge], 1).astype(np.float32)
    return X, rate.astype(np.float32)


class MaskedLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lin = nn.Linear(din, dout)
        self.weight, self.bias = lin.weight, lin.bias
        self.mask = mx.ones_like(self.weight)
        self.freeze(keys=["mask"])

    def __call__(self, x):
        return x @ (self.weight * self.mask).T + self.bias

    def prune_to(self, keep_frac):
        w = np.abs(np.array(self.weight * self.mask)).ravel()
        k = int(round(keep_frac * w.size))
        thresh = np.sort(w)[-k]
        self.mask = mx.array((np.abs(np.array(self.weight * self.mask)) >= thresh).astype(np.float32))
        self.weight = self.weight * self.mask


class BogNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = MaskedLinear(6, 64)
        self.h2 = MaskedLinear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(nn.silu(self.h2(nn.silu(self.h1(x))))).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


Xtr, ytr = make_bog(8000)
Xva, yva = make_bog(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ym) / ys)

model = BogNet()
vg = nn.value_and_grad(model, mse)

_, g0 = vg(model, Xtr_m[:128], ytr_m[:128])
g_leaves = tree_flatten(g0)
zero = [k for k, v in g_leaves if not bool(mx.any(v != 0))]
trainable_names = [k for k, _ in tree_flatten(model.trainable_parameters())]

rounds = [(1.0, 10), (0.5, 5), (0.25, 5), (0.125, 5)]   # (kept fraction, epochs)
history = []      # (round, epoch, valid rmse)
pred0 = np.array(model(Xva_m)) * ys + ym
history.append((0, 0, float(np.sqrt(np.mean((pred0 - yva) ** 2)))))
bs = 128
t0 = time.perf_counter()
for r, (keep, n_ep) in enumerate(rounds):
    if keep < 1.0:
        model.h1.prune_to(keep)
        model.h2.prune_to(keep)
        mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3 if r == 0 else 1e-3)
    for ep in range(n_ep):
        perm = rng.permutation(len(Xtr))
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
        pred = np.array(model(Xva_m)) * ys + ym
        history.append((r, ep + 1, float(np.sqrt(np.mean((pred - yva) ** 2)))))
elapsed = time.perf_counter() - t0

print("bog carbon model: 6 readings -> accumulation rate, target sd %.1f g C/m2/yr" % ytr.std())
print("trainable arrays %d (%s); zero-gradient arrays at step 1: %d"
      % (len(trainable_names), ", ".join(trainable_names), len(zero)))
print()
print("predict-the-mean RMSE %.2f; validation RMSE, g C/m2/yr (shorter bar = better)"
      % float(np.sqrt(np.mean((ym - yva) ** 2))))
top = max(h[2] for h in history)
for r, ep, rmse in history:
    keep = rounds[r][0]
    label = ("untrained" if ep == 0 else "dense") if keep == 1.0 else "keep %4.1f%%" % (100 * keep)
    print("  %-11s ep %2d  %6.2f  %s" % (label, ep, rmse, "#" * max(1, int(round(60 * rmse / top)))))
print()
for name, layer in (("h1", model.h1), ("h2", model.h2)):
    m = np.array(layer.mask)
    w = np.array(layer.weight)
    print("%s: %d of %d weights kept, max |w| where masked out = %.1e"
          % (name, int(m.sum()), m.size, float(np.abs(w[m == 0]).max()) if (m == 0).any() else 0.0))
print("done in %.1fs" % elapsed)
