# Knowledge distillation: squeeze a wide "teacher" MLP into a small student.
# The KD term is written out by hand from the formula in the
# mlx.nn.losses.kl_div_loss docstring so the temperature can be applied
# to both sides before the log-softmax.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
D, C, T = 20, 8, 2.0


def make_data(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, D), key=k1)
    # label = which of 8 random directions the point is closest to, plus a twist
    proj = x @ DIRS + 0.4 * mx.sin(3.0 * x[:, :C])
    return x, mx.argmax(proj, axis=1)


DIRS = mx.random.normal((D, C))
x_lab, y_lab = make_data(6000, mx.random.key(1))
x_val, y_val = make_data(2000, mx.random.key(2))
x_unl, _ = make_data(20000, mx.random.key(3))  # unlabeled transfer set


def mlp(width, depth):
    layers, d = [], D
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.GELU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, C))


def acc(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


# ---------------------------------------------------------------- teacher
teacher = mlp(128, 3)
t_opt = optim.Adam(learning_rate=1e-3)
t_step = nn.value_and_grad(
    teacher, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
t0 = time.time()
for it in range(500):
    idx = mx.random.randint(0, x_lab.shape[0], (128,))
    l, g = t_step(teacher, x_lab[idx], y_lab[idx])
    t_opt.update(teacher, g)
    mx.eval(teacher.parameters(), t_opt.state)
teacher.freeze()
print(f"teacher: val_acc={acc(teacher, x_val, y_val):.3f}  ({time.time() - t0:.1f}s)")


# ---------------------------------------------------------------- student
def kd_loss(student, x):
    t_logp = nn.log_softmax(teacher(x) / T, axis=-1)   # targets (log space)
    s_logp = nn.log_softmax(student(x) / T, axis=-1)   # inputs  (log space)
    kl = mx.exp(t_logp) * (t_logp - s_logp).sum(axis=-1, keepdims=True)
    return kl.mean() * T * T


def true_kl(student, x):
    t = nn.log_softmax(teacher(x) / T, axis=-1)
    s = nn.log_softmax(student(x) / T, axis=-1)
    return (mx.exp(t) * (t - s)).sum(axis=-1).mean().item()


student = mlp(32, 1)
s_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
s_step = nn.value_and_grad(student, kd_loss)
print(f"student params: {sum(v.size for _, v in tree_flatten(student.parameters()))}")
print(f"{'epoch':>5} | {'kd_loss':>9} | {'KL(t||s)':>9} | {'agree':>6} | {'val_acc':>7} | {'time':>6}")
BATCH = 256
steps_per_epoch = x_unl.shape[0] // BATCH
for epoch in range(1, 9):
    perm = mx.random.permutation(x_unl.shape[0])
    tot = 0.0
    for b in range(steps_per_epoch):
        xb = x_unl[perm[b * BATCH:(b + 1) * BATCH]]
        loss, grads = s_step(student, xb)
        s_opt.update(student, grads)
        mx.eval(loss, student.parameters(), s_opt.state)
        tot += loss.item()
    agree = (mx.argmax(student(x_val), 1) == mx.argmax(teacher(x_val), 1)).astype(mx.float32).mean().item()
    print(f"{epoch:>5} | {tot / steps_per_epoch:>9.4f} | {true_kl(student, x_val):>9.4f} | "
          f"{agree:>6.3f} | {acc(student, x_val, y_val):>7.3f} | {time.time() - t0:>5.1f}s")
print(f"chance level = {1 / C:.3f}")
