"""Lacquerware workshop: hours until a urushi coat is touch-dry, from 7 readings
(humidity, temperature, coat thickness, sap batch age, pigment load, cabinet
airflow, layer index).  A residual LayerNorm MLP is fitted on the old drying
cabinet; a new cabinet (different humidity response) then gets small bottleneck
adapters inserted into each block part way through the run while the fitted
blocks stay as they are.  In the last phase the LayerNorm gains are released too.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
FEAT = ["humidity", "temp", "thick", "sap_age", "pigment", "airflow", "layer"]


def cabinet(n, new):
    X = rng.standard_normal((n, 7)).astype(np.float32)
    h, t, th, age, pig, air, lay = X.T
    hum_term = (0.9 * np.tanh(1.5 * h) if not new else -0.5 * h + 0.6 * h ** 2 - 0.3)
    hours = (6.0 + 1.4 * th - 0.9 * t + hum_term * 1.8 + 0.5 * age * pig
             - 0.6 * np.tanh(air) + 0.3 * lay + (0.8 * t * h if new else 0.0))
    hours = hours + 0.35 * rng.standard_normal(n)
    return X, hours.astype(np.float32)[:, None]


class Adapter(nn.Module):
    def __init__(self, dim, r):
        super().__init__()
        self.down = nn.Linear(dim, r)
        self.up = nn.Linear(r, dim)
        self.up.weight = mx.zeros_like(self.up.weight)
        self.up.bias = mx.zeros_like(self.up.bias)

    def __call__(self, h):
        return h + self.up(nn.gelu(self.down(h)))


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.adapter = None

    def __call__(self, h):
        z = self.fc2(nn.silu(self.fc1(self.norm(h))))
        if self.adapter is not None:
            z = self.adapter(z)
        return h + z


class CureNet(nn.Module):
    def __init__(self, dim=48, depth=3):
        super().__init__()
        self.inp = nn.Linear(7, dim)
        self.blocks = [Block(dim) for _ in range(depth)]
        self.out = nn.Linear(dim, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def rmse_h(model, X, y, ysd):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2)).item()) * ysd


def n_trainable(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def train(model, opt, X, y, steps, bs, report, tag, Xv, yv, ysd, every):
    lg = nn.value_and_grad(model, mse)
    win = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, X.shape[0], bs))
        loss, g = lg(model, X[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if report and step % every == 0:
            lr = opt.learning_rate.item()
            print(f"  {tag:<9}{step:>5}  lr {lr:.2e}  train mse {np.mean(win):.4f}  "
                  f"valid rmse {rmse_h(model, Xv, yv, ysd):.3f} h")
            win = []


def main():
    t0 = time.perf_counter()
    Xo, yo = cabinet(10000, new=False)
    Xn, yn = cabinet(500, new=True)
    Xnv, ynv = cabinet(2000, new=True)
    ymu, ysd = float(yo.mean()), float(yo.std())
    Xo, Xn, Xnv = map(mx.array, (Xo, Xn, Xnv))
    yo, yn, ynv = [mx.array((a - ymu) / ysd) for a in (yo, yn, ynv)]
    base = float(np.sqrt(np.mean((np.array(ynv) - np.array(yn).mean()) ** 2))) * ysd
    print(f"old cabinet {Xo.shape[0]} coats, new cabinet {Xn.shape[0]} labelled + {Xnv.shape[0]} valid; "
          f"noise floor 0.350 h, predict-mean rmse on new cabinet {base:.3f} h")

    model = CureNet()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(2e-3, 800, 1e-5)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    print("phase old-cab: fitting (reports only at the end)")
    train(model, opt, Xo, yo, 800, 128, False, "old-cab", Xnv, ynv, ysd, 0)
    print(f"  old-cab   done  valid rmse on old {rmse_h(model, Xo[:2000], yo[:2000], ysd):.3f} h, "
          f"on new cabinet {rmse_h(model, Xnv, ynv, ysd):.3f} h, trainable {n_trainable(model)}")

    frozen = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    before = np.array(model(Xnv))
    for b in model.blocks:
        b.adapter = Adapter(48, 6)
    mx.eval(model.parameters())
    after = np.array(model(Xnv))
    model.freeze()
    for b in model.blocks:
        b.adapter.unfreeze()
    model.out.unfreeze()
    print(f"adapters inserted: output change {float(np.max(np.abs(after - before))):.1e}, "
          f"trainable {n_trainable(model)} of {sum(v.size for _, v in tree_flatten(model.parameters()))}")

    warm = optim.linear_schedule(0.0, 3e-3, 50)
    sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 350, 1e-4)], [50])
    opt = optim.Adam(learning_rate=sched)
    train(model, opt, Xn, yn, 400, 32, True, "adapter", Xnv, ynv, ysd, 100)

    for b in model.blocks:
        b.norm.unfreeze()
    warm = optim.linear_schedule(0.0, 1e-3, 30)
    sched = optim.join_schedules([warm, optim.cosine_decay(1e-3, 170, 5e-5)], [30])
    opt = optim.Adam(learning_rate=sched)
    print(f"layer norms released: trainable {n_trainable(model)}")
    train(model, opt, Xn, yn, 200, 32, True, "adapt+ln", Xnv, ynv, ysd, 100)

    now = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    held = [k for k in frozen if ".norm." not in k and not k.startswith("out.")]
    d = max(float(np.max(np.abs(now[k] - frozen[k]))) for k in held)
    print(f"fc/inp weights max change since insertion {d:.1e}")
    print(f"done in {time.perf_counter()-t0:.1f}s: new-cabinet valid rmse {rmse_h(model, Xnv, ynv, ysd):.3f} h "
          f"(predict-mean {base:.3f} h, noise floor 0.350 h)")


if __name__ == "__main__":
    main()
