"""Deep knowledge tracing: an LSTM reads a student's (skill, correct) history and
predicts whether the next answer (on a given skill) is correct. Students are
simulated with latent per-skill mastery that grows with practice."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
S, T = 8, 30                    # skills, interactions per student
N_TR, N_VA = 1200, 300


def simulate(n):
    skills = rng.integers(0, S, size=(n, T))
    ability = rng.normal(0, 1, size=(n, 1))
    difficulty = np.linspace(-1.2, 1.2, S)
    practice = np.zeros((n, S))
    correct = np.zeros((n, T), dtype=np.int32)
    for t in range(T):
        k = skills[:, t]
        logit = ability[:, 0] - difficulty[k] + 0.45 * practice[np.arange(n), k]
        correct[:, t] = rng.random(n) < 1 / (1 + np.exp(-logit))
        practice[np.arange(n), k] += 1
    return skills.astype(np.int32), correct


def to_batch(skills, correct):
    inp = skills[:, :-1] * 2 + correct[:, :-1]          # interaction token in [0, 2S)
    return mx.array(inp), mx.array(skills[:, 1:]), mx.array(correct[:, 1:].astype(np.float32))


class DKT(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.emb = nn.Embedding(2 * S, 24)
        self.rnn = nn.LSTM(24, hidden)
        self.out = nn.Linear(hidden, S)

    def __call__(self, inp, next_skill):
        h, _ = self.rnn(self.emb(inp))
        logits = self.out(h)                              # (B, T-1, S)
        return mx.take_along_axis(logits, next_skill[..., None], axis=-1).squeeze(-1)


def loss_fn(model, inp, nxt, y):
    return nn.losses.binary_cross_entropy(model(inp, nxt), y, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores)); ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


tr = to_batch(*simulate(N_TR))
va = to_batch(*simulate(N_VA))
model = DKT()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, tr[0][:64], tr[1][:64], tr[2][:64])
dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
print(f"params={sum(v.size for _, v in tree_flatten(model.parameters()))} zero-grad leaves at step 1: {dead or 'none'}")

bs, t0 = 50, time.time()
for ep in range(1, 9):
    perm = rng.permutation(N_TR)
    losses = []
    for i in range(0, N_TR, bs):
        idx = mx.array(perm[i:i + bs])
        loss, g = vg(model, tr[0][idx], tr[1][idx], tr[2][idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    p = np.array(mx.sigmoid(model(va[0], va[1]))).ravel()
    yv = np.array(va[2]).ravel()
    vbce = float(loss_fn(model, *va))
    print(f"ep {ep}/8  train_bce={np.mean(losses):.4f}  val_bce={vbce:.4f}  val_auc={auc(p, yv):.4f}  ({time.time() - t0:.1f}s)")
