# Inland-waterway ship lift: classify the state of the caisson drive
# (healthy / slack counterweight rope / binding guide roller / pinion wear)
# from 4-channel strain-gauge traces recorded during a lift.
# Stage A trains on short 20-sample traces, writes a checkpoint, and the run
# is then resumed from that checkpoint (fresh objects, restored weights and
# optimizer state) for stage B on full 40-sample traces.
# Gradients of 4 micro-batches are summed, averaged, then clipped by their
# global norm; the pre-clip norm is what gets logged.
import os
import time
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(5)
CLASSES = ["healthy", "slack_rope", "binding_roller", "pinion_wear"]


def traces(n, length):
    y = rng.integers(0, 4, n)
    t = np.linspace(0, 1, length)[None, :]
    ramp = np.clip(t * 4, 0, 1) * np.clip((1 - t) * 4, 0, 1)        # accelerate-cruise-stop
    base = 1.0 + 0.1 * rng.normal(size=(n, 1))
    x = np.zeros((n, length, 4), np.float32)
    x[:, :, 0] = base * ramp
    x[:, :, 1] = base * ramp * 0.9
    x[:, :, 2] = 0.2 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6, (n, 1)))
    x[:, :, 3] = 0.05 * t
    slack = y == 1
    x[slack, :, 1] *= 0.75                                                 # one rope carries less
    bind = y == 2
    pos = rng.uniform(0.3, 0.7, bind.sum())[:, None]
    x[bind, :, 2] += 0.5 * np.exp(-((t - pos) ** 2) / 0.002)               # short jolt mid-lift
    wear = y == 3
    x[wear, :, 3] += 0.08 * np.sin(2 * np.pi * 18 * t) * ramp[0]          # tooth-mesh ripple
    x += 0.12 * rng.normal(size=x.shape)
    return mx.array(x.astype(np.float32)), mx.array(y)


class DriveClassifier(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.inp = nn.Linear(4, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.head = nn.Linear(2 * hidden, 4)

    def __call__(self, x):
        h = self.gru(nn.relu(self.inp(x)))
        pooled = mx.concatenate([h[:, -1], h.max(axis=1)], axis=-1)
        return self.head(pooled)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def accuracy(m, x, y):
    return float((mx.argmax(m(x), -1) == y).mean())


ACCUM, MICRO, CLIP = 4, 16, 1.0


def run_stage(name, model, opt, steps, length, x_val, y_val, log_every):
    lg = nn.value_and_grad(model, loss_fn)
    hist, norms, clipped = [], [], 0
    for step in range(1, steps + 1):
        acc_g, acc_l = None, 0.0
        for _ in range(ACCUM):
            xb, yb = traces(MICRO, length)
            loss, g = lg(model, xb, yb)
            acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
            acc_l = acc_l + loss
        acc_g = tree_map(lambda a: a / ACCUM, acc_g)
        acc_g, pre_norm = optim.clip_grad_norm(acc_g, CLIP)
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state, acc_l, pre_norm)
        hist.append(float(acc_l) / ACCUM)
        norms.append(float(pre_norm))
        clipped += float(pre_norm) > CLIP
        if step % log_every == 0:
            print(f"[{name}] step {step:4d}  ce {np.mean(hist[-log_every:]):.4f}  "
                  f"grad_norm(pre-clip) mean {np.mean(norms[-log_every:]):.3f} "
                  f"max {np.max(norms[-log_every:]):.3f}  clipped {clipped}/{log_every}  "
                  f"val_acc {accuracy(model, x_val, y_val):.3f}")
            clipped = 0
    return hist


t0 = time.time()
mx.random.seed(0)
xs_val, ys_val = traces(600, 20)
xl_val, yl_val = traces(600, 40)
print(f"chance accuracy {1 / len(CLASSES):.2f}; uniform-guess CE {np.log(4):.4f}")

model = DriveClassifier()
opt = optim.Adam(learning_rate=2e-3)
mx.eval(model.parameters())
run_stage("A/short", model, opt, 120, 20, xs_val, ys_val, log_every=40)
print(f"stage A done: val_acc short {accuracy(model, xs_val, ys_val):.3f}, "
      f"long (not yet trained on) {accuracy(model, xl_val, yl_val):.3f}")

ckdir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckdir, "weights.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckdir, "optim.safetensors"), dict(tree_flatten(opt.state)))
ref = accuracy(model, xl_val, yl_val)
del model, opt

# --- resume in fresh objects ---
model = DriveClassifier()
model.load_weights(os.path.join(ckdir, "weights.safetensors"))
opt = optim.Adam(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optim.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed from {ckdir}: optimizer step {int(opt.state['step'])}, "
      f"long val_acc {accuracy(model, xl_val, yl_val):.3f} (before save {ref:.3f})")
opt.learning_rate = 1e-3
hist_b = run_stage("B/long", model, opt, 120, 40, xl_val, yl_val, log_every=40)
print(f"final: val_acc long {accuracy(model, xl_val, yl_val):.3f}  "
      f"short {accuracy(model, xs_val, ys_val):.3f}  time {time.time() - t0:.1f}s")
