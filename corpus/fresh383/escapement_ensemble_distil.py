"""Watch-movement regulation: daily rate (s/day) from timegrapher readings.

Three teacher nets are trained first (different seeds), then frozen; their averaged
prediction is a soft target for a small student that is trained on a mix of the
workshop labels and the teacher average.  The teacher weight in the mix decays
linearly from 0.8 to 0.0, so the late student objective is the plain label mse.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
N_TR, N_TE = 5000, 1500


def make(n):
    amp = rng.uniform(200, 320, n)              # balance amplitude, degrees
    beat = rng.gamma(2.0, 0.4, n)               # beat error, ms
    pos = rng.integers(0, 6, n)                 # test position
    temp = rng.uniform(8, 36, n)                # workshop temperature
    serv = rng.uniform(0, 12, n)                # years since service
    mag = rng.binomial(1, 0.08, n)              # magnetised flag
    iso = 0.004 * (amp - 270) ** 2 / 10 - 0.05 * (amp - 270)
    rate = (iso + 1.8 * beat * np.where(pos < 2, 0.4, 1.0)
            + 0.22 * (temp - 23) + 0.9 * serv + 35 * mag
            + np.array([1.5, -1.0, -3.0, 2.0, 0.5, -2.5])[pos])
    rate = rate + rng.normal(0, 2.0, n)
    x = np.column_stack([amp, beat, temp, serv, mag, np.eye(6)[pos]]).astype(np.float32)
    return x, rate.astype(np.float32)


xtr, ytr = make(N_TR)
xte, yte = make(N_TE)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ym, ys = ytr.mean(), ytr.std()
Xtr, Xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
Ytr, Yte = mx.array((ytr - ym) / ys), mx.array(yte)


class Net(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        dims = [11] + [width] * depth
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        for l in self.layers:
            x = nn.silu(l(x))
        return self.out(x).squeeze(-1)


def rmse_sd(model):
    p = model(Xte) * ys + ym
    return mx.sqrt(mx.mean((p - Yte) ** 2)).item()


def report(block, **kv):
    print(f"- {block}:")
    for k, v in kv.items():
        print(f"    {k}: {v}")


report("data", train=N_TR, test=N_TE, target_sd_s_per_day=round(float(ys), 2),
       constant_guess_rmse=round(float(np.sqrt(np.mean((yte - ym) ** 2))), 2))

teachers = []
for seed in (1, 2, 3):
    mx.random.seed(seed)
    t = Net(64, 2)
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 940, 5e-5))
    lg = nn.value_and_grad(t, lambda m, xb, yb: nn.losses.mse_loss(m(xb), yb))
    order = np.random.default_rng(seed).permutation
    t0 = time.time()
    step = 0
    for ep in range(12):
        idx = order(N_TR)
        for i in range(0, N_TR - 63, 64):
            b = mx.array(idx[i:i + 64])
            loss, g = lg(t, Xtr[b], Ytr[b])
            opt.update(t, g)
            mx.eval(t.parameters(), opt.state, loss)
            step += 1
    t.eval()
    t.freeze()
    teachers.append(t)
    report(f"teacher_{seed}", steps=step, test_rmse_s_per_day=round(rmse_sd(t), 3),
           trainable_arrays=len(tree_flatten(t.trainable_parameters())),
           secs=round(time.time() - t0, 1))

snap = [tree_map(lambda a: mx.array(a), t.parameters()) for t in teachers]


def ensemble(x):
    return sum(t(x) for t in teachers) / len(teachers)


ens_rmse = mx.sqrt(mx.mean((ensemble(Xte) * ys + ym - Yte) ** 2)).item()
report("ensemble", test_rmse_s_per_day=round(ens_rmse, 3))

mx.random.seed(7)
student = Net(24, 1)
TOTAL = 1600
sopt = optim.Adagrad(learning_rate=0.05)


def student_loss(m, xb, yb, soft, w):
    p = m(xb)
    return w * nn.losses.mse_loss(p, soft) + (1 - w) * nn.losses.mse_loss(p, yb)


slg = nn.value_and_grad(student, student_loss)
report("student_start", params=sum(v.size for _, v in tree_flatten(student.parameters())),
       test_rmse_s_per_day=round(rmse_sd(student), 3))
srng = np.random.default_rng(5)
run, cnt = 0.0, 0
t0 = time.time()
for step in range(1, TOTAL + 1):
    w = 0.8 * max(0.0, 1.0 - (step - 1) / (0.75 * TOTAL))
    b = mx.array(srng.integers(0, N_TR, 64))
    xb = Xtr[b]
    soft = ensemble(xb)
    loss, g = slg(student, xb, Ytr[b], soft, w)
    if step == 1:
        leaves = tree_flatten(g)
        report("grad_check", arrays=len(leaves),
               nonzero=sum(int(mx.any(v != 0).item()) for _, v in leaves))
    sopt.update(student, g)
    mx.eval(student.parameters(), sopt.state, loss)
    run += loss.item(); cnt += 1
    if step % 200 == 0:
        report(f"student_step_{step}", teacher_weight=round(w, 3),
               mixed_objective=round(run / cnt, 4),
               test_rmse_s_per_day=round(rmse_sd(student), 3),
               secs=round(time.time() - t0, 1))
        run, cnt = 0.0, 0

drift = max(mx.max(mx.abs(a - b)).item()
            for s, t in zip(snap, teachers)
            for (_, a), (_, b) in zip(tree_flatten(s), tree_flatten(t.parameters())))
report("done", teacher_max_change=drift, student_test_rmse=round(rmse_sd(student), 3),
       ensemble_test_rmse=round(ens_rmse, 3))
