"""Sourdough proofing: predict minutes until the dough has doubled.

Three bakeries hand over their logs one after another (flour mill, room
climate and starter habits differ, and so does the law a bit).  One shared
regressor is trained on them in turn with A-GEM: a small episodic memory
keeps 300 rows from every finished bakery; whenever the
gradient of the current batch points against the gradient on a memory
batch, it is projected so that the memory loss does not go up.
Output is CSV on stdout.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

BAKERIES = ["A_harbour", "B_market", "C_hillside"]
STEPS = 700
BATCH = 64
MEM_PER = 300
LR = 0.03
NOISE_MIN = 6.0

rng = np.random.default_rng(5)


def make_bakery(k, n):
    # hydration %, starter %, salt %, flour protein %, room temp C, starter age h
    lo = np.array([62, 10, 1.6, 10.0, 19 + 2 * k, 4], dtype=np.float32)
    hi = np.array([82, 30, 2.4, 14.0, 25 + 2 * k, 14], dtype=np.float32)
    X = lo + (hi - lo) * rng.random((n, 6), dtype=np.float32)
    hyd, sta, salt, prot, temp, age = X.T
    q10 = 2.0 + 0.15 * k
    minutes = (
        300.0 * q10 ** (-(temp - 22.0) / 10.0)
        * (20.0 / sta) ** 0.6
        * (1.0 + 0.35 * (salt - 2.0))
        * (1.0 - 0.004 * (hyd - 72.0))
        * (1.0 + 0.03 * (prot - 12.0) * (1 + k))
        * (1.0 + 0.02 * np.abs(age - 8.0))
    )
    minutes = minutes + rng.normal(scale=NOISE_MIN, size=n)
    return X, minutes.astype(np.float32)


TRAIN = [make_bakery(k, 3000) for k in range(3)]
TEST = [make_bakery(k, 800) for k in range(3)]
# constant scaling from bakery A's first day of logs (not learned)
X_MU, X_SD = TRAIN[0][0][:400].mean(0), TRAIN[0][0][:400].std(0)
Y_MU, Y_SD = TRAIN[0][1][:400].mean(), TRAIN[0][1][:400].std()


def scale_x(X):
    return mx.array((X - X_MU) / X_SD)


def scale_y(y):
    return mx.array((y - Y_MU) / Y_SD)


class RiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_minutes(model, k):
    X, y = TEST[k]
    pred = np.array(model(scale_x(X))) * Y_SD + Y_MU
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def dot(a, b):
    return sum(mx.sum(x * y) for (_, x), (_, y) in zip(tree_flatten(a), tree_flatten(b)))


def main():
    t0 = time.time()
    mx.random.seed(0)
    model = RiseNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=LR)
    vg = nn.value_and_grad(model, loss_fn)

    naive = [float(np.sqrt(np.mean((TEST[k][1] - TRAIN[k][1].mean()) ** 2))) for k in range(3)]
    out = sys.stdout
    out.write("# noise floor %.1f min; naive per-bakery mean predictor rmse: %s\n"
              % (NOISE_MIN, ", ".join("%s=%.1f" % (b, r) for b, r in zip(BAKERIES, naive))))
    out.write("bakery,step,projected_pct,train_mse_std,rmse_A_min,rmse_B_min,rmse_C_min\n")

    mem_X = np.zeros((0, 6), dtype=np.float32)
    mem_y = np.zeros((0,), dtype=np.float32)
    for k, name in enumerate(BAKERIES):
        X, y = TRAIN[k]
        Xs, ys = scale_x(X), scale_y(y)
        have_mem = len(mem_y) > 0
        if have_mem:
            mXs, mys = scale_x(mem_X), scale_y(mem_y)
        n_proj, run_loss, n_run = 0, 0.0, 0
        for step in range(1, STEPS + 1):
            idx = mx.array(rng.integers(0, len(y), size=BATCH))
            loss, g = vg(model, Xs[idx], ys[idx])
            if have_mem:
                midx = mx.array(rng.integers(0, len(mem_y), size=BATCH))
                _, g_ref = vg(model, mXs[midx], mys[midx])
                d = dot(g, g_ref)
                if float(d.item()) < 0.0:
                    coef = d / (dot(g_ref, g_ref) + 1e-12)
                    g = tree_map(lambda a, b: a - coef * b, g, g_ref)
                    n_proj += 1
            if step == 1 and k == 0:
                leaves = tree_flatten(g)
                zero = [p for p, a in leaves if float(mx.abs(a).max().item()) == 0.0]
                out.write("# first step: %d gradient leaves, zero leaves: %s\n"
                          % (len(leaves), zero if zero else "none"))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += float(loss.item())
            n_run += 1
            if step in (1, 350, STEPS):
                cells = []
                for j in range(3):
                    cells.append("%.2f" % rmse_minutes(model, j) if j <= k else "")
                out.write("%s,%d,%.2f,%.4f,%s\n" % (
                    name, step, 100.0 * n_proj / step, run_loss / n_run, ",".join(cells)))
                run_loss, n_run = 0.0, 0
        keep = rng.choice(len(y), size=MEM_PER, replace=False)
        mem_X = np.concatenate([mem_X, X[keep]])
        mem_y = np.concatenate([mem_y, y[keep]])
        out.write("# %s done: episodic memory now %d rows\n" % (name, len(mem_y)))

    out.write("# final rmse (min): %s | naive: %s | %.1fs\n" % (
        ", ".join("%s=%.2f" % (b, rmse_minutes(model, j)) for j, b in enumerate(BAKERIES)),
        ", ".join("%.1f" % r for r in naive), time.time() - t0))


if __name__ == "__main__":
    main()
