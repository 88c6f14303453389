"""Saltern ledger: daily salt raked per pan (kg) from four gauges plus the pan and tide-book numbers.

A small dense trunk writes a query; a product-key memory (Lample et al. 2019)
looks up 4 of 256 value rows through two 16-row sub-key tables and adds the
weighted rows back. Trained in two sittings with a checkpoint in between.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TRAIN, N_VAL = 6000, 1500
HALF = 16          # sub-keys per half  -> 16 * 16 = 256 memory slots
TOPK = 4
QDIM = 16
VDIM = 32
N_IN = 36
NOISE = 0.10       # noise sd on the raw daily yield


def make_pans(n, rng, cell_table):
    brine = rng.uniform(0, 1, n)          # brine density (scaled)
    sun = rng.uniform(0, 1, n)            # sun hours (scaled)
    wind = rng.uniform(0, 1, n)
    depth = rng.uniform(0, 1, n)
    pan = rng.integers(0, 16, n)          # which of 16 pans
    tide = rng.integers(0, 16, n)         # tide-book bucket
    x = np.concatenate([
        np.stack([brine, sun, wind, depth], 1),
        np.eye(16)[pan], np.eye(16)[tide],
    ], 1).astype(np.float32)
    smooth = 1.2 * brine * sun + 0.5 * wind - 0.4 * depth ** 2
    y = smooth + cell_table[pan, tide] + NOISE * rng.standard_normal(n)
    return x, y.astype(np.float32)[:, None]


class KeyMemory(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.query = nn.Linear(dims, QDIM)
        self.qnorm = nn.LayerNorm(QDIM)
        self.keys_a = mx.random.normal((HALF, QDIM // 2)) * 0.5
        self.keys_b = mx.random.normal((HALF, QDIM // 2)) * 0.5
        self.table = nn.Embedding(HALF * HALF, VDIM)
        self.table.weight = self.table.weight * 0.05

    def __call__(self, h):
        q = self.qnorm(self.query(h))
        qa, qb = q[:, : QDIM // 2], q[:, QDIM // 2:]
        sa = qa @ self.keys_a.T                                 # (B, 16)
        sb = qb @ self.keys_b.T
        ia = mx.stop_gradient(mx.argpartition(-sa, TOPK - 1, axis=1)[:, :TOPK])
        ib = mx.stop_gradient(mx.argpartition(-sb, TOPK - 1, axis=1)[:, :TOPK])
        ta = mx.take_along_axis(sa, ia, axis=1)                 # (B, K)
        tb = mx.take_along_axis(sb, ib, axis=1)
        cand = (ta[:, :, None] + tb[:, None, :]).reshape(-1, TOPK * TOPK)
        slot = (ia[:, :, None] * HALF + ib[:, None, :]).reshape(-1, TOPK * TOPK)
        pick = mx.stop_gradient(mx.argpartition(-cand, TOPK - 1, axis=1)[:, :TOPK])
        best = mx.take_along_axis(cand, pick, axis=1)
        rows = mx.stop_gradient(mx.take_along_axis(slot, pick, axis=1))
        w = mx.softmax(best, axis=1)
        out = (w[:, :, None] * self.table(rows)).sum(axis=1)
        return out, rows


class PanModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_IN, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.memory = KeyMemory(64)
        self.head = nn.Linear(64 + VDIM, 1)

    def __call__(self, x):
        h = self.trunk(x)
        m, rows = self.memory(h)
        return self.head(mx.concatenate([h, m], axis=1)), rows


def mse(model, x, y):
    p, _ = model(x)
    return ((p - y) ** 2).mean()


def build(total_steps):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 100), optim.cosine_decay(3e-3, total_steps - 100, 1e-4)],
        [100])
    return optim.Adam(learning_rate=sched)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    cell_table = rng.normal(0, 0.6, (16, 16))
    xtr, ytr = make_pans(N_TRAIN, rng, cell_table)
    xva, yva = make_pans(N_VAL, rng, cell_table)
    mu, sd = ytr.mean(), ytr.std()
    ytr_s, yva_s = (ytr - mu) / sd, (yva - mu) / sd
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr_s, xva, yva_s))

    floor = (NOISE / sd) ** 2
    mean_guess = float(((yva_s - ytr_s.mean()) ** 2).mean())
    A = np.concatenate([xtr, np.ones((N_TRAIN, 1), np.float32)], 1)
    coef, *_ = np.linalg.lstsq(A, ytr_s, rcond=None)
    Av = np.concatenate([xva, np.ones((N_VAL, 1), np.float32)], 1)
    lsq = float(((Av @ coef - yva_s) ** 2).mean())

    bs, epochs, stop_after = 128, 30, 14
    steps_per_epoch = N_TRAIN // bs
    total = epochs * steps_per_epoch

    model = PanModel()
    opt = build(total)
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"saltern ledger | pans {N_TRAIN}/{N_VAL} | memory slots {HALF*HALF} top{TOPK} | params {n_par}")
    print(f"yardsticks (val mse, standardised): mean-guess {mean_guess:.4f}  least-squares {lsq:.4f}  noise floor {floor:.4f}")

    lvg = nn.value_and_grad(model, mse)
    _, g = lvg(model, Xtr[:bs], Ytr[:bs])
    zero_leaves = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    print(f"grad leaves {len(tree_flatten(g))}, all-zero leaves {len(zero_leaves)} "
          f"(value rows untouched by a batch get no gradient by construction)")
    print(f"untrained val mse {float(mse(model, Xva, Yva)):.4f}")

    ckdir = tempfile.mkdtemp()

    def run(model, opt, ep_from, ep_to, step):
        lvg = nn.value_and_grad(model, mse)
        for ep in range(ep_from, ep_to):
            perm = np.random.default_rng(SEED + ep).permutation(N_TRAIN)
            tr = []
            for i in range(steps_per_epoch):
                idx = mx.array(perm[i * bs:(i + 1) * bs])
                loss, grads = lvg(model, Xtr[idx], Ytr[idx])
                if step == 0:
                    before = np.array(model.head.weight)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                if step == 0:
                    moved = float(np.abs(np.array(model.head.weight) - before).max())
                    print(f"  step 1 lr {float(opt.learning_rate):.1e}, head max change {moved:.1e}")
                step += 1
                tr.append(float(loss))
            if ep % 3 == 2 or ep == ep_to - 1:
                vm = float(mse(model, Xva, Yva))
                _, rows = model(Xva)
                used = len(np.unique(np.array(rows)))
                mae = float(mx.abs(model(Xva)[0] - Yva).mean()) * sd
                print(f"ep {ep+1:2d} step {step:4d} lr {float(opt.learning_rate):.2e} "
                      f"train {np.mean(tr):.4f} val {vm:.4f} (floor {floor:.4f}) "
                      f"mae {mae:.3f} kg slots-in-use {used}/{HALF*HALF}")
        return step

    step = run(model, opt, 0, stop_after, 0)
    wpath = os.path.join(ckdir, "pan.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"-- sitting one ends at step {step}; written {os.path.basename(wpath)}, {os.path.basename(opath)}")
    del model, opt

    model = PanModel()
    model.load_weights(wpath)
    opt = build(total)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"-- sitting two resumes: optimizer step {int(opt.state['step'])}, lr {float(opt.learning_rate):.2e}, "
          f"val {float(mse(model, Xva, Yva)):.4f}")
    step = run(model, opt, stop_after, epochs, step)
    vm = float(mse(model, Xva, Yva))
    print(f"done: val mse {vm:.4f} vs least-squares {lsq:.4f}, mean-guess {mean_guess:.4f}, floor {floor:.4f} "
          f"| {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
