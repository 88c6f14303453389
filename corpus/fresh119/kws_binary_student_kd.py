# Keyword spotting for a microcontroller: a float teacher is trained first,
# then a binary-weight student (weights are +-alpha at inference) is distilled
# from it.  The student keeps float "latent" weights; the forward pass uses
# their sign through a straight-through estimator, and the latent weights
# are clipped to [-1, 1] after every step (BinaryConnect).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off"]
N_FEAT, HID = 40, 128
T_KD, ALPHA_KD = 4.0, 0.7


def make_data(n, rng, centers):
    y = rng.integers(0, len(KEYWORDS), n)
    speaker = rng.standard_normal((n, 4)) @ rng_mix
    x = centers[y] + 0.9 * speaker + 0.8 * rng.standard_normal((n, N_FEAT))
    return x.astype(np.float32), y.astype(np.int32)


rng = np.random.default_rng(2024)
centers = rng.standard_normal((len(KEYWORDS), N_FEAT)) * 0.6
rng_mix = rng.standard_normal((4, N_FEAT)) * 0.5
Xtr, Ytr = make_data(12000, rng, centers)
Xte, Yte = make_data(2000, rng, centers)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_FEAT, 256), nn.ReLU(),
                                 nn.Linear(256, 256), nn.ReLU(),
                                 nn.Linear(256, len(KEYWORDS)))

    def __call__(self, x):
        return self.net(x)


class BinaryLinear(nn.Module):
    """Linear layer whose forward pass sees alpha * sign(w)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = mx.random.uniform(-1.0, 1.0, (d_out, d_in))
        self.bias = mx.zeros((d_out,))

    def __call__(self, x):
        w = self.weight
        alpha = mx.stop_gradient(mx.mean(mx.abs(w), axis=1, keepdims=True))
        wb = alpha * mx.where(w >= 0, 1.0, -1.0)
        w_ste = w + mx.stop_gradient(wb - w)   # forward: wb, backward: identity
        return x @ w_ste.T + self.bias


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = BinaryLinear(N_FEAT, HID)
        self.n1 = nn.LayerNorm(HID)
        self.b2 = BinaryLinear(HID, HID)
        self.n2 = nn.LayerNorm(HID)
        self.head = nn.Linear(HID, len(KEYWORDS))   # last layer stays float

    def __call__(self, x):
        h = nn.relu(self.n1(self.b1(x)))
        h = nn.relu(self.n2(self.b2(h)))
        return self.head(h)


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def accuracy(model, X, Y):
    pred = np.array(mx.argmax(model(mx.array(X)), axis=1))
    return 100.0 * float((pred == Y).mean())


Xtr_m, Ytr_m = mx.array(Xtr), mx.array(Ytr)

# ---------------------------------------------------------------- teacher
mx.random.seed(0)
teacher = Teacher()
t_opt = optim.Adam(learning_rate=1e-3)


def teacher_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


t_step = nn.value_and_grad(teacher, teacher_loss)
t0 = time.time()
print("== teacher (float, 256-256) ==")
for epoch in range(1, 6):
    for idx in batches(len(Xtr), 128, rng):
        loss, g = t_step(teacher, Xtr_m[idx], Ytr_m[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state, loss)
teacher.freeze()
teacher.eval()
teacher_acc = accuracy(teacher, Xte, Yte)
print(f"teacher test accuracy {teacher_acc:.1f}%  ({time.time() - t0:.1f}s)")

# ---------------------------------------------------------------- student
mx.random.seed(1)
student = Student()
mx.eval(student.parameters())
EPOCHS = 15
steps_per_epoch = len(Xtr) // 64
sched = optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch, 1e-5)
s_opt = optim.Adam(learning_rate=sched)


def kd_loss(model, x, y):
    logits = model(x)
    soft_t = mx.softmax(teacher(x) / T_KD, axis=-1)
    log_s = logits / T_KD - mx.logsumexp(logits / T_KD, axis=-1, keepdims=True)
    kl = mx.sum(soft_t * (mx.log(soft_t + 1e-12) - log_s), axis=-1).mean() * T_KD ** 2
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ALPHA_KD * kl + (1 - ALPHA_KD) * ce


s_step = nn.value_and_grad(student, kd_loss)


def clip_latent(model):
    latent = [(name, mx.clip(p, -1.0, 1.0))
              for name, p in tree_flatten(model.trainable_parameters())
              if name.startswith("b") and name.endswith("weight")]
    model.update(tree_unflatten(latent))


def signs(model):
    return np.concatenate([np.array(model.b1.weight >= 0).ravel(),
                           np.array(model.b2.weight >= 0).ravel()])


print("== student (binary weights 128-128, distilled, T=4) ==")
print(f"untrained student accuracy {accuracy(student, Xte, Yte):.1f}%   chance {100 / len(KEYWORDS):.1f}%")
t_teacher = np.array(mx.argmax(teacher(mx.array(Xte)), axis=1))
prev = signs(student)
first = True
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    tot, n = 0.0, 0
    for idx in batches(len(Xtr), 64, rng):
        loss, g = s_step(student, Xtr_m[idx], Ytr_m[idx])
        if first:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if not bool(mx.any(v != 0))]
            print(f"step-1 gradients: {len(leaves)} leaves, zero leaves {zero}")
            first = False
        s_opt.update(student, g)
        clip_latent(student)
        mx.eval(student.parameters(), s_opt.state, loss)
        tot += loss.item()
        n += 1
    now = signs(student)
    flips = 100.0 * float((now != prev).mean())
    prev = now
    pred = np.array(mx.argmax(student(mx.array(Xte)), axis=1))
    acc = 100.0 * float((pred == Yte).mean())
    agree = 100.0 * float((pred == t_teacher).mean())
    print(f"epoch {epoch:2d}/{EPOCHS} ─ kd {tot / n:.4f} ─ acc {acc:5.1f}% ─ agree {agree:5.1f}%"
          f" ─ flips {flips:5.2f}% ─ lr {float(s_opt.learning_rate):.2e}")

bits = student.b1.weight.size + student.b2.weight.size
print(f"done in {time.time() - t0:.1f}s: student {acc:.1f}% vs teacher {teacher_acc:.1f}%, "
      f"{bits} binary weights = {math.ceil(bits / 8)} bytes")
