"""Morse keying: count the dahs in a noisy sequence of key-down durations.
Curriculum: sequences grow from 4 to 8 to 16 to 24 symbols, so the loss jumps
at each stage change before it falls again. Logged as CSV rows to stdout."""
import csv
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)


def make_batch(n, length):
    dah = rng.random((n, length)) < 0.4
    dur = np.where(dah, 3.0, 1.0) * rng.lognormal(0.0, 0.25, (n, length))
    gap = rng.lognormal(0.0, 0.3, (n, length))
    x = np.stack([np.log(dur), np.log(gap)], -1).astype(np.float32)
    return mx.array(x), mx.array(dah.sum(1).astype(np.float32))


class Counter(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.rnn(x)              # (B, L, H)
        return self.head(h[:, -1, :]).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = Counter()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

stages = [(4, 250), (8, 250), (16, 250), (24, 250)]
val = {L: make_batch(512, L) for L, _ in stages}
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["step", "seq_len", "train_mse_window", "val_mse_cur_len", "val_exact_count_pct", "secs"])

t0 = time.time()
step = 0
gradcheck = None
seen = []
for L, n_steps in stages:
    seen.append(L)
    window = []
    for _ in range(n_steps):
        # mostly the new length, some replay of shorter ones so they are not forgotten
        Lb = L if rng.random() < 0.7 else int(rng.choice(seen))
        x, y = make_batch(64, Lb)
        loss, g = vg(model, x, y)
        if gradcheck is None:
            leaves = tree_flatten(g)
            gradcheck = (len(leaves), [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if step % 50 == 0:
            vx, vy = val[L]
            p = model(vx)
            vmse = nn.losses.mse_loss(p, vy).item()
            exact = mx.mean(mx.round(p) == vy).item() * 100
            out.writerow([step, L, f"{np.mean(window):.4f}", f"{vmse:.4f}", f"{exact:.1f}", f"{time.time() - t0:.1f}"])
            sys.stdout.flush()
            window = []

print(f"# gradient leaves at step 1: {gradcheck[0]}, all-zero leaves: {gradcheck[1] or 'none'}")
for L, _ in stages:
    vx, vy = val[L]
    p = model(vx)
    print(f"# final val len {L:2d}: mse {nn.losses.mse_loss(p, vy).item():.4f} "
          f"(predict-mean baseline {mx.var(vy).item():.3f}), exact {mx.mean(mx.round(p) == vy).item() * 100:.1f}%")
