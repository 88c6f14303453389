# Small CNN-free image-ish classifier (8x8 "digits" from noisy templates), Lion + cosine schedule.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(21)
C, P = 10, 64
templates = (rng.random((C, P)) > 0.5).astype(np.float32)
labels = rng.integers(0, C, size=4000)
flip = rng.random((4000, P)) < 0.35
Xn = np.abs(templates[labels] - flip).astype(np.float32)
X, Y = mx.array(Xn[:3200]), mx.array(labels[:3200])
Xv, Yv = mx.array(Xn[3200:]), mx.array(labels[3200:])

EPOCHS, BS = 25, 200
steps_per_epoch = 3200 // BS

model = nn.Sequential(nn.Linear(P, 128), nn.ReLU(), nn.Linear(128, C))
schedule = optim.cosine_decay(3e-4, decay_steps=steps_per_epoch)
opt = optim.Lion(learning_rate=schedule, weight_decay=0.0)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)
print("| epoch | train_nll | val_nll | val_err |")
print("|------:|----------:|--------:|--------:|")
for epoch in range(EPOCHS):
    order = mx.array(rng.permutation(3200))
    total = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * BS:(b + 1) * BS]
        loss, grads = grad_fn(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item()
    logits = model(Xv)
    val = nn.losses.cross_entropy(logits, Yv, reduction="mean").item()
    err = 1.0 - (mx.argmax(logits, axis=1) == Yv).mean().item()
    print(f"| {epoch + 1:5d} | {total / steps_per_epoch:9.4f} | {val:7.4f} | {err:7.3f} |")
