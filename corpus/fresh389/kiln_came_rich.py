"""Stained-glass studio: predict the firing outcome of vitreous paint
(underfired / sound / overfired) from kiln-log readings of two studios."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(width=100, highlight=False)
rng = np.random.default_rng(7)
CLASSES = ["underfired", "sound", "overfired"]


def make_studio(n, studio):
    peak = rng.uniform(560, 700, n)
    hold = rng.uniform(0, 30, n)
    ramp = rng.uniform(100, 400, n)
    thick = rng.uniform(2, 6, n)
    paint = rng.uniform(20, 120, n)
    flux = rng.uniform(0.1, 0.5, n)
    # studio B's thermocouple reads 45 C high, so its logged peak is shifted
    logged_peak = peak + (45.0 if studio == 1 else 0.0)
    work = ((peak - 620) / 22 + 0.7 * np.log1p(hold) - 0.0035 * (ramp - 250)
            + 3.0 * (flux - 0.3) - 0.35 * (thick - 4) - 0.012 * (paint - 70))
    work = work + rng.normal(0, 0.35, n)
    y = np.where(work < -0.2, 0, np.where(work > 2.2, 2, 1))
    x = np.stack([logged_peak, hold, ramp, thick, paint, flux,
                  np.full(n, float(studio))], 1)
    return x.astype(np.float32), y.astype(np.int32)


xa, ya = make_studio(9000, 0)
xb, yb = make_studio(9000, 1)
mu = xa.mean(0)
sd = xa.std(0) + 1e-6
mu[6], sd[6] = 0.0, 1.0
norm = lambda x: (x - mu) / sd
split = 7000
tr_a = (mx.array(norm(xa[:split])), mx.array(ya[:split]))
va_a = (mx.array(norm(xa[split:])), mx.array(ya[split:]))
tr_b = (mx.array(norm(xb[:split])), mx.array(yb[:split]))
va_b = (mx.array(norm(xb[split:])), mx.array(yb[split:]))


class FiringNet(nn.Module):
    def __init__(self, d_in=7, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.mid = nn.Linear(h, h)
        self.norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, 3)

    def __call__(self, x):
        z = nn.gelu(self.inp(x))
        z = z + nn.gelu(self.mid(self.norm(z)))
        return self.head(z)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, data):
    x, y = data
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, 1) == y).astype(mx.float32).mean()
    mx.eval(ce, acc)
    return ce.item(), 100 * acc.item()


mx.random.seed(3)
model = FiringNet()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
BATCH = 100
steps_per_epoch = split // BATCH
warm = steps_per_epoch  # one epoch of warm-up from an lr of exactly 0
total = 8 * steps_per_epoch
adam_lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
muon_lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.02, warm),
     optim.cosine_decay(0.02, total - warm, 1e-3)], [warm])
opt = optim.MultiOptimizer(
    [optim.Muon(learning_rate=muon_lr, momentum=0.95), optim.AdamW(adam_lr, weight_decay=1e-3)],
    [lambda path, p: path == "mid.weight"])

console.rule("[bold]kiln log")
console.print(f"studio A train {split}  studio B train {split}  params {n_params}")
for name, yy in [("A", ya[split:]), ("B", yb[split:])]:
    counts = np.bincount(yy, minlength=3) / len(yy)
    console.print(f"valid {name} class shares: " +
                  ", ".join(f"{c} {100*s:.1f}%" for c, s in zip(CLASSES, counts)))


def train_epochs(model, opt, sources, epochs, first_epoch, tag):
    vg = nn.value_and_grad(model, loss_fn)
    x = mx.concatenate([s[0] for s in sources])
    y = mx.concatenate([s[1] for s in sources])
    n = x.shape[0]
    for ep in range(first_epoch, first_epoch + epochs):
        t0 = time.perf_counter()
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for i in range(0, n - BATCH + 1, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = vg(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        ce_a, acc_a = evaluate(model, va_a)
        ce_b, acc_b = evaluate(model, va_b)
        console.print(escape(f"  [{tag}] epoch {ep:2d}  train ce {run / (n // BATCH):.4f}  "
                      f"valid A ce {ce_a:.4f} acc {acc_a:5.1f}%  "
                      f"valid B ce {ce_b:.4f} acc {acc_b:5.1f}%  {time.perf_counter() - t0:.1f}s"))


ce_a, acc_a = evaluate(model, va_a)
console.print(f"untrained: valid A ce {ce_a:.4f} acc {acc_a:.1f}%")

# first step, taken by hand on the first batch
vg = nn.value_and_grad(model, loss_fn)
before = tree_map(lambda v: mx.array(v), model.trainable_parameters())
_, g = vg(model, tr_a[0][:BATCH], tr_a[1][:BATCH])
nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g))
opt.update(model, g)
mx.eval(model.parameters(), opt.state)
moved = max(mx.abs(a - b).max().item() for (_, a), (_, b) in
            zip(tree_flatten(model.trainable_parameters()), tree_flatten(before)))
console.print(f"gradient leaves non-zero: {nz}/{len(tree_flatten(g))}  "
              f"step 1 lr {adam_lr(mx.array(0)).item():.1f}  max weight change {moved:.1f}")

console.rule("[bold]Stage 1 of 3 · studio A only · warm-up from lr 0")
train_epochs(model, opt, [tr_a], 4, 1, "A")

console.rule("[bold]Stage 2 of 3 · studios A + B")
console.print("studio B joins now; its logged peaks read high, so the loss climbs first")
train_epochs(model, opt, [tr_a, tr_b], 4, 5, "A+B")

console.rule("[bold]Stage 3 of 3 · head-only polish (input layers frozen)")
model.freeze()
model.head.unfreeze()
frozen_before = mx.array(model.inp.weight)
opt3 = optim.Adam(learning_rate=2e-4)
train_epochs(model, opt3, [tr_a, tr_b], 3, 9, "head")
drift = mx.abs(model.inp.weight - frozen_before).max().item()
console.print(f"frozen input layer max change: {drift:.1f}")

console.rule("[bold]results")
table = Table(title="held-out accuracy by studio")
table.add_column("studio")
table.add_column("model acc %", justify="right")
table.add_column("majority acc %", justify="right")
table.add_column("model ce", justify="right")
for name, data, yy in [("A", va_a, ya[split:]), ("B", va_b, yb[split:])]:
    ce, acc = evaluate(model, data)
    base = 100 * np.bincount(yy, minlength=3).max() / len(yy)
    table.add_row(name, f"{acc:.1f}", f"{base:.1f}", f"{ce:.4f}")
console.print(table)
console.print("done")
