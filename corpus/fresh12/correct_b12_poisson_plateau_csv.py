# Count regression (Poisson, log link) with a hand-written reduce-LR-on-plateau schedule.
# Logs one CSV row per epoch: epoch,lr,train_dev,val_dev,val_mae
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
D = 10
W = 0.3 * mx.random.normal((D,))
def make(n):
    x = mx.random.normal((n, D))
    rate = mx.exp(0.8 + x @ W + 0.3 * mx.sin(2 * x[:, 0]))
    # Poisson sampling by inversion (small rates)
    u = mx.random.uniform(shape=(n,))
    k = mx.zeros((n,))
    p = mx.exp(-rate)
    cdf = p
    for i in range(1, 60):
        k = k + (u > cdf)
        p = p * rate / i
        cdf = cdf + p
    return x, k
Xtr, Ytr = make(3000)
Xva, Yva = make(1000)
mx.eval(Xtr, Ytr, Xva, Yva)


class CountNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, 1)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x))).squeeze(-1)  # log-rate


def deviance(log_rate, y):
    # mean Poisson deviance, 2 * (y log(y/mu) - (y - mu))
    mu = mx.exp(log_rate)
    ylogy = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-8) / mu), 0.0)
    return 2 * mx.mean(ylogy - (y - mu))


def loss_fn(model, x, y):
    log_rate = model(x)
    return mx.mean(mx.exp(log_rate) - y * log_rate)  # Poisson NLL up to a constant


model = CountNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
step = nn.value_and_grad(model, loss_fn)

best, bad, patience, factor = math.inf, 0, 3, 0.3
print("epoch,lr,train_dev,val_dev,val_mae")
for epoch in range(1, 41):
    perm = mx.random.permutation(Xtr.shape[0])
    for i in range(0, Xtr.shape[0], 100):
        idx = perm[i:i + 100]
        _, g = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    tr = deviance(model(Xtr), Ytr).item()
    lr_va = model(Xva)
    va = deviance(lr_va, Yva).item()
    mae = mx.mean(mx.abs(mx.exp(lr_va) - Yva)).item()
    lr = opt.learning_rate.item()
    print(f"{epoch},{lr:.5f},{tr:.4f},{va:.4f},{mae:.4f}")
    if va < best - 1e-3:
        best, bad = va, 0
    else:
        bad += 1
        if bad >= patience:
            opt.learning_rate = lr * factor
            bad = 0
    if lr < 1e-4:
        break
