"""Sowing-game ledger: read a move list, keep track of the board.

Games of a two-row sowing game (6 pits a side + 2 stores, 2 seeds a pit,
sow counter-clockwise, skip the other store, extra turn in own store,
capture from an empty own pit) are played at random.  A GRU reads the pit
numbers one by one and, after every move, names the seed count of every
pit (capped at 9).  Training is split in two sessions with a checkpoint.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PITS, CAP, T = 14, 10, 8
rng = np.random.default_rng(11)


def play(n_moves):
    b = np.array([2] * 6 + [0] + [2] * 6 + [0])
    side, moves, boards = 0, [], []
    for _ in range(n_moves):
        own = range(0, 6) if side == 0 else range(7, 13)
        legal = [p for p in own if b[p] > 0]
        if not legal:
            break
        p = int(rng.choice(legal))
        seeds, b[p], i = b[p], 0, p
        skip = 13 if side == 0 else 6
        while seeds:
            i = (i + 1) % PITS
            if i == skip:
                continue
            b[i] += 1
            seeds -= 1
        store = 6 if side == 0 else 13
        if i in own and b[i] == 1 and b[12 - i] > 0:
            b[store] += b[12 - i] + 1
            b[i] = b[12 - i] = 0
        if i != store:
            side = 1 - side
        moves.append(p)
        boards.append(np.minimum(b, CAP - 1).copy())
    return moves, boards


def dataset(n):
    X = np.full((n, T), 14, np.int32)  # 14 = padding token
    Y = np.zeros((n, T, PITS), np.int32)
    L = np.zeros((n, T), bool)
    for k in range(n):
        mv, bd = play(T)
        X[k, :len(mv)] = mv
        Y[k, :len(mv)] = bd
        L[k, :len(mv)] = True
    return X, Y, L


class Ledger(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(15, 24)
        self.gru = nn.GRU(24, hidden)
        self.out = nn.Linear(hidden, PITS * CAP)

    def __call__(self, x):
        h = self.gru(self.emb(x))
        return self.out(h).reshape(x.shape[0], x.shape[1], PITS, CAP)


def loss_fn(model, x, y, live):
    ce = nn.losses.cross_entropy(model(x), y).mean(-1)
    return (ce * live).sum() / live.sum()


def report(model, Xv, Yv, Lv):
    logits = model(mx.array(Xv))
    ce = loss_fn(model, mx.array(Xv), mx.array(Yv), mx.array(Lv)).item()
    pred = np.array(mx.argmax(logits, -1))
    hit = (pred == Yv)[Lv]
    return ce, 100 * hit.mean(), 100 * hit.all(-1).mean()


t0 = time.time()
Xtr, Ytr, Ltr = dataset(6000)
Xv, Yv, Lv = dataset(800)
start = np.array([2] * 6 + [0] + [2] * 6 + [0])
keep = (np.broadcast_to(start, Yv.shape) == Yv)[Lv]
print("% sowing ledger: 6000 train games, 800 valid games, up to 8 moves each")
print(f"% reference: 'board never changes' pit acc {100 * keep.mean():.1f}%, "
      f"whole-board acc {100 * keep.all(-1).mean():.1f}%, uniform CE {np.log(CAP):.3f}")
print("session,step,lr,train_ce,valid_ce,pit_acc_pct,board_acc_pct,sec")

STEPS, CUT = 360, 180
sched = optim.cosine_decay(4e-3, STEPS, 2e-4)


def build(seed):
    mx.random.seed(seed)
    m = Ledger()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=sched)


def train(model, opt, session, first, last):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(first, last):
        b = rng.integers(0, len(Xtr), 64)
        loss, g = vg(model, mx.array(Xtr[b]), mx.array(Ytr[b]), mx.array(Ltr[b]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 60 == 0 or step == last - 1:
            ce, pa, ba = report(model, Xv, Yv, Lv)
            print(f"{session},{step},{float(sched(step)):.2e},{loss.item():.4f},{ce:.4f},"
                  f"{pa:.2f},{ba:.2f},{time.time() - t0:.1f}")


model, opt = build(3)
train(model, opt, 1, 0, CUT)
with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "ledger.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"next_step": CUT}, f)
    before = report(model, Xv, Yv, Lv)[0]
    del model, opt
    model, opt = build(99)
    model.load_weights(os.path.join(d, "ledger.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        nxt = json.load(f)["next_step"]
after = report(model, Xv, Yv, Lv)[0]
print(f"% resumed at step {nxt}: valid CE before {before:.4f} after {after:.4f}")
train(model, opt, 2, nxt, STEPS)
ce, pa, ba = report(model, Xv, Yv, Lv)
print(f"% finished: valid CE {ce:.4f}, pit acc {pa:.2f}%, whole-board acc {ba:.2f}%")
