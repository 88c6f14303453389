"""Nim (heaps 3-4-5, last object wins) in two stages.

Stage 1: a rollout-based UCT search (no network) labels every position with its
visit distribution; an MLP policy/value net distills those targets with SGD +
momentum under cosine warm restarts.
Stage 2: the distilled net improves by self-play REINFORCE with a learned value
baseline and an entropy bonus (the surrogate objective is usually negative).
Progress is scored against the nim-sum rule, with random-move baselines.
"""
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
np.random.seed(11)
mx.random.seed(11)

HEAPS = (3, 4, 5)
MAXK = 5
N_ACT = 3 * MAXK


def legal(s):
    return [i * MAXK + (k - 1) for i in range(3) for k in range(1, s[i] + 1)]


def apply(s, a):
    i, k = divmod(a, MAXK)
    t = list(s)
    t[i] -= k + 1
    return tuple(t)


def nimsum(s):
    return s[0] ^ s[1] ^ s[2]


def feats(s):
    x = np.zeros(3 * 6, dtype=np.float32)  # one-hot heap sizes 0..5
    for i, h in enumerate(s):
        x[i * 6 + h] = 1.0
    return x


ALL = [(a, b, c) for a in range(4) for b in range(5) for c in range(6) if a + b + c > 0]


# ---------------------------------------------------------------- stage-1 teacher
def uct_visits(root, iters=400, c=1.2):
    N, W = {}, {}

    def rollout(s):
        turn = 0
        while True:
            s = apply(s, random.choice(legal(s)))
            if sum(s) == 0:
                return 1.0 if turn == 0 else -1.0  # value for the player who moved first here
            turn ^= 1

    def sim(s):
        if sum(s) == 0:
            return -1.0  # side to move has lost
        if s not in N:
            N[s] = np.zeros(N_ACT)
            W[s] = np.zeros(N_ACT)
            return rollout(s)
        acts = legal(s)
        n, w = N[s], W[s]
        tot = math.log(n.sum() + 1)
        untried = [a for a in acts if n[a] == 0]
        if untried:
            a = random.choice(untried)
        else:
            a = max(acts, key=lambda b: w[b] / n[b] + c * math.sqrt(tot / n[b]))
        v = -sim(apply(s, a))
        n[a] += 1
        w[a] += v
        return v

    for _ in range(iters):
        sim(root)
    return N[root]


class HeapNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.l1 = nn.Linear(18, h)
        self.l2 = nn.Linear(h, h)
        self.pi = nn.Linear(h, N_ACT)
        self.v = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.gelu(self.l2(nn.gelu(self.l1(x))))
        return self.pi(h), mx.tanh(self.v(h)).squeeze(-1)


def masks(states):
    m = np.full((len(states), N_ACT), -1e9, dtype=np.float32)
    for j, s in enumerate(states):
        m[j, legal(s)] = 0.0
    return mx.array(m)


def score(model):
    X = mx.array(np.stack([feats(s) for s in ALL]))
    logits, v = model(X)
    logits = np.array(logits + masks(ALL))
    v = np.array(v)
    win = [j for j, s in enumerate(ALL) if nimsum(s) != 0]
    hit = sum(nimsum(apply(ALL[j], int(np.argmax(logits[j])))) == 0 for j in win)
    base = np.mean([sum(nimsum(apply(ALL[j], a)) == 0 for a in legal(ALL[j])) / len(legal(ALL[j])) for j in win])
    vsign = np.mean([(v[j] > 0) == (nimsum(s) != 0) for j, s in enumerate(ALL)])
    maj = max(len(win), len(ALL) - len(win)) / len(ALL)
    return hit / len(win), base, vsign, maj


def vs_random(model, games=200):
    wins = 0
    for _ in range(games):
        s, turn = HEAPS, 0
        while True:
            if turn == 0:
                lg, _ = model(mx.array(feats(s))[None])
                lg = np.array(lg[0])
                acts = legal(s)
                a = acts[int(np.argmax(lg[acts]))]
            else:
                a = random.choice(legal(s))
            s = apply(s, a)
            if sum(s) == 0:
                wins += int(turn == 0)
                break
            turn ^= 1
    return wins / games


def main():
    t0 = time.time()
    model = HeapNet()
    mx.eval(model.parameters())
    acc, base, vs, maj = score(model)
    print(f"{len(ALL)} positions | untrained: nim-optimal move {acc:.3f} (random {base:.3f}), value sign {vs:.3f} (majority {maj:.3f})")

    # ---- stage 1: label with UCT, distill
    tv = time.time()
    targets, vals = [], []
    for s in ALL:
        n = uct_visits(s)
        targets.append(n / n.sum())
        acts = legal(s)
        vals.append(1.0 if nimsum(s) != 0 else -1.0)  # exact outcome, used only as the value target
    print(f"stage 1: UCT labelled {len(ALL)} positions in {time.time()-tv:.1f}s (no output while searching)")
    X = mx.array(np.stack([feats(s) for s in ALL]))
    T = mx.array(np.stack(targets).astype(np.float32))
    Vt = mx.array(np.array(vals, dtype=np.float32))
    M = masks(ALL)
    tn = np.stack(targets)
    floor = float(-(tn * np.log(np.where(tn > 0, tn, 1))).sum(1).mean())

    def distill_loss(m, x, t, vt, mk):
        lg, v = m(x)
        logp = (lg + mk) - mx.logsumexp(lg + mk, axis=-1, keepdims=True)
        ce = -(t * mx.where(t > 0, logp, 0.0)).sum(-1).mean()
        return ce + 0.5 * mx.square(v - vt).mean(), ce

    sched = optim.cosine_decay(0.2, 150, 0.005)
    opt = optim.SGD(learning_rate=0.2, momentum=0.9)
    vg = nn.value_and_grad(model, distill_loss)
    EPOCHS, CYCLE, BATCH = 450, 150, 32
    for ep in range(EPOCHS):
        opt.learning_rate = sched(ep % CYCLE)  # warm restart every CYCLE epochs
        perm = np.random.permutation(len(ALL))
        tot = ce_tot = 0.0
        for b in range(0, len(ALL), BATCH):
            idx = mx.array(perm[b:b + BATCH])
            (loss, ce), g = vg(model, X[idx], T[idx], Vt[idx], M[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * len(perm[b:b + BATCH])
            ce_tot += ce.item() * len(perm[b:b + BATCH])
        if ep % CYCLE in (0, 1) or (ep + 1) % 50 == 0:
            acc, base, vs, _ = score(model)
            print(f"  distill epoch {ep+1:3d} lr {float(sched(ep % CYCLE)):.4f} loss {tot/len(ALL):.4f} "
                  f"CE {ce_tot/len(ALL):.4f} (teacher entropy floor {floor:.4f}) nim-optimal {acc:.3f} value-sign {vs:.3f}")
    acc1, base, vs1, maj = score(model)
    print(f"after stage 1: nim-optimal {acc1:.3f} (random {base:.3f}), value sign {vs1:.3f} (majority {maj:.3f}), "
          f"first-player win rate vs random {vs_random(model):.3f}")

    # ---- stage 2: self-play REINFORCE with value baseline
    def pg_loss(m, x, a_onehot, ret, mk):
        lg, v = m(x)
        logp_all = (lg + mk) - mx.logsumexp(lg + mk, axis=-1, keepdims=True)
        p = mx.exp(logp_all)
        logp = (logp_all * a_onehot).sum(-1)
        adv = mx.stop_gradient(ret - v)
        ent = -(p * mx.where(p > 0, logp_all, 0.0)).sum(-1).mean()
        surrogate = -(adv * logp).mean()
        return surrogate + 0.5 * mx.square(ret - v).mean() - 0.01 * ent, (surrogate, ent)

    opt2 = optim.Adam(learning_rate=3e-4)
    vg2 = nn.value_and_grad(model, pg_loss)
    for it in range(1, 121):
        S, A, R = [], [], []
        for _ in range(24):
            start = random.choice([s for s in ALL if sum(s) >= 6])
            s, traj = start, []
            while sum(s) > 0:
                lg, _ = model(mx.array(feats(s))[None])
                lg = np.array(lg[0])
                acts = legal(s)
                z = lg[acts] - lg[acts].max()
                p = np.exp(z) / np.exp(z).sum()
                a = acts[int(np.random.choice(len(acts), p=p))]
                traj.append((s, a))
                s = apply(s, a)
            r = 1.0  # the last mover won
            for st, a in reversed(traj):
                S.append(st)
                A.append(a)
                R.append(r)
                r = -r
        oh = np.zeros((len(A), N_ACT), dtype=np.float32)
        oh[np.arange(len(A)), A] = 1.0
        (loss, (sur, ent)), g = vg2(model, mx.array(np.stack([feats(s) for s in S])), mx.array(oh),
                                    mx.array(np.array(R, dtype=np.float32)), masks(S))
        opt2.update(model, g)
        mx.eval(model.parameters(), opt2.state)
        if it % 20 == 0:
            acc, base, vs, _ = score(model)
            print(f"  self-play iter {it:3d} loss {loss.item():+.4f} surrogate {sur.item():+.4f} entropy {ent.item():.3f} "
                  f"nim-optimal {acc:.3f} value-sign {vs:.3f}")
    acc2, base, vs2, maj = score(model)
    print(f"final: nim-optimal move {acc2:.3f} (random {base:.3f}), value sign {vs2:.3f} (majority {maj:.3f}), "
          f"first-player win rate vs random {vs_random(model):.3f}")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
