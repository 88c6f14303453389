"""LR range test (Smith / fastai style): the learning rate grows exponentially every step
and the run stops once the smoothed loss exceeds 4x its best value. The loss rising at the
end is the point of the experiment; the script then reports the suggested learning rate."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
N, D, C = 1536, 12, 6
W = mx.random.normal((D, C))
X = mx.random.normal((N, D))
Y = mx.argmax(X @ W + 0.3 * mx.random.normal((N, C)), axis=1)
mx.eval(X, Y)

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, C))
LR_MIN, LR_MAX, STEPS = 1e-4, 30.0, 240
opt = optim.SGD(learning_rate=LR_MIN, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
mult = (LR_MAX / LR_MIN) ** (1.0 / STEPS)
lr, avg, best, beta = LR_MIN, 0.0, float("inf"), 0.9
history = []
print(f"{'step':>5} {'lr':>10} {'smoothed_loss':>14}")
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, N, (64,))
    opt.learning_rate = lr
    loss, grads = vg(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    avg = beta * avg + (1 - beta) * loss.item()
    smooth = avg / (1 - beta ** step)
    history.append((lr, smooth))
    best = min(best, smooth)
    if step % 10 == 0:
        print(f"{step:5d} {lr:10.2e} {smooth:14.4f}")
    if step > 10 and (smooth > 4 * best or not math.isfinite(smooth)):
        print(f"{step:5d} {lr:10.2e} {smooth:14.4f}  <- loss exploded, stopping range test")
        break
    lr *= mult

# suggestion: lr of the steepest descent of the smoothed curve, divided by 10 for safety
grads_ = [(history[i][0], history[i + 1][1] - history[i - 1][1]) for i in range(1, len(history) - 1)]
steepest = min(grads_, key=lambda t: t[1])[0]
print(f"best smoothed loss {best:.4f}; suggested lr ~ {steepest / 10:.2e}")
