"""Digit-blob classifier that reports only accuracy, on a tqdm-style progress line per epoch."""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(9)
N, D, K = 3000, 32, 8
centres = mx.random.normal((K, D)) * 0.35
labels = mx.random.randint(0, K, (N,))
feats = centres[labels] + mx.random.normal((N, D))

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, K))
opt = optim.RMSprop(learning_rate=1e-3)
train = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y).mean())
BATCHES = N // 100
for epoch in range(1, 26):
    t0 = time.time()
    for b in range(BATCHES):
        sl = slice(b * 100, (b + 1) * 100)
        _, grads = train(model, feats[sl], labels[sl])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    acc = (model(feats).argmax(-1) == labels).mean().item()
    rate = BATCHES / (time.time() - t0)
    bar = "#" * 10
    sys.stdout.write(f"Epoch {epoch:2d}: 100%|{bar}| {BATCHES}/{BATCHES} "
                     f"[{rate:.1f}it/s, acc={acc:.3f}]\n")
