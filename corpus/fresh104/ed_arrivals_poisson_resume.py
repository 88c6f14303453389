"""Hourly emergency-department arrivals (synthetic) with a Poisson log-rate MLP.

Features: hour and weekday (sin/cos), weekend flag, outside temperature, a
flu-season flag; weekday arrivals peak late morning and early evening,
weekends have one broad afternoon bump.

The run is split in two sessions: session 1 trains, writes a checkpoint
(weights + optimizer state + step) to a temp dir and drops everything; session 2
builds a fresh model and optimizer, restores the checkpoint and carries on.
Loss = Poisson NLL without the log(y!) term, so it is negative for large counts.
"""
import csv, math, os, sys, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N = 4000
hour = rng.integers(0, 24, N)
dow = rng.integers(0, 7, N)
temp = rng.normal(15, 8, N)
flu = (rng.random(N) < 0.15).astype(np.float32)
weekend = (dow >= 5).astype(np.float32)
weekday_peaks = np.exp(-((hour - 11) ** 2) / 6.0) + np.exp(-((hour - 19) ** 2) / 5.0)
afternoon = np.exp(-((hour - 15) ** 2) / 18.0)
log_rate = (1.2 + 2.4 * (1 - weekend) * weekday_peaks + 1.8 * weekend * afternoon
            + 0.03 * np.abs(temp - 15) + 0.6 * flu)
counts = rng.poisson(np.exp(log_rate)).astype(np.float32)
feats = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7),
                  weekend, (temp - 15) / 8, flu], axis=1).astype(np.float32)
Xtr, ytr = mx.array(feats[:3200]), mx.array(counts[:3200])
Xva, yva = mx.array(feats[3200:]), mx.array(counts[3200:])


class RateNet(nn.Module):
    def __init__(self, d_in=7, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)  # log rate


def poisson_nll(model, x, y):
    r = model(x)
    return mx.mean(mx.exp(r) - y * r)


def deviance(model, x, y):
    mu = mx.exp(model(x))
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-8) / mu), 0.0)
    return (2 * mx.mean(term - (y - mu))).item()


def make_session(lr_sched):
    model = RateNet()
    opt = optim.Adam(learning_rate=lr_sched)
    return model, opt, nn.value_and_grad(model, poisson_nll)


def run_steps(model, opt, lg, start, stop, writer, session):
    t0 = time.perf_counter()
    window = []
    for step in range(start, stop):
        idx = mx.array(np.random.default_rng(step).integers(0, 3200, 256))
        loss, grads = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 200 == 0:
            writer.writerow([session, step + 1, f"{np.mean(window):.4f}",
                             f"{poisson_nll(model, Xva, yva).item():.4f}",
                             f"{deviance(model, Xva, yva):.4f}",
                             f"{float(opt.learning_rate):.2e}",
                             f"{time.perf_counter() - t0:.2f}"])
            window = []


sched = optim.cosine_decay(3e-3, 2000, end=2e-4)
writer = csv.writer(sys.stdout)
mean_rate = float(counts[:3200].mean())
print(f"# train={Xtr.shape[0]} valid={Xva.shape[0]} mean count={mean_rate:.2f}")
print(f"# constant-rate baseline valid nll="
      f"{float(np.mean(mean_rate - counts[3200:] * np.log(mean_rate))):.4f}")

mx.random.seed(0)
model, opt, lg = make_session(sched)
# first-step gradient audit
_, g0 = lg(model, Xtr[:64], ytr[:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"# grad leaves={len(tree_flatten(g0))} all-zero={zero}")
writer.writerow(["session", "step", "train_nll", "valid_nll", "valid_deviance", "lr", "secs"])

ckpt_dir = tempfile.mkdtemp(prefix="ed_arrivals_")
run_steps(model, opt, lg, 0, 1000, writer, 1)
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
state = dict(tree_flatten(opt.state))
mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"), state)
ref_val = poisson_nll(model, Xva, yva).item()
print(f"# checkpoint written at step 1000 (valid nll {ref_val:.4f}); session 1 ends")
del model, opt, lg

# ---- session 2: fresh objects, restore from disk ----
mx.random.seed(123)
model, opt, lg = make_session(sched)
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optim.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
restored = poisson_nll(model, Xva, yva).item()
print(f"# resumed: optimizer step={int(opt.state['step'])} lr={float(opt.learning_rate):.2e} "
      f"valid nll {restored:.4f} (match={abs(restored - ref_val) < 1e-5})")
run_steps(model, opt, lg, 1000, 2000, writer, 2)
for f in os.listdir(ckpt_dir):
    os.remove(os.path.join(ckpt_dir, f))
os.rmdir(ckpt_dir)
print(f"# done, final valid nll {poisson_nll(model, Xva, yva).item():.4f}")
