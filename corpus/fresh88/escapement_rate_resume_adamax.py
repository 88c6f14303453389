"""Clockmaker's bench: predict a mechanical watch's daily rate error (s/day)
from escapement measurements. Trains in two sessions: session 1 writes a
checkpoint (weights + optimizer state) to a temp dir, session 2 builds a fresh
model and optimizer, loads that checkpoint and carries on."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N = 7000
amp = rng.uniform(200, 310, N)        # balance amplitude, degrees
beat = rng.choice([18000, 21600, 28800], N).astype(np.float64)
temp = rng.uniform(8, 36, N)          # deg C
pos = rng.integers(0, 6, N).astype(np.float64)   # dial up/down, crown positions
lube = rng.uniform(0, 5, N)           # years since service
X = np.stack([amp, beat / 1000, temp, pos, lube], 1)
y = (0.09 * (amp - 270) - 0.002 * (amp - 270) ** 2 / 10 + 0.35 * (temp - 22)
     + 1.8 * np.sin(pos) + 1.2 * lube ** 1.3 - 4e-4 * (beat - 21600) / 10
     + rng.normal(0, 1.1, N))
mu, sd = X[:6000].mean(0), X[:6000].std(0)
X = ((X - mu) / sd).astype(np.float32)
ym, ys = y[:6000].mean(), y[:6000].std()
Yn = ((y - ym) / ys).astype(np.float32)
Xtr, Ytr, Xte, Yte = mx.array(X[:6000]), mx.array(Yn[:6000]), mx.array(X[6000:]), y[6000:]


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def test_mae(model):
    p = np.array(model(Xte)) * ys + ym
    return float(np.abs(p - Yte).mean())


def run_session(model, opt, epochs, first_epoch, say):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, first_epoch + epochs):
        t0 = time.time()
        perm = mx.array(np.random.default_rng(ep).permutation(6000))
        tot, nb = 0.0, 0
        for s in range(0, 6000, 32):
            idx = perm[s:s + 32]
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        say(f"epoch {ep:2d} -> train_mse(std units) {tot / nb:.4f} -> test_MAE {test_mae(model):.3f} s/day -> {time.time() - t0:.2f}s")


say = print
mx.random.seed(3)
model = RateNet()
opt = optim.Adamax(learning_rate=2e-3)
say(f"setup -> rows 6000/1000 -> predict-mean MAE {np.abs(Yte - ym).mean():.3f} s/day -> untrained MAE {test_mae(model):.3f}")
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:64], Ytr[:64])
flat = tree_flatten(g0)
say(f"grad_check -> leaves {len(flat)} -> zero {[k for k, v in flat if float(mx.abs(v).max()) == 0.0]}")

say("session 1 -> start")
run_session(model, opt, 6, 1, say)
ckdir = tempfile.mkdtemp(prefix="escapement_")
wpath, opath = os.path.join(ckdir, "w.safetensors"), os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
mae_saved = test_mae(model)
say(f"checkpoint -> wrote {os.path.basename(wpath)}, {os.path.basename(opath)} -> MAE at save {mae_saved:.3f}")
del model, opt

# --- session 2: fresh objects, restore, continue
mx.random.seed(999)
model = RateNet()
say(f"session 2 -> fresh model MAE before load {test_mae(model):.3f}")
model.load_weights(wpath)
opt = optim.Adamax(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(opath).items()))
say(f"session 2 -> restored MAE {test_mae(model):.3f} -> optimizer step {int(opt.state['step'])}")
run_session(model, opt, 6, 7, say)
say(f"done -> final test_MAE {test_mae(model):.3f} s/day -> noise floor ~{1.1 * 0.798:.3f}")
