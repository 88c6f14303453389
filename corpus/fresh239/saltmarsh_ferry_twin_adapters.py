"""Saltmarsh ferry crossings: crossing time (minutes) from tide and weather readings.

A base network is fitted on the open-estuary route, then frozen.  Two separate
low-rank adapters are fitted on top of it, one per seasonal route (the marsh
cut and the dredged channel).  Each adapter has its own warm-up schedule; the
channel adapter is checkpointed half way, rebuilt from disk and resumed.
"""
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
D = 8
NOISE = 0.05

W1 = rng.normal(size=(D, 16)) / np.sqrt(D)
W2 = rng.normal(size=(16,)) / 4.0


def route_law(x, shift):
    h = np.tanh(x @ W1)
    return h @ W2 + x @ shift


def make(n, shift):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = route_law(x, shift) + NOISE * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


open_shift = np.zeros(D)
marsh_shift = 0.6 * rng.normal(size=D)
chan_shift = 0.6 * rng.normal(size=D)
data = {
    "open": (make(6000, open_shift), make(1500, open_shift)),
    "marsh": (make(1500, marsh_shift), make(1500, marsh_shift)),
    "channel": (make(1500, chan_shift), make(1500, chan_shift)),
}


class Adapter(nn.Module):
    def __init__(self, din, dout, rank):
        super().__init__()
        bound = 1.0 / np.sqrt(din)
        self.a = mx.random.uniform(-bound, bound, (din, rank))
        self.b = mx.zeros((rank, dout))


class TwinLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=4.0, p=0.1):
        super().__init__()
        dout, din = base.weight.shape
        self.base = base
        self.marsh = Adapter(din, dout, rank)
        self.channel = Adapter(din, dout, rank)
        self.drop = nn.Dropout(p)
        self.scale = float(alpha / np.sqrt(rank))
        self.route = None

    def __call__(self, x):
        y = self.base(x)
        if self.route is None:
            return y
        ad = self.marsh if self.route == "marsh" else self.channel
        return y + self.scale * ((self.drop(x) @ ad.a) @ ad.b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, xy):
    model.eval()
    v = mse(model, *xy).item()
    model.train()
    return v


def set_route(model, route):
    for m in (model.l1, model.l2, model.out):
        m.route = route


def fit(model, opt, xy, steps, first_step, tag, t0, report_every):
    x, y = xy
    lg = nn.value_and_grad(model, mse)
    n = x.shape[0]
    for s in range(first_step, first_step + steps):
        idx = mx.array(rng.integers(0, n, 64))
        loss, g = lg(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s % report_every == 0 or s == 1:
            yield s, loss.item()


def row(stage, step, lr, train, val, base_val, t0):
    print(f"{stage},{step},{lr:.6f},{train:.5f},{val:.5f},{base_val:.5f},{time.time() - t0:.1f}")


t0 = time.time()
model = Net()
mx.eval(model.parameters())
print("stage,step,lr,train_mse,val_mse,frozen_base_val_mse,secs")

# stage 1: base on the open-estuary route
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 1500, 1e-4), weight_decay=1e-4)
(tr, va) = data["open"]
for s, l in fit(model, opt, tr, 1500, 1, "open", t0, 250):
    v = evaluate(model, va)
    row("open", s, opt.learning_rate.item(), l, v, v, t0)

# wrap, freeze base
model.l1 = TwinLoRALinear(model.l1)
model.l2 = TwinLoRALinear(model.l2)
model.out = TwinLoRALinear(model.out)
model.freeze()
base_snapshot = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if ".base." in k}


def base_val(task):
    set_route(model, None)
    v = evaluate(model, data[task][1])
    return v


def adapter_opt():
    warm = optim.linear_schedule(0.0, 4e-3, 100)
    decay = optim.cosine_decay(4e-3, 800, 2e-4)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [100]))


# stage 2: marsh adapter
for m in (model.l1, model.l2, model.out):
    m.marsh.unfreeze()
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"# marsh adapter: trainable={n_tr}")
bv = base_val("marsh")
set_route(model, "marsh")
opt = adapter_opt()
for s, l in fit(model, opt, data["marsh"][0], 900, 1, "marsh", t0, 150):
    v = evaluate(model, data["marsh"][1])
    row("marsh", s, opt.learning_rate.item(), l, v, bv, t0)
for m in (model.l1, model.l2, model.out):
    m.marsh.freeze()
marsh_snapshot = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if ".marsh." in k}

# stage 3: channel adapter, checkpointed at step 450 and resumed
for m in (model.l1, model.l2, model.out):
    m.channel.unfreeze()
bv = base_val("channel")
set_route(model, "channel")
opt = adapter_opt()
ckdir = tempfile.mkdtemp(prefix="ferry_")
for s, l in fit(model, opt, data["channel"][0], 450, 1, "channel", t0, 150):
    v = evaluate(model, data["channel"][1])
    row("channel", s, opt.learning_rate.item(), l, v, bv, t0)
mx.save_safetensors(os.path.join(ckdir, "channel.safetensors"),
                    dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"# checkpoint written at channel step 450 ({len(os.listdir(ckdir))} files)")

# rebuild: new adapter values are overwritten by the checkpoint, fresh optimizer gets its state
for m in (model.l1, model.l2, model.out):
    m.channel.a = mx.zeros_like(m.channel.a)
    m.channel.b = mx.zeros_like(m.channel.b)
model.load_weights(os.path.join(ckdir, "channel.safetensors"), strict=False)
opt = adapter_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"# resumed at optimizer step {opt.step.item()}")
for s, l in fit(model, opt, data["channel"][0], 450, 451, "channel", t0, 150):
    v = evaluate(model, data["channel"][1])
    row("channel", s, opt.learning_rate.item(), l, v, bv, t0)

# audit
now = dict(tree_flatten(model.parameters()))
base_drift = max(mx.abs(now[k] - v).max().item() for k, v in base_snapshot.items())
marsh_drift = max(mx.abs(now[k] - v).max().item() for k, v in marsh_snapshot.items())
summary = {}
for task in ("marsh", "channel"):
    set_route(model, task)
    summary[task] = evaluate(model, data[task][1])
set_route(model, None)
summary["open"] = evaluate(model, data["open"][1])
print(f"# final val mse: open(base)={summary['open']:.5f} marsh={summary['marsh']:.5f} "
      f"channel={summary['channel']:.5f} noise_floor={NOISE**2:.5f}")
print(f"# frozen base drift={base_drift:.2e}  marsh adapter drift during channel stage={marsh_drift:.2e}")
print(f"# done in {time.time() - t0:.1f}s")
