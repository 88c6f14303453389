"""Matrix factorisation of a sparse ratings matrix by alternating updates.

Block-coordinate descent: on even rounds only the user factors are trained
(item factors frozen), on odd rounds only the item factors.  Each block stays
exactly constant for a whole round on purpose.
"""
import logging

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("als")

rng = np.random.default_rng(9)
mx.random.seed(9)
N_USERS, N_ITEMS, RANK = 300, 200, 6
U_true = rng.normal(size=(N_USERS, RANK)) / np.sqrt(RANK)
V_true = rng.normal(size=(N_ITEMS, RANK))
R = U_true @ V_true.T + 0.1 * rng.normal(size=(N_USERS, N_ITEMS))
obs = np.argwhere(rng.random((N_USERS, N_ITEMS)) < 0.15)
perm = rng.permutation(len(obs))
tr, va = obs[perm[: int(0.9 * len(obs))]], obs[perm[int(0.9 * len(obs)):]]
u_tr, i_tr, r_tr = mx.array(tr[:, 0]), mx.array(tr[:, 1]), mx.array(R[tr[:, 0], tr[:, 1]].astype(np.float32))
u_va, i_va, r_va = mx.array(va[:, 0]), mx.array(va[:, 1]), mx.array(R[va[:, 0], va[:, 1]].astype(np.float32))


class MF(nn.Module):
    def __init__(self):
        super().__init__()
        self.user_f = nn.Embedding(N_USERS, RANK)
        self.item_f = nn.Embedding(N_ITEMS, RANK)

    def __call__(self, u, i):
        return (self.user_f(u) * self.item_f(i)).sum(axis=-1)


def loss_fn(model, u, i, r):
    return mx.mean((model(u, i) - r) ** 2) + 1e-3 * (mx.mean(model.user_f(u) ** 2) + mx.mean(model.item_f(i) ** 2))


model = MF()
grad_fn = nn.value_and_grad(model, loss_fn)
for rnd in range(16):
    block = "user_f" if rnd % 2 == 0 else "item_f"
    model.freeze()
    getattr(model, block).unfreeze()
    opt = optim.Adam(learning_rate=0.05)          # fresh optimizer per block
    for it in range(150):
        loss, grads = grad_fn(model, u_tr, i_tr, r_tr)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    rmse = mx.sqrt(mx.mean((model(u_va, i_va) - r_va) ** 2)).item()
    log.info("round %d block=%-6s train_obj=%.4f val_rmse=%.4f", rnd, block, loss.item(), rmse)
model.unfreeze()
log.info("done")
