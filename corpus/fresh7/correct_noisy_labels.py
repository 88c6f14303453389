"""Classifier trained on heavily corrupted labels: 45% of the training labels are
replaced by a random class. The training cross-entropy can barely move (most of
it is irreducible noise), while accuracy on the clean held-out labels climbs."""
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
D, C, N = 10, 5, 3000
W_true = mx.random.normal((D, C)) * 1.5
X = mx.random.normal((N, D))
clean = mx.argmax(X @ W_true, axis=1)
flip = mx.random.uniform(shape=(N,)) < 0.45
noisy = mx.where(flip, mx.random.randint(0, C, (N,)), clean)
Xv = mx.random.normal((1000, D))
yv = mx.argmax(Xv @ W_true, axis=1)

model = nn.Sequential(nn.Linear(D, 32), nn.SiLU(), nn.Linear(32, C))
opt = optim.AdaDelta(learning_rate=1.0)
step = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

EPOCHS, B = 20, 50
nb = N // B
for ep in range(EPOCHS):
    perm = mx.random.permutation(N)
    tot = 0.0
    for b in range(nb):
        idx = perm[b * B:(b + 1) * B]
        loss, grads = step(model, X[idx], noisy[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if b % 20 == 19 or b == nb - 1:
            done = int(30 * (b + 1) / nb)
            sys.stdout.write(f"\repoch {ep + 1:2d}/{EPOCHS} |{'#' * done}{'.' * (30 - done)}| "
                             f"{b + 1}/{nb} noisy_ce={tot / (b + 1):.4f}")
            sys.stdout.flush()
    acc = (mx.argmax(model(Xv), axis=1) == yv).mean().item()
    sys.stdout.write(f"  clean_val_acc={acc:.3f}\n")
