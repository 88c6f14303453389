# Which instrument is playing?  Five synthetic "instruments" differ only in
# their harmonic amplitude profile, inharmonicity and breath noise; pitch is
# random.  Input is the 256-bin log-magnitude spectrum of a 2048-sample note.
# A small Conv1d stack over the frequency axis classifies it.
# The run is deliberately quiet: a single report is written when it ends.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SR, N, BINS = 16000, 2048, 256
NAMES = ["flute", "clarinet", "violin", "trumpet", "pluck"]
rng = np.random.default_rng(2024)


def harmonic_profile(kind, k):
    if kind == 0:   # flute: few strong low partials
        return np.exp(-0.9 * (k - 1))
    if kind == 1:   # clarinet: odd harmonics dominate
        return np.where(k % 2 == 1, 1.0 / k, 0.12 / k)
    if kind == 2:   # violin: sawtooth-ish
        return 1.0 / k
    if kind == 3:   # trumpet: formant bump around 5th-8th partial
        return np.exp(-((k - 6.0) ** 2) / 8.0) + 0.3 / k
    return 1.0 / k ** 2 * (1 + 0.6 * np.sin(k))   # pluck: fast roll-off, comb


def synth(kind):
    f0 = rng.uniform(180.0, 700.0)
    t = np.arange(N) / SR
    k = np.arange(1, 25)
    inharm = 0.0008 if kind == 4 else 0.0
    freqs = f0 * k * np.sqrt(1 + inharm * k ** 2)
    amps = harmonic_profile(kind, k) * rng.uniform(0.8, 1.2, k.size)
    amps[freqs > SR / 2 - 200] = 0.0
    phases = rng.uniform(0, 2 * np.pi, k.size)
    wave = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    wave += rng.normal(0, 0.05 if kind == 0 else 0.02, N)          # breath / bow noise
    spec = np.abs(np.fft.rfft(wave * np.hanning(N)))[:N // 2]
    spec = spec.reshape(BINS, -1).max(axis=1)                        # 256 pooled bins
    logspec = np.log1p(spec)
    return (logspec - logspec.mean()) / (logspec.std() + 1e-6)


def build(n):
    y = rng.integers(0, 5, n)
    x = np.stack([synth(c) for c in y]).astype(np.float32)[..., None]   # (n, BINS, 1)
    return mx.array(x), mx.array(y.astype(np.int32))


x_tr, y_tr = build(2000)
x_te, y_te = build(1000)


class SpecNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=9, stride=2, padding=4)
        self.c2 = nn.Conv1d(16, 32, kernel_size=7, stride=2, padding=3)
        self.c3 = nn.Conv1d(32, 32, kernel_size=5, stride=2, padding=2)
        self.fc = nn.Linear(64, 5)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        x = mx.concatenate([x.mean(axis=1), x.max(axis=1)], axis=-1)
        return self.fc(x)


mx.random.seed(0)
model = SpecNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
_, g0 = step_fn(model, x_tr[:64], y_tr[:64])
zero_leaves = [k for k, v in tree_flatten(g0) if not mx.any(v != 0).item()]

EPOCHS, BATCH = 8, 50
spe = x_tr.shape[0] // BATCH
opt = optim.Adamax(learning_rate=optim.step_decay(4e-3, 0.5, 3 * spe))
history = []
t0 = time.time()
for epoch in range(EPOCHS):
    perm = mx.random.permutation(x_tr.shape[0])
    s = 0.0
    for i in range(spe):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        s += loss.item()
    history.append(s / spe)
elapsed = time.time() - t0

pred = np.array(mx.argmax(model(x_te), axis=1))
true = np.array(y_te)
cm = np.zeros((5, 5), dtype=int)
for a, b in zip(true, pred):
    cm[a, b] += 1

print("=" * 62)
print(f"timbre run finished in {elapsed:.1f}s  ({EPOCHS} epochs x {spe} steps, Adamax)")
print(f"params with zero grad at step 0: {zero_leaves if zero_leaves else 'none'}")
print("train CE by epoch: " + " ".join(f"{h:.3f}" for h in history))
print(f"test accuracy: {100 * (pred == true).mean():.1f}%   (chance 20.0%)")
print("confusion (rows = true, cols = predicted):")
print("            " + " ".join(f"{n[:5]:>6}" for n in NAMES))
for i, n in enumerate(NAMES):
    print(f"  {n:>9} " + " ".join(f"{c:>6d}" for c in cm[i]))
print("=" * 62)
