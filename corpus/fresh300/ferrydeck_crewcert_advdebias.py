"""Crew certification exam: predict pass/fail for deckhand candidates from 8
logbook features, with an adversary that tries to recover the candidate's home
port (a protected attribute) from the predictor's score. Predictor and adversary
have separate optimizers and alternate updates (adversarial debiasing)."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

def make_split(n):
    port = rng.integers(0, 2, size=n)                      # protected attribute
    skill = rng.normal(0, 1, size=n)
    sea_hours = skill * 0.8 + rng.normal(0, 0.6, n)
    drills = skill * 0.6 + rng.normal(0, 0.8, n)
    knots = skill * 0.5 + rng.normal(0, 0.9, n)
    radio = skill * 0.4 + rng.normal(0, 1.0, n)
    # two features leak the home port
    port_dist = port * 1.5 + rng.normal(0, 0.7, n)
    dialect = port * 1.0 + skill * 0.2 + rng.normal(0, 0.8, n)
    age = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)
    X = np.stack([sea_hours, drills, knots, radio, port_dist, dialect, age, noise], 1)
    # historic labels carry a port bias
    logit = 1.6 * skill + 0.9 * (port - 0.5) + rng.normal(0, 0.5, n)
    y = (logit > 0).astype(np.float32)
    return X.astype(np.float32), y, port.astype(np.float32)

Xtr, ytr, ptr = make_split(6000)
Xte, yte, pte = make_split(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
Xtr, ytr, ptr = mx.array(Xtr), mx.array(ytr), mx.array(ptr)
Xte, yte, pte = mx.array(Xte), mx.array(yte), mx.array(pte)

class Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 16), nn.GELU())
        self.head = nn.Linear(16, 1)
    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)

class Adversary(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    def __call__(self, score, y):
        s = mx.sigmoid(score)
        return self.net(mx.stack([s, y], axis=-1)).squeeze(-1)

pred, adv = Predictor(), Adversary()
mx.eval(pred.parameters(), adv.parameters())

ALPHA = 1.2
STEPS_PRE, STEPS_JOINT = 300, 900
warm = optim.linear_schedule(0.0, 3e-3, 100)          # warmup from exactly 0
p_opt = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(3e-3, STEPS_PRE + STEPS_JOINT, 3e-4)], [100]))
a_opt = optim.Adam(learning_rate=5e-3)

bce = lambda logits, t: nn.losses.binary_cross_entropy(logits, t, reduction="mean")

def task_loss(model, x, y):
    return bce(model(x), y)

def adv_loss(a, score, y, p):
    return bce(a(mx.stop_gradient(score), y), p)

def joint_loss(model, a, x, y, p):
    score = model(x)
    lt = bce(score, y)
    la = bce(a(score, y), p)
    return lt - ALPHA * la, (lt, la)

task_vg = nn.value_and_grad(pred, task_loss)
adv_vg = nn.value_and_grad(adv, adv_loss)

def joint_fn(model, x, y, p):
    total, _ = joint_loss(model, adv, x, y, p)
    return total
joint_vg = nn.value_and_grad(pred, joint_fn)

def metrics(x, y, p):
    s = pred(x)
    yhat = (s > 0).astype(mx.float32)
    acc = mx.mean(yhat == y).item()
    r0 = (mx.sum(yhat * (1 - p)) / mx.sum(1 - p)).item()
    r1 = (mx.sum(yhat * p) / mx.sum(p)).item()
    la = bce(adv(s, y), p).item()
    return acc, abs(r1 - r0), la

majority = max(yte.mean().item(), 1 - yte.mean().item())
print(f"baselines: majority-class acc={majority:.3f}  adversary chance BCE=ln2={math.log(2):.3f}")
B = 128
n = Xtr.shape[0]
step = 0

print("stage 1: predictor only (task loss)")
for _ in range(STEPS_PRE):
    idx = mx.array(rng.integers(0, n, B))
    loss, g = task_vg(pred, Xtr[idx], ytr[idx])
    p_opt.update(pred, g)
    mx.eval(pred.parameters(), p_opt.state)
    step += 1
    if step % 75 == 0 or step == 1:
        acc, gap, _ = metrics(Xte, yte, pte)
        print(f"step {step:4d} lr={p_opt.learning_rate.item():.5f} task={loss.item():.4f} test_acc={acc:.3f} parity_gap={gap:.3f}")

print("stage 2: adversary fit on frozen predictor scores")
for k in range(200):
    idx = mx.array(rng.integers(0, n, B))
    la, g = adv_vg(adv, pred(Xtr[idx]), ytr[idx], ptr[idx])
    a_opt.update(adv, g)
    mx.eval(adv.parameters(), a_opt.state)
    if (k + 1) % 50 == 0:
        print(f"  adv iter {k+1:3d} adv_bce={la.item():.4f}")

print(f"stage 3: joint (objective = task - {ALPHA} * adversary BCE; negative values expected)")
for _ in range(STEPS_JOINT):
    idx = mx.array(rng.integers(0, n, B))
    xb, yb, pb = Xtr[idx], ytr[idx], ptr[idx]
    la, g = adv_vg(adv, pred(xb), yb, pb)
    a_opt.update(adv, g)
    total, g = joint_vg(pred, xb, yb, pb)
    p_opt.update(pred, g)
    mx.eval(pred.parameters(), adv.parameters(), p_opt.state, a_opt.state)
    step += 1
    if step % 150 == 0:
        acc, gap, lat = metrics(Xte, yte, pte)
        print(f"step {step:4d} lr={p_opt.learning_rate.item():.5f} objective={total.item():+.4f} adv_bce={la.item():.4f} "
              f"test_acc={acc:.3f} parity_gap={gap:.3f} test_adv_bce={lat:.4f}")

acc, gap, lat = metrics(Xte, yte, pte)
print(f"final: test_acc={acc:.3f} (majority {majority:.3f})  parity_gap={gap:.3f}  adversary_bce={lat:.4f} (chance {math.log(2):.3f})")
