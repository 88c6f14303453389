# Shearing-shed handpiece monitor: 4-way comb/cutter condition
#   0 sharp, 1 dull, 2 gapped comb tooth, 3 overheating
# from 10 handpiece readings (motor current A, vibration RMS g, body temp C,
# strokes/min, fleece density index, lanolin index, cutter age h, comb age h,
# tension turns, shearer speed sheep/h).  Synthetic.
#
# Front layer is a sign-binarised (+-1 * per-row scale) Linear trained with a
# straight-through estimator written as mx.custom_function + vjp; the whole
# step is mx.compile'd with model+optimizer state captured.
# LR: linear warm-up that starts at exactly 0, then SGDR warm restarts,
# so the loss jumps back up at each restart before settling lower.
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rs = np.random.RandomState(1441)
N_TR, N_TE, D, K = 4000, 1000, 10, 4


def shed_day(n):
    y = rs.choice(K, size=n, p=[0.45, 0.25, 0.15, 0.15])
    x = rs.normal(0, 1, size=(n, D))
    x[:, 0] += 0.9 * (y == 1) + 1.4 * (y == 3)          # current
    x[:, 1] += 1.3 * (y == 2) + 0.4 * (y == 1)          # vibration
    x[:, 2] += 1.6 * (y == 3) + 0.3 * (y == 1)          # body temp
    x[:, 3] -= 0.8 * (y == 1) + 0.5 * (y == 2)          # strokes/min
    x[:, 6] += 0.7 * (y == 1)                           # cutter age
    x[:, 7] += 0.8 * (y == 2)                           # comb age
    x[:, 8] += np.where(y == 3, 0.9 * x[:, 4], 0.0)     # tension x density
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = shed_day(N_TR)
xte, yte = shed_day(N_TE)
m, s = xtr.mean(0), xtr.std(0)
Xtr, Ytr = mx.array((xtr - m) / s), mx.array(ytr)
Xte, Yte = mx.array((xte - m) / s), mx.array(yte)
majority = float((yte == np.bincount(ytr).argmax()).mean())


@mx.custom_function
def binarize(w):
    scale = mx.mean(mx.abs(w), axis=1, keepdims=True)
    return mx.where(w >= 0, 1.0, -1.0) * scale


@binarize.vjp
def binarize_vjp(primals, cotangent, output):
    w = primals
    # straight-through, clipped to |w| <= 1
    return cotangent * (mx.abs(w) <= 1.0)


class BinaryFront(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.weight = mx.random.uniform(-0.5, 0.5, (dout, din))
        self.bias = mx.zeros((dout,))

    def __call__(self, x):
        return x @ binarize(self.weight).T + self.bias


class CombNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = BinaryFront(D, 48)
        self.norm = nn.LayerNorm(48)
        self.hidden = nn.Linear(48, 32)
        self.out = nn.Linear(32, K)

    def __call__(self, x):
        h = nn.relu(self.norm(self.front(x)))
        return self.out(nn.relu(self.hidden(h)))


mx.random.seed(1441)
net = CombNet()
mx.eval(net.parameters())

EPOCHS, BS = 36, 128
steps_per_ep = N_TR // BS
warm = 2 * steps_per_ep
cycle_eps = [4, 8, 16]                      # restarts after epochs 6 and 14 (+2 warm-up)
lr_max, lr_min = 0.08, 0.002
sched = [optim.linear_schedule(0.0, lr_max, warm)]
bounds = [warm]
for i, ce in enumerate(cycle_eps):
    sched.append(optim.cosine_decay(lr_max, ce * steps_per_ep, lr_min))
    if i < len(cycle_eps) - 1:
        bounds.append(bounds[-1] + ce * steps_per_ep)
lr = optim.join_schedules(sched, bounds)
opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(net, xent)(net, x, y)
    opt.update(net, grads)
    return loss


def evaluate(X, Y):
    logits = net(X)
    loss = nn.losses.cross_entropy(logits, Y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Y)
    return loss.item(), 100.0 * acc.item()


print(f"{'ep':>3} {'lr_end':>8} {'train_xent':>10} {'test_xent':>9} {'test_acc%':>9} {'majority%':>9} {'|W_front|':>9}")
print("-" * 64)
for ep in range(EPOCHS):
    order = mx.array(rs.permutation(N_TR))
    tot = 0.0
    for b in range(steps_per_ep):
        idx = order[b * BS:(b + 1) * BS]
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(loss, state)
        tot += loss.item()
    te_loss, te_acc = evaluate(Xte, Yte)
    wnorm = mx.sqrt(mx.sum(mx.square(net.front.weight))).item()
    print(f"{ep:>3} {opt.learning_rate.item():>8.5f} {tot / steps_per_ep:>10.4f} {te_loss:>9.4f} "
          f"{te_acc:>9.2f} {100 * majority:>9.2f} {wnorm:>9.3f}")

te_loss, te_acc = evaluate(Xte, Yte)
sign_agree = mx.mean(mx.sign(net.front.weight) == mx.sign(binarize(net.front.weight))).item()
print("-" * 64)
print(f"final  test_xent {te_loss:.4f}   test_acc {te_acc:.2f}%   (majority {100 * majority:.2f}%)   "
      f"binary-front sign check {100 * sign_agree:.1f}%")
