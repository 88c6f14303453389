"""Graph-level energy regression on toy molecules with a small message-passing net.

Each molecule is a random connected graph of 5..12 atoms of 4 kinds. Its energy
(kcal/mol, made up) is a sum of pairwise bond terms plus a ring-strain term per
triangle plus a valence-mismatch term, with noise. Atom kinds are described by a
fixed table of 4 hand-entered descriptors that is kept frozen on purpose; only the
message-passing layers and the readout train. The learning rate warms up from 0.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mpnn")

MAX_ATOMS = 12
KINDS = ["C", "N", "O", "S"]
# electronegativity, valence, covalent radius (A), mass / 10
DESCRIPTORS = np.array([
    [2.55, 4.0, 0.76, 1.20],
    [3.04, 3.0, 0.71, 1.40],
    [3.44, 2.0, 0.66, 1.60],
    [2.58, 2.0, 1.05, 3.21],
], dtype=np.float32)
VALENCE = DESCRIPTORS[:, 1]
BOND = np.array([
    [-3.6, -3.1, -3.7, -2.7],
    [-3.1, -1.6, -2.0, -2.2],
    [-3.7, -2.0, -1.4, -2.5],
    [-2.7, -2.2, -2.5, -2.6],
], dtype=np.float32)


def make_molecules(n, rng):
    adj = np.zeros((n, MAX_ATOMS, MAX_ATOMS), np.float32)
    kinds = np.zeros((n, MAX_ATOMS), np.int32)
    mask = np.zeros((n, MAX_ATOMS), np.float32)
    energy = np.zeros(n, np.float32)
    for g in range(n):
        k = rng.integers(5, MAX_ATOMS + 1)
        t = rng.choice(4, size=k, p=[0.55, 0.2, 0.17, 0.08])
        a = np.zeros((k, k), np.float32)
        for i in range(1, k):
            j = rng.integers(0, i)
            a[i, j] = a[j, i] = 1.0
        for _ in range(rng.integers(0, 3)):
            i, j = rng.choice(k, size=2, replace=False)
            a[i, j] = a[j, i] = 1.0
        iu = np.triu_indices(k, 1)
        e = float(np.sum(a[iu] * BOND[t[iu[0]], t[iu[1]]]))
        triangles = np.trace(a @ a @ a) / 6.0
        deg = a.sum(1)
        e += 1.2 * triangles + 0.35 * float(np.sum((deg - VALENCE[t]) ** 2))
        e += rng.normal(0.0, 0.25)
        adj[g, :k, :k] = a
        kinds[g, :k] = t
        mask[g, :k] = 1.0
        energy[g] = e
    return adj, kinds, mask, energy


class MPNN(nn.Module):
    def __init__(self, hidden=32, rounds=3):
        super().__init__()
        self.atom_table = nn.Embedding(len(KINDS), DESCRIPTORS.shape[1])
        self.encode = nn.Linear(DESCRIPTORS.shape[1], hidden)
        self.self_lin = [nn.Linear(hidden, hidden) for _ in range(rounds)]
        self.msg_lin = [nn.Linear(hidden, hidden, bias=False) for _ in range(rounds)]
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def __call__(self, adj, kinds, mask):
        m = mask[..., None]
        h = nn.silu(self.encode(self.atom_table(kinds))) * m
        for s, w in zip(self.self_lin, self.msg_lin):
            msg = adj @ h
            h = (h + nn.silu(s(h) + w(msg))) * m
        return self.readout(h.sum(axis=1)).squeeze(-1)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    mx.random.seed(7)

    # silent data preparation
    A_tr, K_tr, M_tr, E_tr = make_molecules(2400, rng)
    A_va, K_va, M_va, E_va = make_molecules(600, rng)
    mu, sd = float(E_tr.mean()), float(E_tr.std())
    log.info("prepared %d train / %d val molecules in %.1fs; energy mean %.2f sd %.2f kcal/mol",
             len(E_tr), len(E_va), time.perf_counter() - t0, mu, sd)
    log.info("mean-predictor val MAE %.3f kcal/mol", float(np.abs(E_va - mu).mean()))

    model = MPNN()
    model.atom_table.weight = mx.array((DESCRIPTORS - DESCRIPTORS.mean(0)) / DESCRIPTORS.std(0))
    model.atom_table.freeze()
    table_before = np.array(model.atom_table.weight)

    warm, total = 150, 1500
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)

    def loss_fn(m, adj, kinds, mask, y):
        return nn.losses.huber_loss(m(adj, kinds, mask), y, delta=1.0, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)

    va = (mx.array(A_va), mx.array(K_va), mx.array(M_va))

    def val_mae():
        pred = np.array(model(*va)) * sd + mu
        return float(np.abs(pred - E_va).mean())

    # gradient audit on one batch before any update
    idx0 = mx.array(np.arange(64))
    _, g0 = step_fn(model, mx.array(A_tr)[idx0], mx.array(K_tr)[idx0], mx.array(M_tr)[idx0],
                    mx.array((E_tr[:64] - mu) / sd))
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    n_frozen = len(tree_flatten(model.parameters())) - len(tree_flatten(model.trainable_parameters()))
    log.info("gradient audit: %d trainable leaves, %d with zero gradient, %d frozen (atom table)",
             len(leaves), len(zero), n_frozen)

    A_all, K_all, M_all = mx.array(A_tr), mx.array(K_tr), mx.array(M_tr)
    Y_all = mx.array((E_tr - mu) / sd)
    bs, step, window = 64, 0, []
    n = len(E_tr)
    while step < total:
        perm = rng.permutation(n)
        for start in range(0, n - bs + 1, bs):
            if step >= total:
                break
            idx = mx.array(perm[start:start + bs])
            lr_now = float(schedule(opt.step)) if step > 0 else 0.0
            loss, grads = step_fn(model, A_all[idx], K_all[idx], M_all[idx], Y_all[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if step == 1 or step % 150 == 0:
                log.info("step %4d/%d  lr %.2e  huber(win, std units) %.4f  val MAE %.3f kcal/mol",
                         step, total, lr_now, float(np.mean(window)), val_mae())
                window = []

    drift = float(np.abs(np.array(model.atom_table.weight) - table_before).max())
    log.info("done in %.1fs; final val MAE %.3f kcal/mol; atom table max change %.1e",
             time.perf_counter() - t0, val_mae(), drift)


if __name__ == "__main__":
    main()
