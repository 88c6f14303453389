"""Compost windrow core temperature, 6-hourly readings.

A small MLP maps the last 8 readings (+ a turning flag and the ambient
temperature) to the change in core temperature over the next 6 hours.
Stage 1 fits one-step changes (teacher forcing).  Stage 2 trains through a
12-step autoregressive rollout, feeding the model's own outputs back in.
Reports are YAML documents.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

LAG = 8
ROLL = 12
rng = np.random.default_rng(3)
mx.random.seed(3)


def windrow(n_steps):
    temp = np.empty(n_steps, np.float32)
    amb = 12 + 8 * np.sin(2 * np.pi * np.arange(n_steps) / 4 - 1.0) + rng.normal(0, 1.0, n_steps)
    turn = np.zeros(n_steps, np.float32)
    turn[rng.choice(np.arange(30, n_steps - 5), size=n_steps // 45, replace=False)] = 1.0
    fuel, t = 1.0, 20.0
    for i in range(n_steps):
        if turn[i]:
            t -= 0.35 * (t - amb[i])
            fuel = min(1.0, fuel + 0.25)
        heat = 6.0 * fuel * np.exp(-((t - 58.0) / 14.0) ** 2)
        fuel *= 1.0 - 0.012 * heat / 6.0
        t = t + heat - 0.08 * (t - amb[i]) + rng.normal(0, 0.6)
        temp[i] = t
    return temp, amb.astype(np.float32), turn


piles = [windrow(400) for _ in range(14)]
train_piles, valid_piles = piles[:11], piles[11:]
SCALE = 30.0


def features(hist, amb_now, turn_now):
    return np.concatenate([hist / SCALE - 1.5, [amb_now / SCALE, turn_now]], axis=-1)


def one_step_set(ps):
    xs, ys = [], []
    for temp, amb, turn in ps:
        for i in range(LAG, len(temp)):
            xs.append(features(temp[i - LAG:i], amb[i], turn[i]))
            ys.append((temp[i] - temp[i - 1]) / 5.0)
    return mx.array(np.array(xs, np.float32)), mx.array(np.array(ys, np.float32))


def rollout_set(ps):
    hs, ambs, turns, targets = [], [], [], []
    for temp, amb, turn in ps:
        for i in range(LAG, len(temp) - ROLL, 3):
            hs.append(temp[i - LAG:i])
            ambs.append(amb[i:i + ROLL])
            turns.append(turn[i:i + ROLL])
            targets.append(temp[i:i + ROLL])
    f = lambda a: mx.array(np.array(a, np.float32))
    return f(hs), f(ambs), f(turns), f(targets)


class StepNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LAG + 2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def rollout(model, hist, ambs, turns):
    outs = []
    for k in range(ROLL):
        x = mx.concatenate([hist / SCALE - 1.5, ambs[:, k:k + 1] / SCALE, turns[:, k:k + 1]], axis=-1)
        nxt = hist[:, -1] + 5.0 * model(x)
        outs.append(nxt)
        hist = mx.concatenate([hist[:, 1:], nxt[:, None]], axis=1)
    return mx.stack(outs, axis=1)


def one_step_loss(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rollout_loss(model, hist, ambs, turns, target):
    return nn.losses.mse_loss(rollout(model, hist, ambs, turns), target) / 25.0


x1, y1 = one_step_set(train_piles)
rtr = rollout_set(train_piles)
rva = rollout_set(valid_piles)
persist_mae = mx.abs(rva[3] - rva[0][:, -1:]).mean().item()

model = StepNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
t0 = time.time()


def report(stage, step, loss):
    pred = rollout(model, rva[0], rva[1], rva[2])
    err = mx.abs(pred - rva[3])
    print("---")
    print(f"stage: {stage}")
    print(f"step: {step}")
    print(f"train_loss: {loss:.5f}")
    print("valid_rollout_mae_degC:")
    print(f"  h6: {err[:, 0].mean().item():.3f}")
    print(f"  h72: {err[:, -1].mean().item():.3f}")
    print(f"  all: {err.mean().item():.3f}")
    print(f"persistence_mae_degC: {persist_mae:.3f}")
    print(f"seconds: {time.time() - t0:.1f}")


print("---")
print(f"one_step_examples: {x1.shape[0]}")
print(f"rollout_windows: {rtr[0].shape[0]} train / {rva[0].shape[0]} valid")
report("untrained", 0, float("nan"))

vg1 = nn.value_and_grad(model, one_step_loss)
n1 = x1.shape[0]
for step in range(1, 801):
    idx = mx.array(rng.integers(0, n1, size=256))
    loss, g = vg1(model, x1[idx], y1[idx])
    g, _ = optim.clip_grad_norm(g, 1.0)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 400 == 0:
        report("one_step", step, loss.item())

opt.learning_rate = 0.005
vg2 = nn.value_and_grad(model, rollout_loss)
n2 = rtr[0].shape[0]
for step in range(1, 401):
    idx = mx.array(rng.integers(0, n2, size=128))
    loss, g = vg2(model, rtr[0][idx], rtr[1][idx], rtr[2][idx], rtr[3][idx])
    g, _ = optim.clip_grad_norm(g, 1.0)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 200 == 0:
        report("rollout", step, loss.item())
print("---")
print("status: finished")
