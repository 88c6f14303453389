"""Harbour-mouth fog: 4-class visibility (clear / haze / mist / fog) from 8 met readings.

Three models are trained in turn: a wide teacher on the hard labels, then a small
student distilled from the (fixed) teacher's softened outputs, then the same small
student trained on the labels alone for comparison. The student steps are compiled
with their state as inputs/outputs and use a warm-up that starts at lr 0.
Nothing is printed while training; a report card per model is printed at the end.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ["clear", "haze", "mist", "fog"]


def make_obs(n, rng):
    rh = rng.uniform(55, 100, n)                 # relative humidity %
    dep = rng.gamma(2.0, 1.5, n)                  # dew-point depression C
    wind = rng.gamma(2.0, 2.5, n)                 # m/s
    sst_air = rng.normal(0.0, 2.0, n)             # sea minus air temperature C
    hour = rng.uniform(0, 24, n)
    pressure = rng.normal(1015, 8, n)
    aerosol = rng.gamma(2.0, 0.6, n)
    onshore = rng.integers(0, 2, n).astype(float)
    score = (0.09 * (rh - 85) - 0.9 * dep - 0.25 * wind + 0.35 * sst_air * onshore
             + 0.6 * np.cos(2 * np.pi * (hour - 5) / 24) + 0.4 * aerosol
             - 0.02 * (pressure - 1015) + rng.logistic(0, 0.7, n))
    y = np.digitize(score, [-2.0, -0.6, 0.6]).astype(np.int32)
    x = np.stack([rh, dep, wind, sst_air, np.sin(2 * np.pi * hour / 24),
                  np.cos(2 * np.pi * hour / 24), pressure, aerosol, onshore], 1)
    return x.astype(np.float32), y


rng = np.random.default_rng(7)
x_tr, y_tr = make_obs(9000, rng)
x_te, y_te = make_obs(3000, rng)
mu, sd = x_tr.mean(0), x_tr.std(0)
Xtr, Ytr = mx.array((x_tr - mu) / sd), mx.array(y_tr)
Xte, Yte = mx.array((x_te - mu) / sd), mx.array(y_te)
N_IN = x_tr.shape[1]


class MLP(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        dims = [N_IN] + [width] * depth
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(width, 4)

    def __call__(self, x):
        for l in self.layers:
            x = nn.gelu(l(x))
        return self.out(x)


def grad_leaf_check(model, loss_fn, *args):
    _, g = nn.value_and_grad(model, loss_fn)(model, *args)
    flat = tree_flatten(g)
    return sum(1 for _, v in flat if float(mx.abs(v).max()) > 0), len(flat)


def evaluate(model, teacher=None):
    logits = model(Xte)
    ce = nn.losses.cross_entropy(logits, Yte, reduction="mean").item()
    pred = mx.argmax(logits, axis=-1)
    acc = mx.mean(pred == Yte).item()
    fog = Yte == 3
    fog_recall = (mx.sum((pred == 3) & fog) / mx.sum(fog)).item()
    agree = None
    if teacher is not None:
        agree = mx.mean(pred == mx.argmax(teacher(Xte), axis=-1)).item()
    return ce, acc, fog_recall, agree


# ---------------------------------------------------------------- losses
def hard_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


TEMP, ALPHA = 3.0, 0.7


def distill_loss(model, x, y, t_logits):
    s = model(x)
    log_p_s = nn.log_softmax(s / TEMP, axis=-1)
    p_t = mx.softmax(t_logits / TEMP, axis=-1)
    kl = mx.sum(p_t * (mx.log(p_t + 1e-9) - log_p_s), axis=-1).mean()
    ce = nn.losses.cross_entropy(s, y, reduction="mean")
    return ALPHA * TEMP ** 2 * kl + (1 - ALPHA) * ce


history = []   # (model, epoch, lr, train loss, test ce, test acc)


def run(name, model, opt, loss_fn, epochs, batch, teacher=None, compiled=False, seed=0):
    mx.eval(model.parameters())
    extra = ()
    order = np.random.default_rng(seed)
    n = Xtr.shape[0]
    first = order.permutation(n)[:batch]
    if teacher is not None:
        extra = (mx.stop_gradient(teacher(Xtr[mx.array(first)])),)
    nz, tot = grad_leaf_check(model, loss_fn, Xtr[mx.array(first)], Ytr[mx.array(first)], *extra)

    vg = nn.value_and_grad(model, loss_fn)

    def step(*args):
        loss, grads = vg(model, *args)
        opt.update(model, grads)
        return loss

    if compiled:
        opt.init(model.trainable_parameters())
        step = partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])(step)

    history.append((name, 0, 0.0, float("nan")) + evaluate(model, teacher)[:2])
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = order.permutation(n)
        lr_used = float(opt.learning_rate.item())
        run_loss, cnt = 0.0, 0
        for k in range(0, n - batch + 1, batch):
            idx = mx.array(perm[k:k + batch])
            args = (Xtr[idx], Ytr[idx])
            if teacher is not None:
                args += (mx.stop_gradient(teacher(Xtr[idx])),)
            loss = step(*args)
            mx.eval(loss, model.state, opt.state)
            run_loss += loss.item()
            cnt += 1
        history.append((name, ep, lr_used, run_loss / cnt) + evaluate(model, teacher)[:2])
    return dict(secs=time.perf_counter() - t0, grads=f"{nz}/{tot}",
                params=sum(v.size for _, v in tree_flatten(model.trainable_parameters())))


def warm_cosine(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak / 20)],
        [warm])


# ---------------------------------------------------------------- 1. teacher
mx.random.seed(1)
teacher = MLP(width=128, depth=3)
info_t = run("teacher", teacher, optim.Adam(learning_rate=1e-3), hard_loss, epochs=8, batch=64, seed=1)
teacher.freeze()          # fixed from here on: only read for soft targets
t_snapshot = tree_map(lambda a: mx.array(a), teacher.parameters())

# ---------------------------------------------------------------- 2. distilled student
steps_per_epoch = 9000 // 64
mx.random.seed(2)
student = MLP(width=12, depth=1)
opt_s = optim.SGD(learning_rate=warm_cosine(0.2, steps_per_epoch, 12 * steps_per_epoch), momentum=0.9)
info_s = run("student_kd", student, opt_s, distill_loss, epochs=12, batch=64,
             teacher=teacher, compiled=True, seed=2)

# ---------------------------------------------------------------- 3. same student, labels only
mx.random.seed(2)
plain = MLP(width=12, depth=1)
opt_p = optim.SGD(learning_rate=warm_cosine(0.2, steps_per_epoch, 12 * steps_per_epoch), momentum=0.9)
info_p = run("student_ce", plain, opt_p, hard_loss, epochs=12, batch=64, compiled=True, seed=2)

drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b)
            in zip(tree_flatten(teacher.parameters()), tree_flatten(t_snapshot)))

# ---------------------------------------------------------------- report cards
prior = np.bincount(y_tr, minlength=4) / len(y_tr)
print("HARBOUR FOG - visibility class report")
print(f"  observations      {len(y_tr)} train / {len(y_te)} test")
print("  class shares      " + ", ".join(f"{c} {p:.1%}" for c, p in zip(CLASSES, prior)))
print(f"  majority-class accuracy {np.mean(y_te == prior.argmax()):.1%}")
for name, info, model, ref in (("teacher", info_t, teacher, None),
                               ("student_kd", info_s, student, teacher),
                               ("student_ce", info_p, plain, teacher)):
    ce, acc, rec, agree = evaluate(model, ref)
    print()
    print(f"[{name}]")
    print(f"  trainable params  {info['params']}")
    print(f"  first-step grads  {info['grads']} arrays non-zero")
    print(f"  train time        {info['secs']:.1f}s")
    print("  epoch   lr@start train loss   test CE   test acc")
    for row in history:
        if row[0] == name:
            _, ep, lr, tl, tce, tacc = row
            print(f"  {ep:>5}   {lr:<7.4f}  {tl:>10.4f}   {tce:>7.4f}   {tacc:>7.1%}")
    print(f"  final: test CE {ce:.4f}, accuracy {acc:.1%}, fog recall {rec:.1%}"
          + ("" if agree is None else f", agrees with teacher on {agree:.1%}"))
print()
print(f"teacher weight drift during distillation: {drift:.1e}")
print("note: student_kd's train loss is T^2-scaled KL + CE, not comparable with the CE columns")
