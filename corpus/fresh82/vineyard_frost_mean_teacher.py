"""Vineyard frost protection: predict leaf-surface temperature (C) at dawn from
6 weather-station readings. Only 400 nights carry a leaf-sensor label; 12000 more
nights are unlabelled. Mean-teacher semi-supervised training: a student learns from
the labelled nights plus a consistency loss towards an EMA teacher on noisy
unlabelled inputs. The consistency weight ramps up from 0, so the total objective
climbs for a while before it settles."""
import csv
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(82)
N_LAB, N_UNL, N_TEST = 400, 12000, 3000


def make_nights(n):
    air = rng.normal(1.5, 2.5, n)           # air temp at 2 m, C
    wind = rng.gamma(2.0, 0.8, n)           # m/s
    cloud = rng.uniform(0, 1, n)            # cover fraction
    dew = air - rng.gamma(2.0, 1.5, n)      # dew point
    slope = rng.uniform(0, 12, n)           # percent
    fan = rng.integers(0, 2, n).astype(float)
    inversion = (1 - cloud) * np.exp(-wind / 2.0)
    leaf = (air - 3.2 * inversion + 1.1 * fan * inversion
            + 0.25 * np.tanh(dew - air + 2) + 0.06 * slope
            + 0.4 * np.sin(air) * cloud)
    leaf = leaf + rng.normal(0, 0.3, n)
    X = np.stack([air, wind, cloud, dew, slope, fan], 1)
    return X.astype(np.float32), leaf.astype(np.float32)


Xl, yl = make_nights(N_LAB)
Xu, _ = make_nights(N_UNL)
Xt, yt = make_nights(N_TEST)
mu, sd = Xu.mean(0), Xu.std(0)
ymu, ysd = yl.mean(), yl.std()
norm = lambda X: mx.array((X - mu) / sd)
Xl_m, Xu_m, Xt_m = norm(Xl), norm(Xu), norm(Xt)
yl_m = mx.array((yl - ymu) / ysd)


class LeafNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


mx.random.seed(3)
student = LeafNet()
teacher = LeafNet()
teacher.update(tree_map(lambda p: mx.array(p), student.parameters()))
teacher.freeze()
mx.eval(student.parameters(), teacher.parameters())

opt = optim.Adam(learning_rate=1e-3)
EMA = 0.99
RAMP = 1500
STEPS = 3000


def ramp(step):
    t = min(step, RAMP) / RAMP
    return math.exp(-5.0 * (1.0 - t) ** 2) if step > 0 else 0.0


def loss_fn(model, xl, yl_b, xu, t_pred, w):
    sup = nn.losses.mse_loss(model(xl), yl_b)
    cons = nn.losses.mse_loss(model(xu), t_pred)
    return sup + w * cons, (sup, cons)


vg = nn.value_and_grad(student, loss_fn)


def rmse_c(model, X, y):
    p = np.array(model(X)) * ysd + ymu
    return float(np.sqrt(np.mean((p - y) ** 2)))


w_out = csv.DictWriter(sys.stdout, delimiter=";",
                       fieldnames=["step", "cons_w", "objective", "sup_mse", "cons_mse",
                                   "student_rmse_C", "teacher_rmse_C", "secs"])
print(f"# labelled={N_LAB} unlabelled={N_UNL} test={N_TEST} "
      f"predict-mean rmse={float(np.sqrt(np.mean((yt - ymu) ** 2))):.3f} C, sensor noise 0.30 C")
w_out.writeheader()
w_out.writerow(dict(step=0, cons_w="0.000", objective="", sup_mse="", cons_mse="",
                    student_rmse_C=f"{rmse_c(student, Xt_m, yt):.3f}",
                    teacher_rmse_C=f"{rmse_c(teacher, Xt_m, yt):.3f}", secs="0.0"))

t0 = time.time()
win = []
for step in range(1, STEPS + 1):
    il = mx.array(rng.integers(0, N_LAB, 32))
    iu = mx.array(rng.integers(0, N_UNL, 128))
    xu = Xu_m[iu]
    noise_s = mx.random.normal(xu.shape) * 0.15
    noise_t = mx.random.normal(xu.shape) * 0.15
    t_pred = mx.stop_gradient(teacher(xu + noise_t))
    w = ramp(step)
    (obj, (sup, cons)), g = vg(student, Xl_m[il], yl_m[il], xu + noise_s, t_pred, mx.array(w))
    if step == 1:
        flat = tree_flatten(g)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        print(f"# first step: {len(flat)} student grad leaves, zero: {zero or 'none'}; "
              f"teacher trainable leaves: {len(tree_flatten(teacher.trainable_parameters()))}; "
              f"consistency weight at step 1 = {w:.4f}")
    opt.update(student, g)
    new_t = tree_map(lambda tp, sp: EMA * tp + (1 - EMA) * sp,
                     teacher.parameters(), student.parameters())
    teacher.update(new_t)
    mx.eval(student.parameters(), teacher.parameters(), opt.state, obj, sup, cons)
    win.append((obj.item(), sup.item(), cons.item()))
    if step % 300 == 0:
        a = np.mean(win, 0)
        win = []
        w_out.writerow(dict(step=step, cons_w=f"{w:.3f}", objective=f"{a[0]:.4f}",
                            sup_mse=f"{a[1]:.4f}", cons_mse=f"{a[2]:.5f}",
                            student_rmse_C=f"{rmse_c(student, Xt_m, yt):.3f}",
                            teacher_rmse_C=f"{rmse_c(teacher, Xt_m, yt):.3f}",
                            secs=f"{time.time() - t0:.1f}"))
print(f"# done: teacher test rmse {rmse_c(teacher, Xt_m, yt):.3f} C "
      f"(student {rmse_c(student, Xt_m, yt):.3f} C), objective includes the ramped consistency term")
