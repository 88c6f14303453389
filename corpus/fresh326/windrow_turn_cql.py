import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# Compost windrow keeping, learned OFFLINE from a site logbook (no new interaction while training).
# State: pile heat band 0..9 and hours since last turn 0..11. Actions: wait / turn / turn and water.
rng = np.random.default_rng(11)
mx.random.seed(11)
N_ACT = 3

def feats(act_lvl, hrs):
    return np.stack([act_lvl / 9.0, hrs / 11.0, (act_lvl >= 6).astype(np.float64), (hrs >= 8).astype(np.float64)], 1).astype(np.float32)

def env_step(lvl, hrs, a, r):
    grow = np.where(a == 0, np.where(hrs >= 6, -1, 1), np.where(a == 1, 1, 2))
    lvl = np.clip(lvl + grow + r.integers(-1, 2, lvl.shape), 0, 9)
    hrs = np.where(a == 0, np.minimum(hrs + 1, 11), 0)
    rew = np.where((lvl >= 5) & (lvl <= 7), 1.0, 0.0) - np.array([0.0, 0.15, 0.45])[a] - 0.5 * (lvl <= 1)
    return lvl, hrs, rew.astype(np.float32)

def behaviour(lvl, hrs, r):
    a = np.where(hrs >= 7, 1, 0)
    return np.where(r.random(lvl.shape) < 0.35, r.integers(0, N_ACT, lvl.shape), a)

# logbook: 200 windrows x 60 hours
lvl = rng.integers(0, 10, 200); hrs = rng.integers(0, 12, 200)
S, A, R, SN = [], [], [], []
for _ in range(60):
    a = behaviour(lvl, hrs, rng); s = feats(lvl, hrs)
    lvl, hrs, rew = env_step(lvl, hrs, a, rng)
    S.append(s); A.append(a); R.append(rew); SN.append(feats(lvl, hrs))
S, A, R, SN = (np.concatenate(x) for x in (S, A, R, SN))
S, A, R, SN = mx.array(S), mx.array(A.astype(np.int32)), mx.array(R), mx.array(SN)
print(f"logbook transitions: {S.shape[0]}  mean logged reward {R.mean().item():.3f}")

class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, N_ACT))
    def __call__(self, x):
        return self.net(x)

def loss_fn(model, s, a, r, sn, y_next, gamma, alpha):
    q = model(s)
    qa = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    td = mx.mean((qa - (r + gamma * y_next)) ** 2)
    cons = mx.mean(mx.logsumexp(q, axis=1) - qa)
    return td + alpha * cons, (td, cons)

def evaluate(policy, hours=48):
    r = np.random.default_rng(5)
    lvl = r.integers(0, 10, 500); hrs = r.integers(0, 12, 500); tot = np.zeros(500)
    for _ in range(hours):
        lvl, hrs, rew = env_step(lvl, hrs, policy(lvl, hrs, r), r); tot += rew
    return tot.mean()

def greedy(model):
    return lambda lvl, hrs, r: np.array(mx.argmax(model(mx.array(feats(lvl, hrs))), axis=1))

model = QNet(); mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
def wrapped(model, *args):
    l, aux = loss_fn(model, *args)
    return l, aux
grad_fn = nn.value_and_grad(model, wrapped)
n = S.shape[0]
print(f"logged behaviour policy return {evaluate(behaviour):.2f}, uniform random {evaluate(lambda l, h, r: r.integers(0, N_ACT, l.shape)):.2f}")
# three stages with growing discount: the TD loss jumps at each boundary because targets get larger
for stage, gamma in enumerate([0.5, 0.8, 0.9], 1):
    for it in range(1, 601):
        if it % 50 == 1:  # refresh the bootstrapped next-state values (fitted-Q style)
            y_next = mx.stop_gradient(mx.max(model(SN), axis=1)); mx.eval(y_next)
        idx = mx.array(rng.integers(0, n, 256))
        (l, (td, cons)), g = grad_fn(model, S[idx], A[idx], R[idx], SN[idx], y_next[idx], gamma, 0.5)
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        if it % 200 == 0:
            print(f"stage {stage} gamma {gamma} iter {it:3d} loss {l.item():.4f} td {td.item():.4f} "
                  f"conservative {cons.item():.4f} mean_q {model(S).max(1).mean().item():.3f}")
    print(f"stage {stage} done: greedy return {evaluate(greedy(model)):.2f}")
print(f"final: greedy {evaluate(greedy(model)):.2f} | behaviour {evaluate(behaviour):.2f}")
