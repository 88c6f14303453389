# Tiny AlphaZero-style trainer: a shared trunk with a policy head (targets are
# MCTS-like visit distributions) and a tanh value head, plus an explicit L2 term.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N, S, A = 2048, 24, 9
states = rng.normal(size=(N, S)).astype(np.float32)
Wp = rng.normal(size=(S, A)).astype(np.float32)
logits_t = states @ Wp / 2.0
pol = np.exp(logits_t - logits_t.max(1, keepdims=True)); pol /= pol.sum(1, keepdims=True)
val = np.tanh(states[:, :4].sum(1) / 2.0).astype(np.float32)
X, P, V = mx.array(states), mx.array(pol.astype(np.float32)), mx.array(val)

class PolicyValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(S, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.policy = nn.Linear(64, A)
        self.value = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.trunk(x)
        return self.policy(h), mx.tanh(self.value(h)).squeeze(-1)

model = PolicyValueNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
l2_reg = 1e-4

def loss_fn(model, x, pi, z):
    pred_logits, pred_v = model(x)
    p_loss = -mx.mean(mx.sum(pi * nn.log_softmax(pred_logits, axis=-1), axis=1))
    v_loss = mx.mean(mx.square(z - pred_v))
    l2_loss = sum(
        l2_reg * mx.sum(mx.square(p[1])) for p in tree_flatten(model.parameters())
    )
    total_loss = p_loss + v_loss + l2_loss
    return total_loss, (p_loss, v_loss)

step = nn.value_and_grad(model, loss_fn)
print("iter | total   | policy  | value")
for it in range(1, 601):
    idx = mx.array(rng.integers(0, N, size=128))
    (loss, (pl, vl)), grads = step(model, X[idx], P[idx], V[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 100 == 0 or it == 1:
        print(f"{it:4d} | {loss.item():.4f} | {pl.item():.4f} | {vl.item():.4f}")
