"""Harvest sugar (deg Brix) of vineyard blocks from weather and canopy readings.
MLP with concrete dropout (the drop rate of each layer is learned), minibatches of
8 rows, MC-dropout predictive intervals. Reports are YAML documents."""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(21)
mx.random.seed(21)


def make_blocks(n):
    gdd = rng.uniform(1200, 2000, n)          # growing degree days
    rain = rng.gamma(3.0, 40.0, n)           # mm in the last 6 weeks
    crop = rng.uniform(2.0, 9.0, n)          # tonnes per acre
    leaf = rng.uniform(0.6, 1.6, n)          # leaf area / fruit ratio (m2/kg)
    age = rng.uniform(3, 40, n)              # vine age, years
    slope = rng.uniform(-1, 1, n)            # aspect, south=+1
    brix = (14.0 + 0.006 * (gdd - 1200) - 0.012 * rain - 0.45 * crop
            + 3.0 * np.tanh(2 * (leaf - 0.9)) + 0.8 * slope + 0.02 * np.minimum(age, 25))
    brix = brix + rng.normal(0, 0.6 + 0.02 * rain / 10, n)   # wetter blocks are noisier
    X = np.stack([gdd, rain, crop, leaf, age, slope], 1).astype(np.float32)
    return X, brix.astype(np.float32)


Xtr, ytr = make_blocks(1600)
Xva, yva = make_blocks(400)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr_n, Xva_n = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_n = mx.array((ytr - ym) / ys)
N = Xtr.shape[0]


class ConcreteDropout(nn.Module):
    def __init__(self, p_init=0.5, temp=0.1):
        super().__init__()
        self.p_logit = mx.array([math.log(p_init) - math.log(1 - p_init)])
        self.temp = temp

    def p(self):
        return mx.sigmoid(self.p_logit)

    def __call__(self, x):
        p = self.p()
        eps = 1e-7
        u = mx.random.uniform(shape=x.shape)
        z = (mx.log(p + eps) - mx.log(1 - p + eps) + mx.log(u + eps) - mx.log(1 - u + eps)) / self.temp
        drop = mx.sigmoid(z)
        return x * (1 - drop) / (1 - p)


class BrixNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = [nn.Linear(6, 64), nn.Linear(64, 64), nn.Linear(64, 1)]
        self.cd = [ConcreteDropout(0.5), ConcreteDropout(0.5), ConcreteDropout(0.5)]

    def __call__(self, x):
        for i in range(3):
            x = self.lin[i](self.cd[i](x))
            if i < 2:
                x = nn.relu(x)
        return x[:, 0]

    def reg(self):
        wr, dr = 1e-6, 2.0 / N
        total = 0.0
        for lin, cd in zip(self.lin, self.cd):
            p = cd.p()[0]
            total = total + wr * mx.sum(lin.weight ** 2) / (1 - p)
            ent = p * mx.log(p) + (1 - p) * mx.log(1 - p)
            total = total + dr * lin.weight.shape[1] * ent
        return total


model = BrixNet()
opt = optim.Adam(learning_rate=1e-3)


def loss_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2) + m.reg()


vg = nn.value_and_grad(model, loss_fn)


def mc_predict(X, T=40):
    preds = mx.stack([model(X) for _ in range(T)])
    mx.eval(preds)
    return np.array(preds) * ys + ym


def report(step, losses, t0):
    pr = mc_predict(Xva_n)
    m = pr.mean(0)
    lo, hi = np.percentile(pr, 5, 0), np.percentile(pr, 95, 0)
    rmse = float(np.sqrt(np.mean((m - yva) ** 2)))
    cover = float(np.mean((yva >= lo) & (yva <= hi)) * 100)
    width = float(np.mean(hi - lo))
    ps = [round(cd.p().item(), 3) for cd in model.cd]
    print("---")
    print(f"step: {step}")
    if losses:
        print(f"batch_objective: {{last: {losses[-1]:.3f}, min: {min(losses):.3f}, max: {max(losses):.3f}, mean: {np.mean(losses):.3f}}}")
    print(f"drop_rates: {ps}")
    print(f"valid_rmse_brix: {rmse:.3f}")
    print(f"interval90_cover_pct: {cover:.1f}")
    print(f"interval90_width_brix: {width:.2f}")
    print(f"elapsed_s: {time.time() - t0:.1f}")


base_rmse = float(np.sqrt(np.mean((yva - ym) ** 2)))
print("---")
print("task: harvest brix per vineyard block")
print(f"rows: {{train: {N}, valid: {len(yva)}}}")
print("batch_rows: 8")
print(f"predict_train_mean_rmse_brix: {base_rmse:.3f}")

# gradient coverage on the first batch
xb, yb = Xtr_n[:8], ytr_n[:8]
_, g = vg(model, xb, yb)
leaves = tree_flatten(g)
nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
print(f"grad_leaves_nonzero: {nz}/{len(leaves)}")

t0 = time.time()
report(0, [], t0)
steps, losses = 0, []
EPOCHS, B = 6, 8
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(N))
    for i in range(0, N, B):
        idx = perm[i:i + B]
        loss, g = vg(model, Xtr_n[idx], ytr_n[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        steps += 1
    report(steps, losses[-200:], t0)
    losses = []
print("---")
print("status: finished")
