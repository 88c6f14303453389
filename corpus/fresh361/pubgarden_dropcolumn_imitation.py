"""Pub-garden drop-column game: imitate the house player's move choice.

Positions come from random play on a 6x7 drop-column board.  The house
player's move distribution (a soft preference: take a win, block a win,
prefer the centre) is the target.  A small conv policy net is trained with
illegal columns masked out, in two stages (opening positions first, then
all positions), each stage with its own warm-up from lr 0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ROWS, COLS = 6, 7
rng = np.random.default_rng(7)
mx.random.seed(7)


def drop(board, col, who):
    for r in range(ROWS):
        if board[r, col] == 0:
            board[r, col] = who
            return r
    return -1


def wins(board, r, c, who):
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        n = 1
        for s in (1, -1):
            rr, cc = r + s * dr, c + s * dc
            while 0 <= rr < ROWS and 0 <= cc < COLS and board[rr, cc] == who:
                n += 1
                rr += s * dr
                cc += s * dc
        if n >= 4:
            return True
    return False


def completes(board, col, who):
    b = board.copy()
    r = drop(b, col, who)
    return r >= 0 and wins(b, r, col, who)


def house_policy(board):
    legal = board[ROWS - 1] == 0
    score = np.full(COLS, -np.inf)
    win_cols = []
    for c in range(COLS):
        if not legal[c]:
            continue
        s = 1.0 - 0.3 * abs(c - 3)
        if completes(board, c, 1):
            s += 6.0
            win_cols.append(c)
        elif completes(board, c, -1):
            s += 3.0
        score[c] = s
    z = np.exp((score - score[legal].max()) / 0.6)
    z[~legal] = 0.0
    return z / z.sum(), legal, bool(win_cols)


def make_positions(n):
    xs, ps, ms, plies, haswin = [], [], [], [], []
    while len(xs) < n:
        board = np.zeros((ROWS, COLS), np.int8)
        k = int(rng.integers(2, 26))
        who, ok = 1, True
        for _ in range(k):
            legal = np.flatnonzero(board[ROWS - 1] == 0)
            c = int(rng.choice(legal))
            r = drop(board, c, who)
            if wins(board, r, c, who):
                ok = False
                break
            who = -who
        if not ok or not (board[ROWS - 1] == 0).any():
            continue
        rel = board * who  # side to move = +1
        p, legal, w = house_policy(rel)
        planes = np.stack([rel == 1, rel == -1, np.zeros_like(rel, bool)], -1)
        for c in np.flatnonzero(legal):
            r = int(np.argmax(rel[:, c] == 0))
            planes[r, c, 2] = True
        xs.append(planes.astype(np.float32))
        ps.append(p.astype(np.float32))
        ms.append(legal)
        plies.append(k)
        haswin.append(w)
    return (np.stack(xs), np.stack(ps), np.stack(ms), np.array(plies), np.array(haswin))


class PolicyNet(nn.Module):
    def __init__(self, width=192):
        super().__init__()
        self.inp = nn.Linear(ROWS * COLS * 3, width)
        self.mid = nn.Linear(width, width)
        self.head = nn.Linear(width, COLS)

    def __call__(self, x):
        h = nn.relu(self.inp(x.reshape(x.shape[0], -1)))
        h = nn.relu(self.mid(h)) + h
        return self.head(h)


def masked_logp(model, x, m):
    logits = mx.where(m, model(x), -1e9)
    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def loss_fn(model, x, p, m):
    lp = masked_logp(model, x, m)
    return -mx.sum(mx.where(m, p * lp, 0.0), axis=-1).mean()


t0 = time.time()
X, P, M, K, W = make_positions(5200)
ntr = 4200
Xtr, Ptr, Mtr, Ktr = X[:ntr], P[:ntr], M[:ntr], K[:ntr]
Xva, Pva, Mva, Wva = (mx.array(X[ntr:]), P[ntr:], mx.array(M[ntr:]), W[ntr:])
Pva_mx = mx.array(Pva)
ent = -np.sum(np.where(Pva > 0, Pva * np.log(np.maximum(Pva, 1e-12)), 0), -1).mean()
house_top = Pva.argmax(-1)
uni = np.mean([1.0 / m.sum() for m in M[ntr:]])
centre = np.array([min(np.flatnonzero(m), key=lambda c: abs(c - 3)) for m in M[ntr:]])
print(f"positions: {ntr} train / {len(Wva)} valid, built in {time.time() - t0:.1f}s")
print(f"reference: house-entropy floor {ent:.3f} nats | uniform-legal top1 {100 * uni:.1f}% "
      f"| centre-first top1 {100 * np.mean(centre == house_top):.1f}% "
      f"| positions with a win on the board {100 * Wva.mean():.1f}%")

model = PolicyNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    lp = masked_logp(model, Xva, Mva)
    kl = (-mx.sum(mx.where(Mva, Pva_mx * lp, 0.0), -1).mean()).item()
    pick = np.array(mx.argmax(lp, -1))
    top1 = np.mean(pick == house_top)
    illegal = 1.0 - np.array(Mva)[np.arange(len(pick)), pick].mean()
    win_taken = np.mean([completes_any(i, c) for i, c in zip(np.flatnonzero(Wva), pick[Wva])])
    return kl, top1, illegal, win_taken


XVA_NP = X[ntr:]


def completes_any(i, c):
    rel = XVA_NP[i, :, :, 0].astype(np.int8) - XVA_NP[i, :, :, 1].astype(np.int8)
    return completes(rel, int(c), 1)


stages = [("opening", Ktr <= 10, 300, 3e-3), ("full", np.ones_like(Ktr, bool), 450, 2e-3)]
print("| stage | step | lr | train CE | valid CE | top1 % | illegal % | win taken % | s |")
print("|---|---|---|---|---|---|---|---|---|")
for name, sel, steps, peak in stages:
    idx_pool = np.flatnonzero(sel)
    warm = 50
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    run = 0.0
    for step in range(steps):
        b = rng.choice(idx_pool, 64, replace=False)
        lr_now = float(sched(step))
        loss, g = vg(model, mx.array(Xtr[b]), mx.array(Ptr[b]), mx.array(Mtr[b]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if step == 0 else 0.95 * run + 0.05 * loss.item()
        if step % 75 == 0 or step == steps - 1:
            kl, top1, ill, wt = evaluate()
            print(f"| {name} | {step} | {lr_now:.2e} | {run:.3f} | {kl:.3f} | {100 * top1:.1f} "
                  f"| {100 * ill:.2f} | {100 * wt:.1f} | {time.time() - t0:.1f} |")

kl, top1, ill, wt = evaluate()
print(f"done: valid CE {kl:.3f} nats (floor {ent:.3f}), top1 {100 * top1:.1f}%, "
      f"illegal {100 * ill:.2f}%, wins taken {100 * wt:.1f}%")
