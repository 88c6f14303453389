"""Behaviour cloning for a tote-picking arm: tiny VLA-style model.

Camera patch features + an instruction token go through a small encoder,
a ContinuousActionHead turns the pooled token into a chunk of future
end-effector deltas (horizon x 7). Trained on scripted expert chunks.
"""
import time
from typing import Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 2048, 256
N_PATCH, PATCH_DIM, N_INSTR = 6, 12, 4
HIDDEN, ACTION_DIM, HORIZON = 64, 7, 4


def make_episodes(n):
    patches = rng.normal(size=(n, N_PATCH, PATCH_DIM)).astype(np.float32)
    instr = rng.integers(0, N_INSTR, size=n)
    # target position of the tote handle lives in patch 2 and 4
    goal = np.tanh(patches[:, 2, :ACTION_DIM] * 0.8 + patches[:, 4, ACTION_DIM - 7:ACTION_DIM] * 0.4)
    bias = np.linspace(-0.5, 0.5, N_INSTR)[instr][:, None]
    chunks = np.stack([goal * (k + 1) / HORIZON + bias * 0.3 for k in range(HORIZON)], axis=1)
    chunks += 0.02 * rng.normal(size=chunks.shape)
    return mx.array(patches), mx.array(instr.astype(np.int32)), mx.array(chunks.astype(np.float32))


class ContinuousActionHead(nn.Module):
    def __init__(self, hidden_dim: int, action_dim: int = 7, action_horizon: int = 4, num_layers: int = 2):
        super().__init__()
        self.action_dim = action_dim
        self.action_horizon = action_horizon
        layers = []
        for _ in range(num_layers - 1):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.GELU()]
        layers.append(nn.Linear(hidden_dim, action_dim * action_horizon))
        self.net = nn.Sequential(*layers)

    def forward(self, hidden_states: mx.array) -> mx.array:
        pooled = hidden_states[:, 0, :]
        return self.net(pooled).reshape(-1, self.action_horizon, self.action_dim)


class TinyVLA(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_proj = nn.Linear(PATCH_DIM, HIDDEN)
        self.instr_emb = nn.Embedding(N_INSTR, HIDDEN)
        self.pos_emb = nn.Embedding(N_PATCH + 1, HIDDEN)
        self.encoder = nn.TransformerEncoder(num_layers=1, dims=HIDDEN, num_heads=4, mlp_dims=2 * HIDDEN)
        self.action_head = ContinuousActionHead(HIDDEN, ACTION_DIM, HORIZON)

    def __call__(self, patches, instr, mask: Optional[mx.array] = None):
        tok = self.instr_emb(instr)[:, None, :]
        h = mx.concatenate([tok, self.patch_proj(patches)], axis=1)
        h = h + self.pos_emb(mx.arange(N_PATCH + 1))
        h = self.encoder(h, mask)
        return self.action_head(h)


def loss_fn(model, patches, instr, chunks):
    pred = model(patches, instr)
    return nn.losses.mse_loss(pred, chunks, reduction="mean")


def main():
    mx.random.seed(3)
    tr = make_episodes(N_TRAIN)
    va = make_episodes(N_VAL)
    model = TinyVLA()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    print(f"episodes train={N_TRAIN} val={N_VAL} horizon={HORIZON} action_dim={ACTION_DIM}")
    t0 = time.time()
    bs = 128
    for epoch in range(1, 9):
        model.train()
        perm = np.random.default_rng(epoch).permutation(N_TRAIN)
        tot = 0.0
        for i in range(0, N_TRAIN, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = step(model, tr[0][idx], tr[1][idx], tr[2][idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        model.eval()
        vloss = loss_fn(model, *va).item()
        print(f"epoch {epoch:02d}  bc_mse {tot / (N_TRAIN // bs):.4f}  val_mse {vloss:.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
