"""Identify line susceptances and bus damping of a toy 8-bus power grid from
simulated swing-equation trajectories.

stage "teacher": one-step acceleration regression, damping frozen (kept at its guess)
stage "rollout": 10-step free rollout loss on rotor angles, damping unfrozen
Each stage restarts its own step counter and warms its learning rate up from 0.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s grid: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("grid")

rs = np.random.default_rng(11)
NB = 8
EDGES = np.array([(i, (i + 1) % NB) for i in range(NB)] + [(0, 4), (1, 6), (2, 5), (3, 7)])
NE = len(EDGES)
B_TRUE = rs.uniform(0.6, 2.2, NE).astype(np.float32)
D_TRUE = rs.uniform(0.2, 0.6, NB).astype(np.float32)
P = rs.normal(0, 0.4, NB).astype(np.float32)
P -= P.mean()
DT = 0.05


def accel_np(th, om, B, D):
    diff = th[:, EDGES[:, 0]] - th[:, EDGES[:, 1]]
    flow = B * np.sin(diff)
    net = np.zeros_like(th)
    np.add.at(net.T, EDGES[:, 0], flow.T)
    np.add.at(net.T, EDGES[:, 1], -flow.T)
    return P - D * om - net


def simulate(n_traj, T):
    th = rs.normal(0, 0.6, (n_traj, NB)).astype(np.float32)
    om = rs.normal(0, 0.5, (n_traj, NB)).astype(np.float32)
    ths, oms = [th], [om]
    for _ in range(T):
        om = om + DT * accel_np(th, om, B_TRUE, D_TRUE)
        th = th + DT * om
        ths.append(th); oms.append(om)
    return np.stack(ths, 1), np.stack(oms, 1)  # (n, T+1, NB)


TH, OM = simulate(96, 40)
TH = TH + rs.normal(0, 0.002, TH.shape).astype(np.float32)  # PMU measurement noise

src = mx.array(EDGES[:, 0]); dst = mx.array(EDGES[:, 1])
inc = np.zeros((NE, NB), np.float32)
inc[np.arange(NE), EDGES[:, 0]] = 1.0
inc[np.arange(NE), EDGES[:, 1]] = -1.0
INC = mx.array(inc)
P_mx = mx.array(P)


class SwingGrid(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_b = mx.zeros((NE,))            # susceptance guess 1.0 everywhere
        self.log_d = mx.full((NB,), np.log(0.4))  # damping guess 0.4 everywhere

    def accel(self, th, om):
        flow = mx.exp(self.log_b) * mx.sin(th[:, src] - th[:, dst])
        return P_mx - mx.exp(self.log_d) * om - flow @ INC

    def rollout(self, th, om, k):
        out = []
        for _ in range(k):
            om = om + DT * self.accel(th, om)
            th = th + DT * om
            out.append(th)
        return mx.stack(out, 1)


def teacher_loss(model, th, om, a_target):
    return mx.mean((model.accel(th, om) - a_target) ** 2)


def rollout_loss(model, th0, om0, th_future):
    pred = model.rollout(th0, om0, th_future.shape[1])
    return mx.mean((pred - th_future) ** 2) * 1e3  # mrad^2-ish scale


def edge_err(model):
    b = np.exp(np.array(model.log_b))
    return float(np.abs(b - B_TRUE).mean()), float(np.abs(np.exp(np.array(model.log_d)) - D_TRUE).mean())


model = SwingGrid()
mx.eval(model.parameters())
base_b = float(np.abs(1.0 - B_TRUE).mean())
base_d = float(np.abs(0.4 - D_TRUE).mean())
log.info("baseline (flat guess): |dB|=%.4f pu  |dD|=%.4f pu", base_b, base_d)

TH_mx, OM_mx = mx.array(TH), mx.array(OM)
A_target = (OM_mx[:, 1:] - OM_mx[:, :-1]) / DT
t0 = time.time()

stages = [
    ("teacher", 240, 0.05, teacher_loss),
    ("rollout", 200, 0.01, rollout_loss),
]
for stage, steps, peak, lossf in stages:
    if stage == "teacher":
        model.freeze(keys=["log_d"])
    else:
        model.unfreeze()
    warm = 40
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    vg = nn.value_and_grad(model, lossf)
    for step in range(steps):
        idx = mx.array(rs.integers(0, TH.shape[0], 32))
        t = int(rs.integers(0, 40 - 10))
        if stage == "teacher":
            args = (TH_mx[idx, t], OM_mx[idx, t], A_target[idx, t])
        else:
            args = (TH_mx[idx, t], OM_mx[idx, t], TH_mx[idx, t + 1:t + 11])
        loss, grads = vg(model, *args)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            eb, ed = edge_err(model)
            log.info("%s step=%d lr=%.5f loss=%.5f |dB|=%.4f pu |dD|=%.4f pu", stage, step,
                     float(opt.learning_rate), loss.item(), eb, ed)
    eb, ed = edge_err(model)
    log.info("audit after %s: susceptance MAE %.4f vs baseline %.4f (%.1f%% of baseline); "
             "damping MAE %.4f vs baseline %.4f", stage, eb, base_b, 100 * eb / base_b, ed, base_d)

log.info("done in %.1fs", time.time() - t0)
