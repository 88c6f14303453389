"""Which of 4 boat classes passed a canal lock, from 9 lock-sensor readings.
Mixup + label smoothing, SGD momentum with step decay, Polyak (EMA) weights for eval."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten, tree_reduce

rng = np.random.default_rng(11)
N_TR, N_TE, K = 24000, 3000, 4
# boat classes: narrowboat, widebeam, cruiser, work barge
draft = np.array([0.55, 0.70, 0.85, 1.10])
beam = np.array([2.1, 3.6, 3.0, 4.2])
length = np.array([18.0, 17.0, 10.0, 22.0])


def make(n):
    c = rng.integers(0, K, n)
    d = draft[c] + rng.normal(0, 0.12, n)
    b = beam[c] + rng.normal(0, 0.35, n)
    L = length[c] + rng.normal(0, 3.0, n)
    disp = d * b * L * 0.8 + rng.normal(0, 3.0, n)
    fill = 6.0 + 0.02 * disp + rng.normal(0, 0.8, n)
    sway = np.abs(rng.normal(0, 0.3 + 0.05 * (4.5 - b), n))
    wake = 0.1 * L / (b + 1) + rng.normal(0, 0.2, n)
    hour = rng.uniform(7, 20, n)
    X = np.stack([d, b, L, disp, fill, sway, wake, np.sin(hour / 24 * 6.28), np.cos(hour / 24 * 6.28)], 1)
    return X.astype(np.float32), c.astype(np.int32)


Xtr, ytr = make(N_TR)
Xte, yte = make(N_TE)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd)
Xte = mx.array((Xte - mu) / sd)
ytr_m, yte_m = mx.array(ytr), mx.array(yte)


class LockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, K)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h)


mx.random.seed(3)
model = LockNet()
mx.eval(model.parameters())

SMOOTH, ALPHA, BS, EPOCHS, EMA = 0.05, 0.4, 64, 16, 0.995
steps_per_epoch = N_TR // BS
lr = optim.step_decay(0.05, 0.3, 5 * steps_per_epoch)
opt = optim.SGD(learning_rate=lr, momentum=0.9, weight_decay=5e-4)


def soft_ce(model, x, t):
    logp = nn.log_softmax(model(x), axis=-1)
    return -(t * logp).sum(-1).mean()


loss_and_grad = nn.value_and_grad(model, soft_ce)


def targets(y):
    oh = np.eye(K, dtype=np.float32)[y]
    return oh * (1 - SMOOTH) + SMOOTH / K


def evaluate(params=None):
    saved = None
    if params is not None:
        saved = tree_map(lambda a: a, model.parameters())
        model.update(params)
    logits = model(Xte)
    nll = nn.losses.cross_entropy(logits, yte_m, reduction="mean")
    miss = (mx.argmax(logits, -1) != yte_m).astype(mx.float32).mean()
    mx.eval(nll, miss)
    if saved is not None:
        model.update(saved)
    return nll.item(), 100 * miss.item()


ema_params = tree_map(lambda a: mx.array(a), model.parameters())
nll0, miss0 = evaluate()
print("%-10s %s" % ("data", "train %d  test %d  classes %d  chance miss %.1f%%" % (N_TR, N_TE, K, 100 * (1 - np.bincount(yte).max() / N_TE))))
print("%-10s %s" % ("untrained", "test nll %.4f  miss rate %.2f%%" % (nll0, miss0)))

step = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TR)
    run, n = 0.0, 0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        lam = float(rng.beta(ALPHA, ALPHA))
        j = rng.permutation(BS)
        xb = Xtr[mx.array(idx)]
        tb = targets(ytr[idx])
        xmix = lam * xb + (1 - lam) * xb[mx.array(j)]
        tmix = mx.array(lam * tb + (1 - lam) * tb[j])
        loss, grads = loss_and_grad(model, xmix, tmix)
        if step == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
            gnorm = tree_reduce(lambda acc, g: acc + (g * g).sum(), grads, mx.array(0.0))
            print("%-10s %s" % ("grads", "%d leaves, zero-gradient leaves: %s, global norm %.4f" % (len(leaves), zero, mx.sqrt(gnorm).item())))
        opt.update(model, grads)
        ema_params = tree_map(lambda e, p: EMA * e + (1 - EMA) * p, ema_params, model.parameters())
        mx.eval(model.parameters(), opt.state, ema_params, loss)
        run += loss.item()
        n += 1
        step += 1
    nll, miss = evaluate()
    enll, emiss = evaluate(ema_params)
    print("%-10s %s" % ("epoch %d" % epoch,
          "lr %.4f  mixup-ce %.4f  test nll %.4f  miss %.2f%%  | polyak nll %.4f  miss %.2f%%  (%.1fs)"
          % (opt.learning_rate.item(), run / n, nll, miss, enll, emiss, time.time() - t0)))

print("%-10s %s" % ("done", "final polyak miss rate %.2f%% (untrained %.2f%%)" % (emiss, miss0)))
