"""Sled-dog race vet checks: will a dog be dropped at the next checkpoint?

Synthetic vet-check log (paw score, heart-rate recovery, miles since rest,
air temperature, age, weight loss %, booties changed). 4-fold CV, MLP with a
hand-written VJP for the 'softsign-gelu' activation, SGD + Nesterov, early
stopping on validation log-loss with restore of the best weights per fold.
"""
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s vetcheck: %(message)s")
log = logging.getLogger("vetcheck")

mx.random.seed(2024)
N, FOLDS = 2400, 4


def make_log(n):
    paw = mx.random.uniform(0, 4, (n,))
    hrr = mx.random.normal((n,)) * 12 + 60
    miles = mx.random.uniform(20, 110, (n,))
    temp = mx.random.normal((n,)) * 10 - 25
    age = mx.random.uniform(2, 10, (n,))
    wloss = mx.abs(mx.random.normal((n,))) * 3
    boots = mx.random.randint(0, 2, (n,)).astype(mx.float32)
    z = (0.9 * paw + 0.04 * (hrr - 60) + 0.02 * (miles - 60) - 0.03 * (temp + 25)
         + 0.25 * (age - 6) * (age > 7) + 0.5 * wloss - 0.6 * boots * (paw > 2) - 3.2)
    y = (mx.random.uniform(0, 1, (n,)) < mx.sigmoid(1.6 * z)).astype(mx.float32)
    x = mx.stack([paw, hrr, miles, temp, age, wloss, boots], axis=1)
    return x, y


@mx.custom_function
def ssgelu(x):
    # x * s(x), s(x) = 0.5 * (1 + x / (1 + |x|))
    return x * 0.5 * (1 + x / (1 + mx.abs(x)))


@ssgelu.vjp
def ssgelu_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    a = 1 + mx.abs(x)
    s = 0.5 * (1 + x / a)
    ds = 0.5 / (a * a)
    return (cotangent * (s + x * ds),)


class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(ssgelu(self.l2(ssgelu(self.l1(x))))).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


X, Y = make_log(N)
# check the hand-written VJP once against finite differences
probe = mx.array([-2.0, -0.3, 0.0, 0.7, 3.0])
g_hand = mx.grad(lambda v: ssgelu(v).sum())(probe)
eps = 1e-3
g_fd = (ssgelu(probe + eps) - ssgelu(probe - eps)) / (2 * eps)
log.info("vjp audit: max |hand - finite diff| = %.2e", mx.abs(g_hand - g_fd).max().item())

perm = mx.random.permutation(N)
fold_size = N // FOLDS
summary = []
for fold in range(FOLDS):
    va_idx = perm[fold * fold_size:(fold + 1) * fold_size]
    tr_idx = mx.concatenate([perm[:fold * fold_size], perm[(fold + 1) * fold_size:]])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd

    model = DropNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, bce)
    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    for ep in range(1, 61):
        order = mx.random.permutation(xtr.shape[0])
        for i in range(0, xtr.shape[0], 64):
            b = order[i:i + 64]
            loss, grads = vg(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        vl = bce(model, xva, yva).item()
        if ep % 10 == 0:
            acc = ((model(xva) > 0) == (yva > 0.5)).astype(mx.float32).mean().item()
            log.info("fold %d epoch %2d  train_bce %.4f  val_bce %.4f  val_acc %.1f%%", fold + 1, ep, loss.item(), vl, 100 * acc)
        if vl < best - 1e-4:
            best, best_ep, patience = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 8:
                log.info("fold %d: no val improvement for 8 epochs, stopping at epoch %d", fold + 1, ep)
                break
    model.update(best_w)
    acc = ((model(xva) > 0) == (yva > 0.5)).astype(mx.float32).mean().item()
    base = max(yva.mean().item(), 1 - yva.mean().item())
    log.info("fold %d: restored epoch %d weights, val_bce %.4f", fold + 1, best_ep, bce(model, xva, yva).item())
    summary.append((fold + 1, best_ep, best, acc, base))

print("fold | best_ep | val_bce | val_acc | majority")
for f, e, b, a, m in summary:
    print(f"{f:4d} | {e:7d} | {b:7.4f} | {100 * a:6.1f}% | {100 * m:7.1f}%")
print(f"mean val_acc {100 * sum(s[3] for s in summary) / FOLDS:.1f}% vs majority {100 * sum(s[4] for s in summary) / FOLDS:.1f}%")
