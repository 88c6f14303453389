"""Policy evaluation by TD(0) regression with a frozen target network that is
hard-copied from the online network every 150 steps (DQN style). Right after
each sync the bootstrap targets jump, so the TD loss spikes and then decays
again; the error against the exact value function keeps going down."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2)
mx.random.seed(2)

S, GAMMA = 12, 0.9
P = rng.dirichlet(np.ones(S) * 0.3, size=S).astype(np.float32)  # fixed policy transition matrix
R = rng.normal(size=S).astype(np.float32)
V_true = np.linalg.solve(np.eye(S) - GAMMA * P, R)
feats = np.eye(S, dtype=np.float32)


class VNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(S, 32)
        self.l2 = nn.Linear(32, 1)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x))).squeeze(-1)


online, target = VNet(), VNet()
target.update(online.parameters())
target.freeze()
mx.eval(online.parameters(), target.parameters())
opt = optim.Adam(learning_rate=3e-3)


def td_loss(model, s, r, s2):
    y = r + GAMMA * mx.stop_gradient(target(mx.array(feats)[s2]))
    return mx.mean((model(mx.array(feats)[s]) - y) ** 2)


step_fn = nn.value_and_grad(online, td_loss)
SYNC_EVERY, STEPS, BATCH = 150, 3000, 64
for it in range(1, STEPS + 1):
    s = rng.integers(0, S, BATCH)
    s2 = np.array([rng.choice(S, p=P[i]) for i in s])
    loss, g = step_fn(online, mx.array(s), mx.array(R[s]), mx.array(s2))
    opt.update(online, g)
    mx.eval(online.parameters(), opt.state, loss)
    if it % SYNC_EVERY == 0:
        target.update(online.parameters())
        mx.eval(target.parameters())
    if it % 50 == 0 or it % SYNC_EVERY == 1:
        v = np.array(online(mx.array(feats)))
        err = float(np.sqrt(np.mean((v - V_true) ** 2)))
        tag = " <- target synced" if it % SYNC_EVERY == 1 and it > 1 else ""
        print(f"it {it:5d}  td_loss {loss.item():.5f}  value_rmse {err:.4f}{tag}")
