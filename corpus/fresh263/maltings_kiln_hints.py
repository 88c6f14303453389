"""Maltings kiln: grade a malt batch (4 grades) from 10 kiln-log readings.

A wide teacher is fitted first and frozen.  The thin student is then taught in
two stages, FitNets style: stage 1 regresses the student's middle layer (through
a small linear regressor) onto the teacher's middle layer; stage 2 trains the
whole student on soft targets at T=4 plus a little hard-label loss.  Stage 1
and stage 2 losses are on different scales."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_FEAT, N_CLS = 10, 4
names = ["germ_moist", "air_on", "air_off", "hours", "fan_pct", "recirc",
         "steep_h", "chit_len", "sulphur", "bed_depth"]


def make(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    z = np.stack([
        1.4 * x[:, 0] - 0.8 * x[:, 3] + 0.6 * np.tanh(2 * x[:, 1] * x[:, 2]),
        1.1 * x[:, 4] + 0.9 * np.sin(1.5 * x[:, 5]) - 0.5 * x[:, 9],
        0.9 * x[:, 6] * x[:, 7] + 0.7 * x[:, 8] - 0.4 * x[:, 0],
        0.8 * np.abs(x[:, 1]) - 0.9 * x[:, 2] + 0.5 * x[:, 3] * x[:, 9],
    ], axis=1)
    y = np.argmax(z + rng.gumbel(size=z.shape) * 0.6, axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


Xtr, Ytr = make(6000)
Xte, Yte = make(2000)
majority = np.bincount(np.array(Ytr)).max() / len(Ytr)
print(f"batches: train {Xtr.shape[0]}  test {Xte.shape[0]}  features {names}")
print(f"grade shares {np.round(np.bincount(np.array(Ytr)) / len(Ytr), 3)}  majority baseline {majority:.3f}")


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, N_CLS)

    def middle(self, x):
        return nn.silu(self.l2(nn.silu(self.l1(x))))

    def __call__(self, x):
        return self.head(self.middle(x))


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def minibatches(x, y, bs):
    idx = mx.array(rng.permutation(x.shape[0]))
    for i in range(0, x.shape[0] - bs + 1, bs):
        j = idx[i : i + bs]
        yield x[j], y[j]


# ---------------- teacher ----------------
teacher = Net(160)
mx.eval(teacher.parameters())
t_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


t_vg = nn.value_and_grad(teacher, ce_loss)
tic = time.time()
for ep in range(8):
    for xb, yb in minibatches(Xtr, Ytr, 100):
        l, g = t_vg(teacher, xb, yb)
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
t_acc = accuracy(teacher, Xte, Yte)
print(f"teacher fitted in {time.time() - tic:.1f}s  test acc {t_acc:.3f}")
teacher.freeze()
t_snapshot = {k: mx.array(v) for k, v in tree_flatten(teacher.parameters())}

# ---------------- stage 1: hints ----------------
student = Net(20)
regressor = nn.Linear(20, 160)
mx.eval(student.parameters(), regressor.parameters())


class HintPair(nn.Module):
    def __init__(self, s, r):
        super().__init__()
        self.s = s
        self.r = r


pair = HintPair(student, regressor)
pair.s.head.freeze()


def hint_loss(m, x):
    target = mx.stop_gradient(teacher.middle(x))
    return ((m.r(m.s.middle(x)) - target) ** 2).mean()


h_opt = optim.Adam(learning_rate=3e-3)
h_vg = nn.value_and_grad(pair, hint_loss)
step = 0
for ep in range(5):
    for xb, _ in minibatches(Xtr, Ytr, 100):
        l, g = h_vg(pair, xb)
        h_opt.update(pair, g)
        mx.eval(pair.parameters(), h_opt.state)
        step += 1
    print(f"[hint] epoch {ep + 1} step {step}  hint mse {l.item():.4f}")
pair.s.head.unfreeze()
print(f"after hints: student test acc {accuracy(student, Xte, Yte):.3f} (head still at init)")

# ---------------- stage 2: soft targets ----------------
T, ALPHA = 4.0, 0.9


def kd_loss(model, x, y):
    s = model(x)
    t = mx.stop_gradient(teacher(x))
    t_logp = nn.log_softmax(t / T, axis=-1)
    kl = (mx.exp(t_logp) * (t_logp - nn.log_softmax(s / T, axis=-1))).sum(-1).mean()
    hard = nn.losses.cross_entropy(s, y, reduction="mean")
    return ALPHA * T * T * kl + (1 - ALPHA) * hard


k_opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
k_vg = nn.value_and_grad(student, kd_loss)
for ep in range(10):
    run, n = 0.0, 0
    for xb, yb in minibatches(Xtr, Ytr, 100):
        l, g = k_vg(student, xb, yb)
        k_opt.update(student, g)
        mx.eval(student.parameters(), k_opt.state)
        run += l.item()
        n += 1
    if ep % 3 == 2 or ep == 0 or ep == 9:
        print(f"[soft] epoch {ep + 1}  loss {run / n:.4f}  student test acc "
              f"{accuracy(student, Xte, Yte):.3f}  teacher {t_acc:.3f}  majority {majority:.3f}")

drift = max(mx.abs(v - t_snapshot[k]).max().item()
            for k, v in tree_flatten(teacher.parameters()))
s_params = sum(v.size for _, v in tree_flatten(student.parameters()))
t_params = sum(v.size for _, v in tree_flatten(teacher.parameters()))
print(f"final: student {s_params} params acc {accuracy(student, Xte, Yte):.3f}  "
      f"teacher {t_params} params acc {t_acc:.3f}  teacher drift {drift:.1e}")
