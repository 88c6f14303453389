"""Snapshot ensembling (Huang et al. 2017) on a toy waveform-classification task.

One training run, cyclic cosine learning rate that decays to ~0 at the end of
every cycle; at each cycle end we keep a copy of the weights (at most KEEP of
them, oldest dropped) and score the ensemble of kept snapshots on held-out data.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
N_CLASSES, LENGTH = 5, 32


def make_split(n):
    y = rng.integers(0, N_CLASSES, size=n)
    t = np.linspace(0, 1, LENGTH, dtype=np.float32)
    freq = 1.5 + 1.1 * y[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x = np.sin(2 * np.pi * freq * t[None, :] + phase)
    x += 0.9 * rng.standard_normal((n, LENGTH))
    return mx.array(x[..., None].astype(np.float32)), mx.array(y.astype(np.int32))


x_tr, y_tr = make_split(1200)
x_va, y_va = make_split(600)


class WaveNetLite(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(12, 16, kernel_size=5, padding=2, stride=2)
        self.fc = nn.Linear(16, N_CLASSES)

    def __call__(self, x):  # x: (N, L, C)
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return self.fc(h.mean(axis=1))


mx.random.seed(3)
model = WaveNetLite()
mx.eval(model.parameters())

EPOCHS_PER_CYCLE, CYCLES, BATCH, LR_MAX, KEEP = 5, 6, 48, 0.08, 3
steps_per_epoch = x_tr.shape[0] // BATCH
cycle_len = EPOCHS_PER_CYCLE * steps_per_epoch


def snapshot_lr(step):
    # cosine over one cycle, restarted every cycle_len steps
    pos = step % cycle_len
    return LR_MAX * 0.5 * (1.0 + mx.cos(math.pi * pos / cycle_len))


opt = optim.SGD(learning_rate=snapshot_lr, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def probs_of(params, x):
    model.update(params)
    return mx.softmax(model(x), axis=-1)


snapshots = []
table = ["| cycle | lr@end    | train loss | snapshot acc | ensemble acc (n) |",
         "|------:|----------:|-----------:|-------------:|-----------------:|"]
print(f"training {CYCLES} cycles x {EPOCHS_PER_CYCLE} epochs, {steps_per_epoch} steps/epoch")
t0 = time.time()
step = 0
for cycle in range(1, CYCLES + 1):
    run_loss, n = 0.0, 0
    for epoch in range(EPOCHS_PER_CYCLE):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = grad_fn(model, x_tr[idx], y_tr[idx])
            if step == 0:
                zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
                print("first-step leaves with zero grad:", zero or "none")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if epoch == EPOCHS_PER_CYCLE - 1:
                run_loss += loss.item()
                n += 1
        print(f"  cycle {cycle} epoch {epoch + 1}: last batch loss {loss.item():.4f}")

    current = tree_map(lambda a: mx.array(a), model.parameters())
    mx.eval(current)
    snapshots.append(current)
    if len(snapshots) > KEEP:
        snapshots.pop(0)

    live = tree_map(lambda a: a, model.parameters())
    single_acc = (mx.argmax(probs_of(current, x_va), axis=-1) == y_va).mean().item()
    ens = sum(probs_of(s, x_va) for s in snapshots) / len(snapshots)
    ens_acc = (mx.argmax(ens, axis=-1) == y_va).mean().item()
    model.update(live)
    lr_end = float(snapshot_lr(step - 1))
    table.append(f"| {cycle:5d} | {lr_end:9.2e} | {run_loss / n:10.4f} | {single_acc:12.3f} | {ens_acc:12.3f} ({len(snapshots)}) |")
    print("\n".join(table[-1:]))

print()
print("\n".join(table))
print(f"kept snapshots: {len(snapshots)} (cap {KEEP}); wall {time.time() - t0:.1f}s")
