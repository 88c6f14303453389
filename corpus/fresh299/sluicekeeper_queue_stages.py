"""Canal lock flight log: shared trunk, heads added over stages, checkpoint and resume.

Stage 1 (epochs 1-8): fill time (min, MSE on standardised target) + gate fault flag (BCE).
The run is stopped after stage 1; weights and optimizer state go to disk and a fresh
process-like restart reloads them and continues.
Stage 2 (epochs 9-14): trunk frozen, a new boat-queue head (Poisson NLL, counts) is trained
alone; its loss starts high because the head is new.
Stage 3 (epochs 15-20): everything unfrozen, all three losses summed, lower lr.
Logs are printed every 4 epochs inside a stage and at stage ends.
"""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
D = 6


def make_log(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    x = mx.random.normal((n, D), key=k1)   # head diff, sluice opening, upstream flow, hour sin/cos, season
    fill = 9.0 + 2.5 * x[:, 0] - 1.8 * x[:, 1] + 0.8 * x[:, 0] * x[:, 1] - 0.6 * x[:, 2] \
        + 0.7 * mx.random.normal((n,), key=k2)
    fault = (mx.random.uniform(shape=(n,), key=k3)
             < mx.sigmoid(-1.2 + 1.1 * x[:, 2] + 0.9 * x[:, 5] - 0.5 * x[:, 1])).astype(mx.float32)
    rate = mx.exp(1.0 + 0.6 * x[:, 3] + 0.4 * x[:, 4] + 0.5 * x[:, 5])
    # Poisson counts: exponential inter-arrival gaps counted inside one unit of time
    u = mx.random.uniform(shape=(n, 40), key=k4)
    arrivals = mx.cumsum(-mx.log(u) / rate[:, None], axis=1)
    queue = (arrivals < 1.0).sum(axis=1)
    return x, fill, fault, queue.astype(mx.float32)


xtr, ftr, gtr, qtr = make_log(5000, mx.random.key(3))
xva, fva, gva, qva = make_log(1000, mx.random.key(4))
fmu, fsd = ftr.mean(), ftr.std()


class LockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.fill = nn.Linear(48, 1)
        self.fault = nn.Linear(48, 1)
        self.queue = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.fill(h)[:, 0], self.fault(h)[:, 0], self.queue(h)[:, 0]


def losses(model, x, f, g, q):
    pf, pg, pq = model(x)
    l_fill = ((pf - (f - fmu) / fsd) ** 2).mean()
    l_fault = nn.losses.binary_cross_entropy(pg, g, with_logits=True, reduction="mean")
    l_queue = (mx.exp(pq) - q * pq).mean()          # Poisson NLL up to a constant
    return l_fill, l_fault, l_queue


WEIGHTS = {"s1": (1.0, 1.0, 0.0), "s2": (0.0, 0.0, 1.0), "s3": (1.0, 1.0, 1.0)}


def run_stage(model, opt, name, ep0, ep1, bs=125):
    w = WEIGHTS[name]

    def loss_fn(m, x, f, g, q):
        a, b, c = losses(m, x, f, g, q)
        return w[0] * a + w[1] * b + w[2] * c

    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for ep in range(ep0, ep1 + 1):
        perm = mx.random.permutation(n)
        tot = 0.0
        for i in range(n // bs):
            idx = perm[i * bs:(i + 1) * bs]
            loss, grads = vg(model, xtr[idx], ftr[idx], gtr[idx], qtr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if (ep - ep0) % 4 == 3 or ep == ep1:
            report(model, name, ep, tot / (n // bs))


def report(model, name, ep, train_loss=None):
    pf, pg, pq = model(xva)
    rmse = mx.sqrt(((pf * fsd + fmu - fva) ** 2).mean()).item()
    acc = ((pg > 0).astype(mx.float32) == gva).mean().item()
    mae_q = mx.abs(mx.exp(pq) - qva).mean().item()
    tl = "   --  " if train_loss is None else f"{train_loss:+.4f}"
    print(f"[{name}] epoch {ep:2d} train objective {tl} | val fill rmse {rmse:.2f} min "
          f"(base {base_rmse:.2f}) fault acc {acc:.3f} (base {base_acc:.3f}) "
          f"queue mae {mae_q:.2f} boats (base {base_mae:.2f})")


base_rmse = mx.sqrt(((fva - fmu) ** 2).mean()).item()
base_acc = max(gva.mean().item(), 1 - gva.mean().item())
base_mae = mx.abs(qva - qtr.mean()).mean().item()
print(f"val baselines: fill rmse {base_rmse:.2f} min, fault majority acc {base_acc:.3f}, "
      f"queue mae {base_mae:.2f} boats")

ckdir = os.path.join(tempfile.gettempdir(), f"sluicekeeper_{os.getpid()}")
os.makedirs(ckdir, exist_ok=True)
model = LockNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
run_stage(model, opt, "s1", 1, 8)

model.save_weights(os.path.join(ckdir, "lock.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"stage 1 done, checkpoint written to {ckdir}; restarting from disk")
del model, opt

model = LockNet()
model.load_weights(os.path.join(ckdir, "lock.safetensors"))
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters())
report(model, "resume", 8)

model.trunk.freeze()
run_stage(model, opt, "s2", 9, 14)

model.unfreeze()
opt3 = optim.AdamW(learning_rate=5e-4, weight_decay=1e-4)
run_stage(model, opt3, "s3", 15, 20)
print("run complete")
