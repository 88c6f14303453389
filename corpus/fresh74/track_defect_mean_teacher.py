"""Semi-supervised railway-track defect classification with a mean teacher.

Axle-box accelerometer windows summarised by 12 features (band energies,
kurtosis, crest factor, speed). Four classes: sound / squat / joint / corrugation.
Only 240 windows are labelled; 8000 are not.  The student is trained on
labelled cross-entropy + a consistency term towards an EMA teacher whose
weights are never given to the optimizer (mx.stop_gradient on its output).
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def synth(n, rng):
    y = rng.integers(0, 4, size=n)
    speed = rng.uniform(40, 160, size=n)
    base = rng.normal(0, 1, size=(n, 12))
    sig = np.zeros((n, 12))
    sig[y == 1, 2:5] += 1.1      # squat: mid band burst
    sig[y == 2, 0:2] += 1.0      # joint: low band impact
    sig[y == 2, 9] += 0.9        # crest factor
    sig[y == 3, 5:8] += 0.9      # corrugation: periodic high band
    sig[y == 3, 10] -= 0.8
    x = base * 0.8 + sig * (0.6 + speed[:, None] / 200.0)
    x[:, 11] = (speed - 100) / 35.0
    return x.astype(np.float32), y.astype(np.int32)


class DefectNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Dropout(0.1),
                                  nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def emit(**rec):
    print(json.dumps(rec), flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    xl, yl = synth(240, rng)
    xu, _ = synth(8000, rng)
    xt, yt = synth(3000, rng)
    xl, yl, xu, xt, yt = map(mx.array, (xl, yl, xu, xt, yt))

    mx.random.seed(3)
    student = DefectNet()
    teacher = DefectNet()
    teacher.update(tree_map(lambda p: mx.array(p), student.parameters()))
    teacher.eval()
    opt = optim.Adam(learning_rate=1e-3)
    ema_decay = 0.99
    steps, bl, bu = 1500, 32, 128

    def loss_fn(xb_l, yb_l, xb_u, noise_s, noise_t):
        ce = nn.losses.cross_entropy(student(xb_l), yb_l, reduction="mean")
        p_s = mx.softmax(student(xb_u + noise_s), axis=-1)
        p_t = mx.stop_gradient(mx.softmax(teacher(xb_u + noise_t), axis=-1))
        cons = mx.mean(mx.sum((p_s - p_t) ** 2, axis=-1))
        return ce + w_cons[0] * cons, (ce, cons)

    w_cons = [0.0]
    vg = nn.value_and_grad(student, loss_fn)

    def acc(model, x, y):
        model.eval()
        a = float(mx.mean(mx.argmax(model(x), axis=1) == y).item())
        model.train()
        return a

    emit(event="data", labelled=int(xl.shape[0]), unlabelled=int(xu.shape[0]), test=int(xt.shape[0]),
         chance_acc=round(float(np.bincount(np.array(yt)).max() / yt.shape[0]), 4))
    ce_hist, cons_hist = [], []
    for step in range(1, steps + 1):
        # consistency weight ramps up with a sigmoid schedule over the first 500 steps
        r = min(step, 500) / 500.0
        w_cons[0] = 8.0 * float(np.exp(-5.0 * (1.0 - r) ** 2))
        il = mx.array(rng.integers(0, xl.shape[0], size=bl))
        iu = mx.array(rng.integers(0, xu.shape[0], size=bu))
        ns = 0.3 * mx.random.normal((bu, 12))
        nt = 0.3 * mx.random.normal((bu, 12))
        (loss, (ce, cons)), grads = vg(xl[il], yl[il], xu[iu], ns, nt)
        if step == 1:
            flat = tree_flatten(grads)
            emit(event="grad_check", leaves=len(flat),
                 zero=[k for k, g in flat if float(mx.abs(g).max().item()) == 0.0],
                 teacher_in_optimizer=False)
        opt.update(student, grads)
        # EMA teacher: a moving average of the student, outside of autodiff
        teacher.update(tree_map(lambda t, s: ema_decay * t + (1 - ema_decay) * s,
                                teacher.parameters(), student.parameters()))
        mx.eval(student.parameters(), teacher.parameters(), opt.state, loss)
        ce_hist.append(ce.item())
        cons_hist.append(cons.item())
        if step in (1, 50) or step % 250 == 0:
            emit(step=step, w_cons=round(w_cons[0], 3),
                 ce_labelled=round(float(np.mean(ce_hist[-50:])), 4),
                 consistency=round(float(np.mean(cons_hist[-50:])), 5),
                 student_test_acc=round(acc(student, xt, yt), 4),
                 teacher_test_acc=round(acc(teacher, xt, yt), 4),
                 secs=round(time.time() - t0, 1))
    emit(event="done", teacher_test_acc=round(acc(teacher, xt, yt), 4), secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
