# Tram wheel-flat detector: 1-D CNN over 3-axis axlebox accelerometer windows.
# Ported from a PyTorch notebook; data kept in (batch, channels, time) layout.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_CH, T_LEN, N_CLS = 3, 96, 3   # classes: healthy / single flat / double flat


def make_windows(n):
    t = np.arange(T_LEN) / 400.0
    X = np.zeros((n, N_CH, T_LEN), dtype=np.float32)
    y = rng.integers(0, N_CLS, size=n)
    for i in range(n):
        base = 0.3 * np.sin(2 * np.pi * rng.uniform(8, 14) * t + rng.uniform(0, 6.3))
        sig = np.stack([base, 0.5 * base, 0.2 * base]) + 0.25 * rng.standard_normal((N_CH, T_LEN))
        for k in range(int(y[i])):
            pos = rng.integers(5, T_LEN - 10) if k == 0 else (pos + 40) % (T_LEN - 10)
            sig[0, pos:pos + 3] += 2.2
            sig[2, pos:pos + 3] += 1.1
        X[i] = sig
    return X, y.astype(np.int32)


Xtr, ytr = make_windows(900)
Xva, yva = make_windows(300)


class FlatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(N_CH, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, padding=2)
        self.head = nn.Linear(32, N_CLS)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        return self.head(mx.max(x, axis=1))


def to_mlx(xb):
    return mx.array(xb).transpose(0, 2, 1)  # MLX conv1d wants (N, L, C)


model = FlatNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
bs = 60
for ep in range(1, 9):
    perm = rng.permutation(len(Xtr))
    tot = 0.0
    for s in range(0, len(Xtr), bs):
        idx = perm[s:s + bs]
        loss, g = step(model, to_mlx(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    logits = model(to_mlx(Xva))
    acc = mx.mean(mx.argmax(logits, axis=1) == mx.array(yva)).item()
    print(f"ep {ep}  train_xent {tot/len(Xtr):.4f}  val_acc {100*acc:5.1f}%  ({time.time()-t0:.1f}s)")
print("done")
