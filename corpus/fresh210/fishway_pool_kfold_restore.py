# Fishway (fish ladder) pools: does a tagged salmon clear pool k within 30 min?
# Features per attempt: head drop (cm), flow (m3/s), water temp (C), fish length (cm),
# hour of day (cyclic), pool index. 3-fold CV; each fold trains a fresh MLP with
# RMSprop, patience-based early stopping and restore of the best weights.
# The cyclic hour encoder is a fixed random-Fourier block (frozen on purpose).
# The hidden activation is a "leaky hard clamp" with a hand-written VJP.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(2024)
N = 2400


def make_attempts(n):
    drop = mx.random.uniform(10, 45, (n,))
    flow = mx.random.uniform(0.2, 1.6, (n,))
    temp = mx.random.uniform(4, 22, (n,))
    length = mx.random.normal((n,)) * 9 + 62
    hour = mx.random.uniform(0, 24, (n,))
    pool = mx.random.randint(0, 8, (n,)).astype(mx.float32)
    z = (2.2 - 0.09 * (drop - 25) + 1.4 * (flow - 0.9) - 0.018 * (temp - 13) ** 2
         + 0.04 * (length - 62) + 0.7 * mx.cos(2 * math.pi * (hour - 20) / 24) - 0.12 * pool)
    p = mx.sigmoid(z)
    y = (mx.random.uniform(shape=(n,)) < p).astype(mx.float32)
    num = mx.stack([(drop - 27) / 10, (flow - 0.9) / 0.4, (temp - 13) / 5, (length - 62) / 9, pool / 4 - 1], 1)
    return num, hour, y


@mx.custom_function
def clamp_act(x):
    return mx.clip(x, -1.0, 1.0) + 0.05 * x


@clamp_act.vjp
def clamp_act_vjp(primals, cotangent, output):
    x = primals
    inside = (mx.abs(x) <= 1.0).astype(cotangent.dtype)
    return cotangent * (inside + 0.05)


class HourFourier(nn.Module):
    def __init__(self, k=6):
        super().__init__()
        self.freq = mx.random.normal((1, k)) * 0.8
        self.phase = mx.random.uniform(0, 2 * math.pi, (1, k))

    def __call__(self, hour):
        ang = 2 * math.pi * hour[:, None] / 24
        return mx.concatenate([mx.sin(ang * self.freq + self.phase), mx.cos(ang), mx.sin(ang)], 1)


class PassNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hours = HourFourier()
        self.l1 = nn.Linear(5 + 8, 32)
        self.l2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, num, hour):
        h = mx.concatenate([num, self.hours(hour)], 1)
        h = clamp_act(self.l1(h))
        h = clamp_act(self.l2(h))
        return self.out(h).squeeze(-1)


num, hour, y = make_attempts(N)
base_rate = y.mean().item()
folds = mx.arange(N) % 3


def bce(m, a, b, t):
    return nn.losses.binary_cross_entropy(m(a, b), t, with_logits=True, reduction="mean")


def metrics(m, a, b, t):
    logit = m(a, b)
    loss = nn.losses.binary_cross_entropy(logit, t, with_logits=True, reduction="mean")
    acc = ((logit > 0).astype(mx.float32) == t).astype(mx.float32).mean()
    return loss.item(), 100 * acc.item()


print(f"attempts={N}  cleared={100 * base_rate:.1f}%  (majority-class acc {100 * max(base_rate, 1 - base_rate):.1f}%)")
print(f"{'fold':>4} {'ep':>3} {'train_bce':>9} {'val_bce':>8} {'val_acc%':>8} {'best':>6} {'wait':>4}")
summary = []
for k in range(3):
    tr = mx.array([i for i in range(N) if i % 3 != k])
    va = mx.array([i for i in range(N) if i % 3 == k])
    model = PassNet()
    model.hours.freeze()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    vg = nn.value_and_grad(model, bce)
    best, best_w, wait, patience = float("inf"), None, 0, 6
    for ep in range(1, 61):
        perm = tr[mx.random.permutation(tr.shape[0])]
        tot = 0.0
        for j in range(0, perm.shape[0], 80):
            b = perm[j:j + 80]
            loss, g = vg(model, num[b], hour[b], y[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.shape[0]
        vl, vacc = metrics(model, num[va], hour[va], y[va])
        if vl < best - 1e-4:
            best, wait = vl, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_w)
        else:
            wait += 1
        if ep <= 2 or ep % 5 == 0 or wait >= patience:
            print(f"{k:>4} {ep:>3} {tot / tr.shape[0]:>9.4f} {vl:>8.4f} {vacc:>8.2f} {best:>6.4f} {wait:>4}")
        if wait >= patience:
            print(f"     fold {k}: no val gain for {patience} epochs, stopping at epoch {ep}")
            break
    model.update(best_w)
    vl, vacc = metrics(model, num[va], hour[va], y[va])
    summary.append((k, vl, vacc))
    print(f"     fold {k}: restored best -> val_bce {vl:.4f}  val_acc {vacc:.2f}%")

print("fold | val_bce | val_acc%")
for k, vl, vacc in summary:
    print(f"{k:>4} | {vl:.4f}  | {vacc:.2f}")
print(f"mean | {sum(s[1] for s in summary) / 3:.4f}  | {sum(s[2] for s in summary) / 3:.2f}")
