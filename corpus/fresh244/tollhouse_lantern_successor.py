"""Successor features for a tollhouse courtyard patrol, with a task switch and a resume.

A night watchman wanders a 5x5 courtyard at random (uniform over N/E/S/W,
bumping into walls keeps him in place). We learn the successor representation
psi(s) of that unchanging patrol by TD learning, plus a linear reward weight vector
w so that V(s) = psi(s) . w. Task 1 pays for reaching the lantern post in the
far corner and charges for the muddy well in the middle; at step 1100 the
lantern is moved to the gate corner. Only w has to change, so the value error
jumps at the switch and then recovers quickly. Training is checkpointed at
step 700, the process state is rebuilt from the file and training resumes.
The psi learning rate warms up linearly from exactly 0.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
mx.random.seed(5)

SIDE = 5
N = SIDE * SIDE
GAMMA = 0.9
BATCH = 128
STEPS = 1800
CKPT_AT = 700
SWITCH_AT = 1100
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]

nxt = np.zeros((N, 4), dtype=np.int64)
for s in range(N):
    r, c = divmod(s, SIDE)
    for a, (dr, dc) in enumerate(MOVES):
        rr, cc = r + dr, c + dc
        nxt[s, a] = rr * SIDE + cc if 0 <= rr < SIDE and 0 <= cc < SIDE else s
P = np.zeros((N, N))
for s in range(N):
    for a in range(4):
        P[s, nxt[s, a]] += 0.25
M_true = np.linalg.inv(np.eye(N) - GAMMA * P)


def reward_vec(task):
    r = np.zeros(N)
    r[12] = -0.5  # muddy well
    r[24 if task == 1 else 0] = 1.0  # lantern post
    return r


class Psi(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


class RewardHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = mx.zeros((N,))

    def __call__(self, phi):
        return phi @ self.w


EYE = mx.eye(N)


def psi_loss(model, s, s2):
    phi = EYE[s]
    target = mx.stop_gradient(phi + GAMMA * model(EYE[s2]))
    return mx.mean(mx.sum((model(phi) - target) ** 2, axis=-1))


def rew_loss(head, s, r):
    return mx.mean((head(EYE[s]) - r) ** 2)


def make_opts():
    warm = optim.linear_schedule(0.0, 1e-3, 100)  # holds 1e-3 after step 100
    return optim.Adam(learning_rate=warm), optim.SGD(learning_rate=0.5)


psi, head = Psi(), RewardHead()
mx.eval(psi.parameters(), head.parameters())
opt_psi, opt_w = make_opts()
psi_grad = nn.value_and_grad(psi, psi_loss)
w_grad = nn.value_and_grad(head, rew_loss)


def value_error(task):
    v_true = M_true @ reward_vec(task)
    v = np.array(psi(EYE) @ head.w)
    return float(np.sqrt(((v - v_true) ** 2).mean())), float(np.abs(v_true).mean())


def sr_error():
    return float(np.sqrt(((np.array(psi(EYE)) - M_true) ** 2).mean()))


ckpt_dir = tempfile.mkdtemp()
ckpt_path = os.path.join(ckpt_dir, "patrol.safetensors")
task = 1
t0 = time.time()
print(f"courtyard {SIDE}x{SIDE}, gamma {GAMMA}, batch {BATCH}, steps {STEPS}")
step = 0
while step < STEPS:
    step += 1
    if step == SWITCH_AT + 1:
        task = 2
        print(f"--- step {step}: lantern moved to the gate corner (task 2) ---")
    s = rng.integers(0, N, size=BATCH)
    a = rng.integers(0, 4, size=BATCH)
    s2 = nxt[s, a]
    r = reward_vec(task)[s] + rng.normal(0, 0.05, size=BATCH)
    s_mx, s2_mx = mx.array(s), mx.array(s2)

    lp, gp = psi_grad(psi, s_mx, s2_mx)
    opt_psi.update(psi, gp)
    lw, gw = w_grad(head, s_mx, mx.array(r.astype(np.float32)))
    opt_w.update(head, gw)
    mx.eval(psi.parameters(), head.parameters(), opt_psi.state, opt_w.state)

    if step == 1 or step % 100 == 0 or SWITCH_AT < step <= SWITCH_AT + 40 and step % 10 == 0:
        verr, vscale = value_error(task)
        lr_now = opt_psi.learning_rate.item()
        print(f"step {step:5d} | lr {lr_now:.2e} | td_loss {lp.item():.5f} | reward_loss {lw.item():.5f} "
              f"| sr_rmse {sr_error():.4f} | value_rmse {verr:.4f} (mean |V| {vscale:.3f})")

    if step == CKPT_AT:
        state = {"psi." + k: v for k, v in tree_flatten(psi.parameters())}
        state.update({"head." + k: v for k, v in tree_flatten(head.parameters())})
        state.update({"opt." + k: v for k, v in tree_flatten(opt_psi.state)})
        mx.save_safetensors(ckpt_path, state)
        print(f"checkpoint written at step {step} ({len(state)} tensors)")
        # rebuild everything from the file, as a restarted job would
        loaded = mx.load(ckpt_path)
        psi, head = Psi(), RewardHead()
        psi.update(tree_unflatten([(k[4:], v) for k, v in loaded.items() if k.startswith("psi.")]))
        head.update(tree_unflatten([(k[5:], v) for k, v in loaded.items() if k.startswith("head.")]))
        opt_psi, opt_w = make_opts()
        opt_psi.state = tree_unflatten([(k[4:], v) for k, v in loaded.items() if k.startswith("opt.")])
        mx.eval(psi.parameters(), head.parameters(), opt_psi.state)
        psi_grad = nn.value_and_grad(psi, psi_loss)
        w_grad = nn.value_and_grad(head, rew_loss)
        print(f"resumed from checkpoint at step {step}, optimizer step {opt_psi.step.item()}, "
              f"lr {opt_psi.learning_rate.item():.2e}")

verr, vscale = value_error(task)
v = np.array(psi(EYE) @ head.w).reshape(SIDE, SIDE)
print("learned V (task 2):")
for row in v:
    print("  " + " ".join(f"{x:6.3f}" for x in row))
print(f"final sr_rmse {sr_error():.4f} value_rmse {verr:.4f} mean|V| {vscale:.3f} time {time.time() - t0:.1f}s")
os.remove(ckpt_path)
os.rmdir(ckpt_dir)
