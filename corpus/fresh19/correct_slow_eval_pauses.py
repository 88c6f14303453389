"""Training with a deliberately expensive evaluation every 100 steps
(bootstrap confidence interval of held-out accuracy, pure Python), so the
step counter stands still for a few seconds at each evaluation."""
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
random.seed(5)
N, D = 3000, 16
X = mx.random.normal((N, D))
w_true = mx.random.normal((D,))
y = ((X @ w_true + 0.5 * mx.random.normal((N,))) > 0).astype(mx.int32)
Xtr, ytr, Xva, yva = X[:2400], y[:2400], X[2400:], y[2400:]

model = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 2))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
vg = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))


def bootstrap_eval(n_boot=15000):
    correct = (mx.argmax(model(Xva), axis=1) == yva).tolist()
    n = len(correct)
    accs = []
    for _ in range(n_boot):
        s = 0
        for _ in range(n):
            s += correct[random.randrange(n)]
        accs.append(s / n)
    accs.sort()
    return sum(correct) / n, accs[int(0.025 * n_boot)], accs[int(0.975 * n_boot)]


t0 = time.time()
for step in range(1, 401):
    idx = mx.random.randint(0, 2400, (48,))
    loss, g = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 25 == 0:
        print({"step": step, "loss": round(loss.item(), 4), "t": round(time.time() - t0, 1)})
    if step % 100 == 0:
        acc, lo, hi = bootstrap_eval()
        print({"step": step, "val_acc": round(acc, 3), "ci95": [round(lo, 3), round(hi, 3)],
               "t": round(time.time() - t0, 1)})
