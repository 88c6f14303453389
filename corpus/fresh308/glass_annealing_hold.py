# Glass studio: annealing hold time (minutes) for a finished piece, from six kiln-card readings.
# A ridge fit in numpy gives the linear part; a small residual net is trained on top of it,
# in two sittings with a checkpoint written and read back in between.
import json
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
NAMES = ["wall_mm", "mass_kg", "coe", "colour_layers", "kiln_load", "room_c"]


def simulate(n):
    wall = rng.uniform(2, 30, n)
    mass = rng.lognormal(0.0, 0.6, n)
    coe = rng.normal(96, 2.0, n)
    layers = rng.integers(0, 5, n).astype(np.float64)
    load = rng.uniform(0, 1, n)
    room = rng.normal(21, 4, n)
    hold = (18 + 4.2 * wall + 0.09 * wall ** 2 + 9 * np.log1p(mass) + 1.5 * (coe - 96)
            + 3 * layers + 14 * load * (wall > 15) - 0.4 * (room - 21) + rng.normal(0, 4.0, n))
    return np.stack([wall, mass, coe, layers, load, room], 1), hold


x_tr, y_tr = simulate(6000)
x_va, y_va = simulate(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
z_tr, z_va = (x_tr - mu) / sd, (x_va - mu) / sd
t_tr = (y_tr - y_mu) / y_sd

# closed-form ridge on standardised inputs / target
A = np.concatenate([z_tr, np.ones((len(z_tr), 1))], 1)
lam = 1.0
coef = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ t_tr)
ridge_va = (np.concatenate([z_va, np.ones((len(z_va), 1))], 1) @ coef) * y_sd + y_mu
ridge_rmse = float(np.sqrt(np.mean((ridge_va - y_va) ** 2)))

X_tr, X_va = mx.array(z_tr.astype(np.float32)), mx.array(z_va.astype(np.float32))
T_tr = mx.array(t_tr.astype(np.float32))


class HoldModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 1)
        self.r1 = nn.Linear(6, 48)
        self.r2 = nn.Linear(48, 48)
        self.r3 = nn.Linear(48, 1)
        self.r3.weight = mx.zeros_like(self.r3.weight)   # residual starts at exactly zero
        self.r3.bias = mx.zeros_like(self.r3.bias)

    def __call__(self, x):
        h = mx.tanh(self.r1(x))
        h = mx.tanh(self.r2(h))
        return (self.linear(x) + self.r3(h)).squeeze(-1)


def build():
    m = HoldModel()
    m.linear.weight = mx.array(coef[:6][None, :].astype(np.float32))
    m.linear.bias = mx.array(coef[6:].astype(np.float32))
    m.linear.freeze()
    mx.eval(m.parameters())
    return m


TOTAL_EPOCHS, BATCH = 12, 100
SPE = 6000 // BATCH
schedule = optim.cosine_decay(3e-3, TOTAL_EPOCHS * SPE, 1e-4)


def loss_fn(m, x, t):
    return nn.losses.mse_loss(m(x), t)


def valid_minutes(m):
    pred = np.array(m(X_va)) * y_sd + y_mu
    err = pred - y_va
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err) <= 5) * 100)


def run_epochs(m, opt, first, last, np_rng, log):
    step_fn = nn.value_and_grad(m, loss_fn)
    for ep in range(first, last + 1):
        perm = np_rng.permutation(6000)
        tot = 0.0
        for i in range(SPE):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, g = step_fn(m, X_tr[idx], T_tr[idx])
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state, loss)
            tot += loss.item()
        r, w = valid_minutes(m)
        log(ep, tot / SPE, r, w, opt)


def log(ep, tr, r, w, opt):
    print(f"  epoch {ep:>2} | step {opt.step.item():>4} | lr {opt.learning_rate.item():.2e} | "
          f"train mse(z) {tr:.4f} | valid rmse {r:.2f} min | within 5 min {w:.1f}% | "
          f"vs ridge {r - ridge_rmse:+.2f}")


print("kiln cards: 6000 train / 1500 valid, features " + ", ".join(NAMES))
print(f"predict-mean rmse {y_va.std():.2f} min   ridge rmse {ridge_rmse:.2f} min   noise floor 4.00 min")

ckpt = tempfile.mkdtemp(prefix="anneal_")
t0 = time.perf_counter()
print("sitting 1")
model = build()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
r0, w0 = valid_minutes(model)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_frozen = sum(v.size for _, v in tree_flatten(model.parameters())) - n_train
print(f"  start: valid rmse {r0:.2f} min (equals ridge), trainable {n_train}, frozen {n_frozen}")
np_rng = np.random.default_rng(5)
run_epochs(model, opt, 1, 6, np_rng, log)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": 6, "rng": np_rng.bit_generator.state}, fh)
before = np.array(model(X_va))
del model, opt
print(f"  checkpoint written to {os.path.basename(ckpt)}")

print("sitting 2")
model = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as fh:
    meta = json.load(fh)
np_rng = np.random.default_rng()
np_rng.bit_generator.state = meta["rng"]
diff = float(np.max(np.abs(np.array(model(X_va)) - before)))
print(f"  resumed after epoch {meta['epoch']} at step {opt.step.item()}, max prediction change {diff:.1e}")
run_epochs(model, opt, meta["epoch"] + 1, TOTAL_EPOCHS, np_rng, log)

lin_shift = float(np.max(np.abs(np.array(model.linear.weight)[0] - coef[:6])))
r, w = valid_minutes(model)
print(f"done in {time.perf_counter() - t0:.1f}s: valid rmse {r:.2f} min (ridge {ridge_rmse:.2f}), "
      f"within 5 min {w:.1f}%, ridge weights moved {lin_shift:.1e}")
