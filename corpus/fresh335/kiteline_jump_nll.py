"""Kitesurfing: jump height (m) from 6 synthetic session readings, fitted as a
heteroscedastic Gaussian (mean and log-variance heads, NLL loss, which goes
negative once the variance is learned). Session 1 is cut at epoch 15 and
written to disk (weights + optimizer state + scheduler/patience counters);
session 2 rebuilds everything from that file and continues. Early stopping
watches validation MAE (lower is better) with best-weights restore, and the lr
is halved on a plateau."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(21)


def sessions(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    wind = mx.random.uniform(12, 32, (n,), key=k1)            # knots
    kite = mx.random.uniform(7, 14, (n,), key=k2)             # m^2
    z = mx.random.normal((n, 4), key=k3)
    rider_kg, chop, line_m, skill = 75 + 10 * z[:, 0], mx.abs(z[:, 1]), 22 + 2 * z[:, 2], z[:, 3]
    pull = wind * wind * kite / 3000.0
    h = 1.2 + 2.6 * pull - 0.025 * (rider_kg - 75) + 0.08 * (line_m - 22) + 0.9 * mx.tanh(skill)
    noise_sd = 0.2 + 0.35 * chop
    y = mx.maximum(h + noise_sd * mx.random.normal((n,), key=mx.random.split(k3)[0]), 0.1)
    x = mx.stack([(wind - 22) / 6, (kite - 10.5) / 2, (rider_kg - 75) / 10, chop, (line_m - 22) / 2, skill], 1)
    return x, y


X, Y = sessions(9000, mx.random.key(4))
Xtr, Ytr, Xva, Yva = X[:7200], Y[:7200], X[7200:], Y[7200:]
print(f"baseline MAE (train mean {Ytr.mean().item():.2f} m): {mx.abs(Yva - Ytr.mean()).mean().item():.4f}")


class JumpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -8, 4)


def nll(model, x, y):
    mu, lv = model(x)
    return (0.5 * (lv + (y - mu) ** 2 / mx.exp(lv))).mean()


def val_metrics(model):
    mu, lv = model(Xva)
    return mx.abs(mu - Yva).mean().item(), nll(model, Xva, Yva).item()


ckpt = os.path.join(tempfile.mkdtemp(), "session.npz")
BS = 256
spe = Xtr.shape[0] // BS


def run(model, opt, st, stop_at_epoch):
    step = nn.value_and_grad(model, nll)
    while st["epoch"] < stop_at_epoch:
        st["epoch"] += 1
        perm = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for i in range(spe):
            idx = perm[i * BS:(i + 1) * BS]
            loss, g = step(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        mae, vnll = val_metrics(model)
        mark = ""
        if mae < st["best_mae"] - 1e-4:
            st["best_mae"], st["best_epoch"], st["wait"], st["plateau"] = mae, st["epoch"], 0, 0
            st["best"] = dict(tree_flatten(model.parameters()))
            mark = " *"
        else:
            st["wait"] += 1
            st["plateau"] += 1
            if st["plateau"] >= 3:
                opt.learning_rate = opt.learning_rate * 0.5
                st["plateau"] = 0
                mark = " lr/2"
        print(f"epoch {st['epoch']:3d} lr {opt.learning_rate.item():.5f} train_nll {tot / spe:+.4f} "
              f"val_nll {vnll:+.4f} val_MAE {mae:.4f}{mark}")
        if st["wait"] >= 8:
            print(f"early stop at epoch {st['epoch']} (best MAE {st['best_mae']:.4f} @ {st['best_epoch']})")
            return True
    return False


# session 1
model = JumpNet()
opt = optim.Adam(learning_rate=3e-3)
mx.eval(model.parameters())
st = {"epoch": 0, "best_mae": float("inf"), "best_epoch": 0, "wait": 0, "plateau": 0, "best": None}
run(model, opt, st, 15)
blob = {"w." + k: v for k, v in tree_flatten(model.parameters())}
blob.update({"b." + k: v for k, v in st["best"].items()})
blob.update({"o." + k: v for k, v in tree_flatten(opt.state)})
blob["meta"] = mx.array([st["epoch"], st["best_mae"], st["best_epoch"], st["wait"], st["plateau"]])
mx.savez(ckpt, **blob)
print(f"session 1 saved at epoch {st['epoch']} -> {os.path.basename(ckpt)}")
del model, opt, st

# session 2: rebuild from disk
data = mx.load(ckpt)
model = JumpNet()
model.update(tree_unflatten([(k[2:], v) for k, v in data.items() if k.startswith("w.")]))
opt = optim.Adam(learning_rate=3e-3)
opt.state = tree_unflatten([(k[2:], v) for k, v in data.items() if k.startswith("o.")])
m = data["meta"].tolist()
st = {"epoch": int(m[0]), "best_mae": m[1], "best_epoch": int(m[2]), "wait": int(m[3]),
      "plateau": int(m[4]), "best": {k[2:]: v for k, v in data.items() if k.startswith("b.")}}
print(f"resumed at epoch {st['epoch']} lr {opt.learning_rate.item():.5f} best MAE {st['best_mae']:.4f}")
run(model, opt, st, 80)

model.load_weights(list(st["best"].items()))
mae, vnll = val_metrics(model)
mu, lv = model(Xva)
cover = (mx.abs(Yva - mu) < 1.96 * mx.exp(0.5 * lv)).mean().item()
print(f"restored epoch {st['best_epoch']}: val MAE {mae:.4f} val_nll {vnll:+.4f} 95% interval coverage {cover:.3f}")
