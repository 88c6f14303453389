"""Tea estate plucking-round records: one shared trunk, three heads, patchy labels.

Every record carries 8 garden readings.  Only some records were weighed (yield),
only some were scouted for blister blight (lesion count) and most, but not all,
were graded at the factory (fine / medium / coarse).  Missing labels are masked.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(318)
N_TRAIN, N_VALID = 9000, 2000


def make_rounds(n):
    elev = rng.uniform(600, 2200, n)            # m
    rain = rng.gamma(2.0, 35.0, n)              # mm last 14 days
    temp = rng.normal(21, 3, n)                 # deg C
    days = rng.integers(5, 15, n).astype(float)  # since last round
    age = rng.uniform(3, 80, n)                 # bush age, years
    shade = rng.uniform(0, 60, n)               # %
    fert = rng.uniform(0, 120, n)               # kg N / ha / month
    slope = rng.uniform(0, 35, n)               # deg
    X = np.stack([elev, rain, temp, days, age, shade, fert, slope], 1)

    # green-leaf yield kg/ha for the round
    mu_y = (40 + 6.0 * days + 0.25 * rain - 0.012 * (elev - 1200) + 0.18 * fert
            - 0.004 * (age - 30) ** 2 + 1.8 * (temp - 21) - 0.15 * slope)
    yield_kg = mu_y + rng.normal(0, 9, n)
    # blister blight lesions per 100 leaves (wet, cool, shaded, high gardens)
    log_rate = (-0.6 + 0.011 * rain + 0.0009 * (elev - 1200) + 0.02 * shade
                - 0.12 * (temp - 21))
    lesions = rng.poisson(np.exp(log_rate)).astype(float)
    # plucking standard grade: long rounds give coarse leaf; factory graders disagree
    score = 0.45 * (days - 9.5) - 0.004 * (fert - 60) + 0.01 * (elev - 1200) / 10
    logits = np.stack([-score * 1.4, np.zeros(n), score * 1.4], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grade = np.array([rng.choice(3, p=pi) for pi in p])

    m_y = rng.random(n) < 0.35
    m_l = rng.random(n) < 0.55
    m_g = rng.random(n) < 0.80
    return X, yield_kg, lesions, grade, m_y, m_l, m_g


tr = make_rounds(N_TRAIN)
va = make_rounds(N_VALID)
x_mean, x_std = tr[0].mean(0), tr[0].std(0)
y_mean = tr[1][tr[4]].mean()
y_std = tr[1][tr[4]].std()


def to_mx(d):
    X, y, les, g, my, ml, mg = d
    return dict(
        x=mx.array(((X - x_mean) / x_std).astype(np.float32)),
        y=mx.array(((y - y_mean) / y_std).astype(np.float32)),
        les=mx.array(les.astype(np.float32)),
        g=mx.array(g.astype(np.int32)),
        my=mx.array(my.astype(np.float32)),
        ml=mx.array(ml.astype(np.float32)),
        mg=mx.array(mg.astype(np.float32)),
    )


TR, VA = to_mx(tr), to_mx(va)


class PluckingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.yield_head = nn.Linear(64, 1)
        self.blight_head = nn.Linear(64, 1)
        self.grade_head = nn.Linear(64, 3)

    def __call__(self, x):
        h = self.trunk(x)
        return (self.yield_head(h).squeeze(-1), self.blight_head(h).squeeze(-1),
                self.grade_head(h))


def task_losses(model, b):
    y_hat, log_rate, grade_logits = model(b["x"])
    n_y = mx.maximum(b["my"].sum(), 1.0)
    n_l = mx.maximum(b["ml"].sum(), 1.0)
    n_g = mx.maximum(b["mg"].sum(), 1.0)
    huber = nn.losses.huber_loss(y_hat, b["y"], delta=1.0, reduction="none")
    l_y = (huber * b["my"]).sum() / n_y
    # Poisson negative log-likelihood without the log(y!) constant: can go below zero
    pois = mx.exp(log_rate) - b["les"] * log_rate
    l_l = (pois * b["ml"]).sum() / n_l
    ce = nn.losses.cross_entropy(grade_logits, b["g"], reduction="none")
    l_g = (ce * b["mg"]).sum() / n_g
    return l_y, l_l, l_g


def objective(model, b):
    l_y, l_l, l_g = task_losses(model, b)
    return l_y + 0.5 * l_l + l_g, (l_y, l_l, l_g)


def batch(d, idx):
    return {k: v[idx] for k, v in d.items()}


def lr_at(step):
    # linear warm-up from exactly 0 over 150 steps, then a x0.3 drop at 1300
    if step < 150:
        return 0.05 * step / 150
    return 0.05 if step < 1300 else 0.015


def build():
    model = PluckingNet()
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    return model, opt


def evaluate(model):
    y_hat, log_rate, logits = model(VA["x"])
    my, ml, mg = VA["my"], VA["ml"], VA["mg"]
    mae = float((mx.abs(y_hat - VA["y"]) * my).sum() / my.sum()) * y_std
    les = VA["les"]
    rate = mx.exp(log_rate)
    dev = 2 * (les * mx.log(mx.maximum(les, 1e-9) / rate) - (les - rate))
    dev = float((dev * ml).sum() / ml.sum())
    acc = float(((mx.argmax(logits, -1) == VA["g"]) * mg).sum() / mg.sum()) * 100
    ce = float((nn.losses.cross_entropy(logits, VA["g"], reduction="none") * mg).sum() / mg.sum())
    return mae, dev, acc, ce


def save_ckpt(path, model, opt, step, cursor, perm):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.savez(os.path.join(path, "opt.npz"), **flat)
    np.savez(os.path.join(path, "loop.npz"), step=step, cursor=cursor, perm=perm)


def load_ckpt(path):
    model, opt = build()
    model.load_weights(os.path.join(path, "weights.safetensors"))
    flat = mx.load(os.path.join(path, "opt.npz"))
    opt.state = tree_unflatten(list(flat.items()))
    loop = np.load(os.path.join(path, "loop.npz"))
    return model, opt, int(loop["step"]), int(loop["cursor"]), loop["perm"]


# ---- reference numbers (no model) ----
trY = tr[1][tr[4]]
vaY = va[1][va[4]]
base_mae = float(np.abs(vaY - np.median(trY)).mean())
rate0 = tr[2][tr[5]].mean()
vl = va[2][va[5]]
base_dev = float(np.mean(2 * (np.where(vl > 0, vl * np.log(np.maximum(vl, 1e-9) / rate0), 0) - (vl - rate0))))
maj = np.bincount(tr[3][tr[6]], minlength=3).argmax()
base_acc = float((va[3][va[6]] == maj).mean() * 100)

print("%% tea estate plucking rounds: %d train / %d held-out records" % (N_TRAIN, N_VALID))
print("%% labelled share  yield %.0f%%  blight %.0f%%  grade %.0f%%" % (
    tr[4].mean() * 100, tr[5].mean() * 100, tr[6].mean() * 100))
print("%% references      median-yield MAE %.2f kg/ha | constant-rate deviance %.3f | majority grade %.1f%%" % (
    base_mae, base_dev, base_acc))

mx.random.seed(318)
model, opt = build()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, objective)

BATCH, STEPS, PREEMPT_AT = 96, 2400, 1100
perm = rng.permutation(N_TRAIN)
cursor = 0
step = 0

(l0, _), g0 = loss_and_grad(model, batch(TR, mx.array(perm[:BATCH])))
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print("%% first batch: %d gradient arrays, %d all-zero %s, objective %.4f" % (
    len(leaves), len(zero), zero, float(l0)))
mae, dev, acc, ce = evaluate(model)
print("%% untrained      MAE %.2f kg/ha | deviance %.3f | grade acc %.1f%% (ce %.3f)" % (mae, dev, acc, ce))
print("% step & lr & objective & huber(yield) & poisson nll & grade ce & MAE kg/ha & deviance & acc % & secs \\\\")

tmp = tempfile.mkdtemp()
t0 = time.time()
win = []
REPORT = {1, 50, 150, 300, 1100, 1500, 1900, 2400}
resumed = False
while step < STEPS:
    if cursor + BATCH > N_TRAIN:
        perm = rng.permutation(N_TRAIN)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    opt.learning_rate = lr_at(step)
    (loss, parts), grads = loss_and_grad(model, batch(TR, idx))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, parts)
    step += 1
    win.append([float(loss)] + [float(p) for p in parts])
    win = win[-50:]
    if step in REPORT:
        w = np.mean(win, 0)
        mae, dev, acc, ce = evaluate(model)
        print("%5d & %.4f & %+.4f & %.4f & %+.4f & %.4f & %.2f & %.3f & %.1f & %.1f \\\\" % (
            step, lr_at(step - 1), w[0], w[1], w[2], w[3], mae, dev, acc, time.time() - t0))
    if step == PREEMPT_AT and not resumed:
        save_ckpt(tmp, model, opt, step, cursor, perm)
        del model, opt, loss_and_grad
        model, opt, step, cursor, perm = load_ckpt(tmp)
        loss_and_grad = nn.value_and_grad(model, objective)
        resumed = True
        mae2, dev2, acc2, _ = evaluate(model)
        print("%% preempted at step %d; rebuilt from %s, held-out MAE %.2f deviance %.3f acc %.1f%% after reload" % (
            step, os.path.basename(tmp), mae2, dev2, acc2))

mae, dev, acc, ce = evaluate(model)
print("%% done: MAE %.2f kg/ha (ref %.2f) | deviance %.3f (ref %.3f) | grade %.1f%% (ref %.1f%%) | %.1fs" % (
    mae, base_mae, dev, base_dev, acc, base_acc, time.time() - t0))
shutil.rmtree(tmp, ignore_errors=True)
