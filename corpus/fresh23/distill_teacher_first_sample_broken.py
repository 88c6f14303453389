# Knowledge distillation on a synthetic 6-class tabular task:
# a wide MLP teacher is trained first, then a small student learns from
# alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher || student).
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
N_CLASSES, DIM = 6, 24
centers = rng.standard_normal((N_CLASSES, DIM)).astype(np.float32) * 1.1

def sample(n):
    y = rng.integers(0, N_CLASSES, size=n)
    x = centers[y] + rng.standard_normal((n, DIM)).astype(np.float32)
    x = np.tanh(x) + 0.1 * x ** 2
    return x.astype(np.float32), y.astype(np.int32)

x_tr, y_tr = sample(8000)
x_te, y_te = sample(2000)


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def acc(model, x, y):
    return mx.mean(mx.argmax(model(mx.array(x)), -1) == mx.array(y)).item()


def batches(bs):
    perm = rng.permutation(len(x_tr))
    for s in range(0, len(perm), bs):
        i = perm[s:s + bs]
        yield mx.array(x_tr[i]), mx.array(y_tr[i])


# ---- stage 1: teacher -------------------------------------------------
teacher = mlp([DIM, 256, 256, N_CLASSES])
t_opt = optim.Adam(learning_rate=1e-3)
t_step = nn.value_and_grad(
    teacher, lambda m, x, y: mx.mean(nn.losses.cross_entropy(m(x), y)))
for ep in range(4):
    for xb, yb in batches(64):
        l, g = t_step(teacher, xb, yb)
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
teacher.eval()
print(json.dumps({"stage": "teacher", "test_acc": round(acc(teacher, x_te, y_te), 4)}))


# ---- stage 2: student with distillation -------------------------------
class TeacherOp:
    """Runs the frozen teacher on the incoming batch."""

    def __init__(self, model):
        self.model = model

    def forward(self, data):
        x = data[0]
        return mx.stop_gradient(self.model(x))


def distill_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.1):
    log_p = student_logits - mx.logsumexp(student_logits, axis=-1, keepdims=True)
    hard = -mx.mean(mx.take_along_axis(log_p, labels[:, None], axis=1))
    s_soft = mx.softmax(student_logits / T, axis=-1)
    t_soft = mx.softmax(teacher_logits / T, axis=-1)
    kl = mx.mean(mx.sum(t_soft * (mx.log(t_soft + 1e-8) - mx.log(s_soft + 1e-8)), axis=-1))
    return alpha * hard + (1 - alpha) * kl * T * T


student = mlp([DIM, 32, N_CLASSES])
s_opt = optim.Adam(learning_rate=2e-3)
teacher_op = TeacherOp(teacher)


def student_loss(model, x, t_logits, y):
    return distill_loss(model(x), t_logits, y)


s_step = nn.value_and_grad(student, student_loss)
t0 = time.time()
step = 0
for ep in range(1, 9):
    tot, n = 0.0, 0
    for xb, yb in batches(64):
        t_logits = teacher_op.forward(xb)
        loss, grads = s_step(student, xb, t_logits, yb)
        s_opt.update(student, grads)
        mx.eval(student.parameters(), s_opt.state, loss)
        tot += loss.item(); n += 1; step += 1
        if step % 100 == 0:
            print(json.dumps({"step": step, "distill_loss": round(tot / n, 4)}))
    print(json.dumps({"epoch": ep, "distill_loss": round(tot / n, 4),
                      "student_test_acc": round(acc(student, x_te, y_te), 4),
                      "elapsed_s": round(time.time() - t0, 1)}))
