"""Molecular property regression with a small message-passing network.

Synthetic molecules (random spanning tree over 5..16 heavy atoms of 4 kinds, plus a
few ring-closing bonds). Target: a made-up 'solvation energy' = atom terms + bonded
pair terms + a ring term, with noise whose size grows with the heteroatom count.
The network predicts a mean and a log-variance (Gaussian NLL, which can go below 0).

Stage A: small molecules (5..9 atoms), AdamW.
Stage B: weights reloaded from a checkpoint into a fresh model, larger molecules
(5..16 atoms), a fresh Adagrad optimizer and a restarted step counter.
Reports are YAML documents.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3380)
mx.random.seed(3380)

KINDS = ["C", "N", "O", "S"]
ATOM_TERM = np.array([-0.2, -1.1, -1.6, -0.5])
PAIR_TERM = np.array([[0.05, -0.3, -0.4, 0.1],
                      [-0.3, -0.6, -0.8, -0.2],
                      [-0.4, -0.8, 0.3, -0.1],
                      [0.1, -0.2, -0.1, 0.2]])


def make_molecule(nmin, nmax):
    n = int(rng.integers(nmin, nmax + 1))
    kinds = rng.choice(4, size=n, p=[0.6, 0.18, 0.16, 0.06])
    edges = [(int(rng.integers(0, i)), i) for i in range(1, n)]
    rings = 0
    for _ in range(int(rng.integers(0, 3))):
        a, b = rng.choice(n, size=2, replace=False)
        if a != b and (min(a, b), max(a, b)) not in {(min(e), max(e)) for e in edges}:
            edges.append((int(a), int(b)))
            rings += 1
    y = ATOM_TERM[kinds].sum() + sum(PAIR_TERM[kinds[a], kinds[b]] for a, b in edges) - 0.7 * rings
    hetero = int((kinds > 0).sum())
    sd = 0.03 + 0.03 * hetero
    y += rng.normal(0, sd)
    return kinds, edges, y, sd


def collate(mols):
    kinds, src, dst, gid, ys = [], [], [], [], []
    off = 0
    for g, (k, e, y, _) in enumerate(mols):
        kinds.append(k)
        for a, b in e:
            src += [a + off, b + off]
            dst += [b + off, a + off]
        gid += [g] * len(k)
        ys.append(y)
        off += len(k)
    return (mx.array(np.concatenate(kinds).astype(np.int32)), mx.array(np.array(src, np.int32)),
            mx.array(np.array(dst, np.int32)), mx.array(np.array(gid, np.int32)),
            mx.array(np.array(ys, np.float32)), len(mols))


class BondGraphNet(nn.Module):
    def __init__(self, d=24, rounds=3):
        super().__init__()
        self.emb = nn.Embedding(4, d)
        self.msg = [nn.Linear(2 * d, d) for _ in range(rounds)]
        self.upd = [nn.Linear(2 * d, d) for _ in range(rounds)]
        self.head = nn.Linear(d, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, kinds, src, dst, gid, n_graphs):
        h = self.emb(kinds)
        for m, u in zip(self.msg, self.upd):
            e = nn.silu(m(mx.concatenate([h[src], h[dst]], axis=-1)))
            agg = mx.zeros_like(h).at[dst].add(e)
            h = h + nn.silu(u(mx.concatenate([h, agg], axis=-1)))
        g = mx.zeros((n_graphs, h.shape[-1])).at[gid].add(h)
        o = self.out(nn.silu(self.head(g)))
        return o[:, 0], o[:, 1]


def nll(model, batch):
    kinds, src, dst, gid, y, n = batch
    mu, logvar = model(kinds, src, dst, gid, n)
    logvar = 3.0 * mx.tanh(logvar / 3.0)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi)))


def evaluate(model, mols):
    kinds, src, dst, gid, y, n = collate(mols)
    mu, logvar = model(kinds, src, dst, gid, n)
    logvar = 3.0 * mx.tanh(logvar / 3.0)
    v = mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi))).item()
    err = np.abs(np.array(mu) - np.array(y))
    sd_pred = np.exp(0.5 * np.array(logvar))
    cover = float(np.mean(err < 1.645 * sd_pred)) * 100
    return v, float(err.mean()), cover


def oracle_nll(mols):
    sd = np.array([m[3] for m in mols])
    return float(np.mean(0.5 * (np.log(sd ** 2) + 1 + math.log(2 * math.pi))))


def mean_baseline(train, val):
    mu = np.mean([m[2] for m in train])
    return float(np.mean([abs(m[2] - mu) for m in val]))


def run_stage(name, model, opt, train, val, steps, batch, every):
    vg = nn.value_and_grad(model, nll)
    floor = oracle_nll(val)
    base = mean_baseline(train, val)
    print("---")
    print("stage: %s" % name)
    print("molecules: {train: %d, val: %d}" % (len(train), len(val)))
    print("reference: {oracle_nll: %.3f, mean_predictor_mae: %.3f}" % (floor, base))
    print("reports:")
    win = []
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = rng.choice(len(train), size=batch, replace=False)
        b = collate([train[i] for i in idx])
        loss, grads = vg(model, b)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step % every == 0 or step == 1:
            v, mae, cover = evaluate(model, val)
            print("  - {step: %d, train_nll: %.3f, val_nll: %.3f, val_mae: %.3f, within_90pct_band: %.1f, sec: %.1f}"
                  % (step, float(np.mean(win)), v, mae, cover, time.time() - t0))
            win = []
    return model


train_a = [make_molecule(5, 9) for _ in range(2400)]
val_a = [make_molecule(5, 9) for _ in range(400)]
train_b = [make_molecule(5, 16) for _ in range(2400)]
val_b = [make_molecule(5, 16) for _ in range(400)]

model = BondGraphNet()
mx.eval(model.parameters())
opt_a = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 500, 3e-4), weight_decay=1e-4)
run_stage("A_small_molecules", model, opt_a, train_a, val_a, steps=500, batch=48, every=50)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bondgraph_stageA.safetensors")
    model.save_weights(path)
    del model, opt_a
    model = BondGraphNet()
    model.load_weights(path)
    mx.eval(model.parameters())
    print("---")
    print("checkpoint: {reloaded: true, file: bondgraph_stageA.safetensors}")
    v, mae, cover = evaluate(model, val_b)
    print("before_stage_B_on_large: {val_nll: %.3f, val_mae: %.3f}" % (v, mae))

opt_b = optim.Adagrad(learning_rate=0.002)
run_stage("B_large_molecules", model, opt_b, train_b, val_b, steps=500, batch=48, every=50)
print("...")
