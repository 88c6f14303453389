import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Off-grid mountain hut: forecast the battery state of charge (SoC, %) for the
# next 12 hours from the last 24 hours of SoC, solar irradiance and guest load.
rng = np.random.default_rng(11)
IN_LEN, OUT_LEN = 24, 12


def simulate(hours):
    t = np.arange(hours)
    cloud = np.clip(np.cumsum(rng.normal(0, 0.15, hours)) % 2.0 - 0.5, 0, 1)
    sun = np.clip(np.sin(2 * np.pi * (t % 24 - 6) / 24), 0, None) * (1 - 0.7 * cloud)
    guests = 0.3 + 0.5 * ((t // 24) % 7 >= 5) + 0.4 * ((t % 24 >= 18) & (t % 24 <= 22))
    soc = np.zeros(hours)
    soc[0] = 60.0
    for i in range(1, hours):
        soc[i] = np.clip(soc[i - 1] + 6.0 * sun[i] - 2.2 * guests[i] + rng.normal(0, 0.4), 5, 100)
    return np.stack([soc / 100.0, sun, guests], -1).astype(np.float32)


def make_windows(series):
    X, Y = [], []
    for s in range(0, len(series) - IN_LEN - OUT_LEN, 3):
        X.append(series[s:s + IN_LEN])
        Y.append(series[s + IN_LEN:s + IN_LEN + OUT_LEN])   # future SoC + known sun/guest schedule
    return np.array(X), np.array(Y)


class Seq2Seq(nn.Module):
    def __init__(self, hid=48):
        super().__init__()
        self.enc = nn.GRU(3, hid)
        self.dec = nn.GRU(3, hid)
        self.out = nn.Linear(hid, 1)

    def decode_teacher(self, x, y):
        h = self.enc(x)[:, -1]
        # decoder input at step k: SoC at k-1 (true value) + sun/guests at k
        prev = mx.concatenate([x[:, -1:, :1], y[:, :-1, :1]], axis=1)
        dec_in = mx.concatenate([prev, y[:, :, 1:]], axis=-1)
        return self.out(self.dec(dec_in, h))[..., 0]

    def decode_free(self, x, y):
        h = self.enc(x)[:, -1]
        last = x[:, -1, :1]
        preds = []
        for k in range(OUT_LEN):
            inp = mx.concatenate([last, y[:, k, 1:]], axis=-1)[:, None, :]
            h = self.dec(inp, h)[:, -1]
            last = self.out(h)
            preds.append(last)
        return mx.concatenate(preds, axis=1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model.decode_teacher(x, y), y[..., 0])


def free_mae(model, X, Y):
    p = np.array(model.decode_free(mx.array(X), mx.array(Y)))
    return float(np.abs(p - Y[..., 0]).mean() * 100)


def save_ckpt(path, model, opt, epoch):
    mx.save_safetensors(os.path.join(path, "model.safetensors"), dict(tree_flatten(model.parameters())))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), state, metadata={"epoch": str(epoch)})


def load_ckpt(path, model, opt):
    model.load_weights(os.path.join(path, "model.safetensors"))
    state, meta = mx.load(os.path.join(path, "opt.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    return int(meta["epoch"])


def train(model, opt, X, Y, Xv, Yv, first, last):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last):
        perm = rng.permutation(len(X))
        tot = 0.0
        for i in range(0, len(X), 64):
            idx = mx.array(perm[i:i + 64])
            loss, g = step(model, mx.array(X)[idx], mx.array(Y)[idx])
            g, _ = optim.clip_grad_norm(g, 1.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * idx.size
        if (ep + 1) % 4 == 0:
            print(f"epoch {ep + 1:2d}  teacher-forced mse {tot / len(X):.5f}  "
                  f"free-run val MAE {free_mae(model, Xv, Yv):.2f} %SoC")


t0 = time.time()
series = simulate(24 * 90)
X, Y = make_windows(series[:24 * 75])
Xv, Yv = make_windows(series[24 * 75:])
persist = float(np.abs(Xv[:, -1:, 0] - Yv[..., 0]).mean() * 100)
print(f"train windows {len(X)}  val windows {len(Xv)}  persistence val MAE {persist:.2f} %SoC")

mx.random.seed(3)
model = Seq2Seq()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 16 * ((len(X) + 63) // 64), 1e-4))
mx.eval(model.parameters())
train(model, opt, X, Y, Xv, Yv, 0, 8)

ckdir = tempfile.mkdtemp()
save_ckpt(ckdir, model, opt, 8)
ref = loss_fn(model, mx.array(Xv), mx.array(Yv)).item()
print(f"checkpoint written after epoch 8 (step {int(opt.state['step'])}), val teacher mse {ref:.5f}")

# new process-like start: fresh objects, restore everything, carry on
model = Seq2Seq()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 16 * ((len(X) + 63) // 64), 1e-4))
opt.init(model.trainable_parameters())
start = load_ckpt(ckdir, model, opt)
back = loss_fn(model, mx.array(Xv), mx.array(Yv)).item()
print(f"resumed at epoch {start}, step {int(opt.state['step'])}, lr {float(opt.learning_rate):.2e}, "
      f"val teacher mse {back:.5f} (diff {abs(back - ref):.1e})")
train(model, opt, X, Y, Xv, Yv, start, 16)
print(f"done: free-run val MAE {free_mae(model, Xv, Yv):.2f} %SoC vs persistence {persist:.2f}, "
      f"{time.time() - t0:.1f}s")
