# 6-hidden-layer ReLU MLP classifier (8 classes) trained with Adam.
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

mx.random.seed(0)
N, D, C = 2048, 32, 8
X = mx.random.normal((N, D))
W_teacher = mx.random.normal((D, C))
Y = mx.argmax(mx.tanh(X @ W_teacher) + 0.1 * mx.random.normal((N, C)), axis=1)

layers, d = [], D
for _ in range(6):
    layers += [nn.Linear(d, 128), nn.ReLU()]
    d = 128
model = nn.Sequential(*layers, nn.Linear(128, C))

LR = 1.5e-2
# linear warmup over the first 100 steps, then constant LR
opt = optim.Adam(learning_rate=optim.linear_schedule(0.0, LR, 100))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())

BATCH, EPOCHS = 128, 38
steps_per_epoch = N // BATCH
for epoch in range(EPOCHS):
    perm = mx.random.permutation(N)
    tot, correct = 0.0, 0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 4 == 0 or epoch == EPOCHS - 1:
        acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
        log.info("epoch %d ce=%.4f acc=%.3f", epoch, tot / steps_per_epoch, acc)
