"""Hive-state classifier from acoustic summaries, semi-supervised (Mean Teacher).

Only a few hives were opened and inspected (labelled); most recordings are
unlabelled.  The student learns from the labelled batch with cross-entropy and
from unlabelled batches through a consistency term against an EMA teacher.
The consistency weight ramps up from 0, so the printed total loss first rises.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ("queenright", "queenless", "swarm-prep")
N_FEAT = 8


def build_data(seed=91):
    rng = np.random.default_rng(seed)
    centres = np.array(
        [
            [[1.2, 0.2, -0.5, 0.8, 0.0, -0.3, 0.4, 0.1], [0.6, 1.0, -0.2, 0.3, 0.5, -0.6, 0.0, 0.2]],
            [[-1.0, -0.4, 0.9, -0.2, 0.6, 0.5, -0.7, 0.0], [-0.4, -1.1, 0.3, -0.8, 0.1, 0.9, -0.2, -0.3]],
            [[0.1, 0.3, 0.2, -1.1, -0.9, 0.0, 0.9, 0.6], [0.5, -0.5, -0.8, -0.6, -0.4, 0.4, 1.1, -0.5]],
        ],
        dtype=np.float32,
    )

    def draw(n):
        y = rng.integers(0, 3, size=n)
        sub = rng.integers(0, 2, size=n)
        x = centres[y, sub] + 0.55 * rng.standard_normal((n, N_FEAT)).astype(np.float32)
        # a nonlinear twist: pitch band depends on the product of two others
        x[:, 4] += 0.5 * np.tanh(x[:, 0] * x[:, 3])
        return x.astype(np.float32), y.astype(np.int32)

    x_lab, y_lab = draw(150)
    x_unl, _ = draw(6000)  # labels thrown away: never inspected
    x_test, y_test = draw(2000)
    return x_lab, y_lab, x_unl, x_test, y_test


class HiveNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(CLASSES))

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h))
        return self.out(h)


def sigmoid_rampup(step, length):
    if step >= length:
        return 1.0
    phase = 1.0 - step / length
    return float(np.exp(-5.0 * phase * phase))


def accuracy(model, x, y):
    pred = mx.argmax(model(mx.array(x)), axis=1)
    return 100.0 * mx.mean(pred == mx.array(y)).item()


def sx(tag, *items):
    """Render one report as an s-expression."""
    parts = []
    for it in items:
        if isinstance(it, tuple):
            parts.append(sx(*it))
        elif isinstance(it, float):
            parts.append(f"{it:.4f}")
        else:
            parts.append(str(it))
    return "(" + " ".join([tag] + parts) + ")"


def main():
    t0 = time.perf_counter()
    x_lab, y_lab, x_unl, x_test, y_test = build_data()
    print(sx("data", ("labelled", len(x_lab)), ("unlabelled", len(x_unl)), ("test", len(x_test)),
             ("classes", *CLASSES)))

    mx.random.seed(3)
    student = HiveNet()
    teacher = HiveNet()
    teacher.update(tree_map(lambda p: mx.array(p), student.parameters()))
    teacher.freeze()  # the teacher is never trained by gradients, only by EMA
    mx.eval(student.parameters(), teacher.parameters())

    steps, ramp_len, w_max, ema_decay = 2400, 1000, 8.0, 0.99
    noise_sd = 0.25
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, xl, yl, xu_s, xu_t, w):
        ce = nn.losses.cross_entropy(model(xl), yl, reduction="mean")
        p_s = mx.softmax(model(xu_s), axis=-1)
        p_t = mx.stop_gradient(mx.softmax(teacher(xu_t), axis=-1))
        cons = mx.mean(mx.sum((p_s - p_t) ** 2, axis=-1))
        return ce + w * cons, (ce, cons)

    grad_fn = nn.value_and_grad(student, loss_fn)
    rng = np.random.default_rng(7)

    print(sx("untrained", ("test-acc%", ("student", accuracy(student, x_test, y_test)),
                           ("teacher", accuracy(teacher, x_test, y_test)))))

    window = []
    for step in range(1, steps + 1):
        li = rng.integers(0, len(x_lab), size=32)
        ui = rng.integers(0, len(x_unl), size=128)
        xu = x_unl[ui]
        xl = mx.array(x_lab[li] + noise_sd * rng.standard_normal((32, N_FEAT)).astype(np.float32))
        xu_s = mx.array(xu + noise_sd * rng.standard_normal(xu.shape).astype(np.float32))
        xu_t = mx.array(xu + noise_sd * rng.standard_normal(xu.shape).astype(np.float32))
        w = w_max * sigmoid_rampup(step - 1, ramp_len)

        (total, (ce, cons)), grads = grad_fn(student, xl, mx.array(y_lab[li]), xu_s, xu_t, mx.array(w))
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if mx.all(g == 0).item()]
            print(sx("grad-check", ("leaves", len(leaves)), ("all-zero", *zero) if zero else ("all-zero",),
                     ("teacher-trainable", len(tree_flatten(teacher.trainable_parameters())))))
        opt.update(student, grads)
        # EMA teacher: a = min(decay, 1 - 1/(step+1)) warms the average up early
        a = min(ema_decay, 1.0 - 1.0 / (step + 1))
        teacher.update(tree_map(lambda t, s: a * t + (1.0 - a) * s,
                                teacher.parameters(), student.parameters()))
        mx.eval(student.parameters(), teacher.parameters(), opt.state, total, ce, cons)
        window.append((total.item(), ce.item(), cons.item()))

        if step % 200 == 0 or step == 1:
            m = np.mean(window, axis=0)
            window = []
            print(sx("step", step, ("w", w), ("total", float(m[0])), ("ce", float(m[1])),
                     ("consistency", float(m[2])),
                     ("test-acc%", ("student", accuracy(student, x_test, y_test)),
                      ("teacher", accuracy(teacher, x_test, y_test))),
                     ("secs", f"{time.perf_counter() - t0:.1f}")))

    print(sx("done", ("teacher-test-acc%", accuracy(teacher, x_test, y_test)),
             ("chance%", round(100.0 * np.bincount(y_test).max() / len(y_test), 1))))


if __name__ == "__main__":
    main()
