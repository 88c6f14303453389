# Tabular regression (synthetic "house features" -> price index) with SGD +
# momentum and an annealed gradient-clipping threshold: clip hard early,
# relax the clip to nothing by the end of training.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N, D = 1000, 12
EPOCHS = 20
BS = 64
CLIP_START = 5.0

X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1))
y = mx.sin(X @ w_true) + 0.3 * (X[:, :1] ** 2) + 0.05 * mx.random.normal((N, 1))

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


grad_fn = nn.value_and_grad(model, loss_fn)

steps_per_epoch = N // BS
total_steps = EPOCHS * steps_per_epoch


def clip_threshold(step):
    # linear decay of the clip threshold over the whole run
    return CLIP_START * (1.0 - step / total_steps)


step = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(N)
    n_batches = math.ceil(N / BS)
    running = 0.0
    for b, i in enumerate(range(0, N, BS), start=1):
        idx = perm[i:i + BS]
        loss, grads = grad_fn(model, X[idx], y[idx])
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=clip_threshold(step))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        step += 1
        if b % 8 == 0:
            print(f"epoch {epoch} [{b}/{n_batches}] mse={running / b:.4f} "
                  f"gnorm={gnorm.item():.3f} clip={clip_threshold(step):.3f}")
    print(f"epoch {epoch} done: mse={running / n_batches:.4f} ({time.time() - t0:.1f}s)")

print("training finished")
