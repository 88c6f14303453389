"""Per-sample stroke-phase tagging for a wrist-worn swim sensor.

Streams come in channels-first (batch, channels, time) like our old PyTorch
loader, and the logits are kept in (batch, classes, time) so the loss reduces
over axis=1.  Phases: 0 glide, 1 catch, 2 pull, 3 recovery.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_CH, T, K = 3, 64, 4


def make_swims(n):
    x = np.zeros((n, N_CH, T), np.float32)
    y = np.zeros((n, T), np.int32)
    for i in range(n):
        period = rng.uniform(12, 20)
        phase0 = rng.uniform(0, 1)
        t = np.arange(T)
        ph = ((t / period + phase0) % 1.0)
        lab = np.digitize(ph, [0.25, 0.45, 0.75])  # 4 phases
        y[i] = lab
        acc = np.sin(2 * np.pi * ph) + 0.6 * (lab == 2)
        gyr = np.cos(2 * np.pi * ph) - 0.5 * (lab == 1)
        prs = 0.8 * (lab == 3) - 0.3 * (lab == 0)
        x[i, 0] = acc + 0.45 * rng.standard_normal(T)
        x[i, 1] = gyr + 0.45 * rng.standard_normal(T)
        x[i, 2] = prs + 0.45 * rng.standard_normal(T)
    return x, y


def cross_entropy(logits, targets, axis=-1):
    # same recipe as mlx.nn.losses.cross_entropy (class indices, mean reduction)
    score = mx.take_along_axis(logits, targets[..., None], axis).squeeze(-1)
    lse = mx.logsumexp(logits, axis=axis)
    return mx.mean(lse - score)


class PhaseTagger(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.c1 = nn.Conv1d(N_CH, hidden, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(hidden, hidden, kernel_size=5, padding=2)
        self.head = nn.Conv1d(hidden, K, kernel_size=1)

    def __call__(self, x):  # x: (B, C, T)
        h = x.transpose(0, 2, 1)  # mlx conv wants (B, T, C)
        h = nn.relu(self.c1(h))
        h = nn.relu(self.c2(h))
        return self.head(h).transpose(0, 2, 1)  # back to (B, K, T)


xtr, ytr = make_swims(448)
xva, yva = make_swims(192)
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

model = PhaseTagger()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return cross_entropy(m(xb), yb, axis=1)


step = nn.value_and_grad(model, loss_fn)
B = 64
t0 = time.time()
print("epoch | train_ce | val_ce | frame_acc")
for epoch in range(1, 9):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, xtr.shape[0], B):
        idx = perm[s : s + B]
        loss, grads = step(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    logits = model(xva)
    vce = cross_entropy(logits, yva, axis=1).item()
    acc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
    print(f"{epoch:5d} | {tot / nb:8.4f} | {vce:6.4f} | {100 * acc:6.2f}%")
print(f"done in {time.time() - t0:.1f}s")
