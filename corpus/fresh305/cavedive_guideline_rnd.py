"""Cave diving: lay a guideline down a flooded passage of 20 chambers and find
the air bell at the far end (the only reward). Policy gradient with a
random-network-distillation curiosity bonus: a frozen random 'target' network
and a trained 'predictor'; the bonus is the predictor's error on new chambers.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3
np.random.seed(SEED)
mx.random.seed(SEED)

N, H, B = 20, 34, 32          # chambers, steps per dive, dives per batch
GAMMA = 0.97


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N, 64)
        self.l2 = nn.Linear(64, 2)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def mlp(din, hid, dout):
    return nn.Sequential(nn.Linear(din, hid), nn.ReLU(), nn.Linear(hid, dout))


def onehot(pos):
    return np.eye(N, dtype=np.float32)[pos]


def rollout(policy):
    pos = np.zeros(B, dtype=np.int64)
    alive = np.ones(B, dtype=np.float32)
    S, A, R, M, NS = [], [], [], [], []
    for _ in range(H):
        s = onehot(pos)
        a = np.array(mx.random.categorical(policy(mx.array(s)))).astype(np.int64)
        npos = np.clip(pos + np.where(a == 1, 1, -1), 0, N - 1)
        r = ((npos == N - 1) & (alive > 0)).astype(np.float32)
        S.append(s); A.append(a); R.append(r); M.append(alive.copy()); NS.append(onehot(npos))
        alive = alive * (npos != N - 1)
        pos = npos
    return np.stack(S), np.stack(A), np.stack(R), np.stack(M), np.stack(NS)


def main():
    t0 = time.time()
    policy = Policy()
    target = mlp(N, 32, 16)
    predictor = mlp(N, 64, 16)
    target.freeze()
    mx.eval(policy.parameters(), target.parameters(), predictor.parameters())
    target_sum0 = sum(float(mx.abs(v).sum()) for _, v in tree_flatten(target.parameters()))

    opt_pi = optim.Adam(learning_rate=3e-3)
    opt_rnd = optim.Adam(learning_rate=1e-3)

    def pi_loss(model, s, a, adv, m):
        logits = model(s)
        logp = -nn.losses.cross_entropy(logits, a, reduction="none")
        p = mx.softmax(logits, axis=-1)
        ent = -(p * mx.log(p + 1e-8)).sum(-1)
        denom = m.sum()
        return -(logp * adv * m).sum() / denom - 0.01 * (ent * m).sum() / denom

    def rnd_loss(model, s, tgt):
        return ((model(s) - tgt) ** 2).sum(-1).mean()

    pi_step = nn.value_and_grad(policy, pi_loss)
    rnd_step = nn.value_and_grad(predictor, rnd_loss)

    int_scale = None
    base = None
    for it in range(1, 121):
        beta = 0.1 * max(0.0, 1.0 - it / 60.0)
        S, A, R, M, NS = rollout(policy)
        ns_flat = mx.array(NS.reshape(-1, N))
        tgt = mx.stop_gradient(target(ns_flat))
        r_int = np.array(((predictor(ns_flat) - tgt) ** 2).sum(-1)).reshape(H, B)
        if int_scale is None:
            int_scale = float(r_int.mean() + 1e-6)     # constant scale taken from the first batch
        r_tot = R + beta * (r_int / int_scale) * M

        G = np.zeros((H, B), np.float32)
        run = np.zeros(B, np.float32)
        for t in reversed(range(H)):
            run = r_tot[t] + GAMMA * run * M[t]
            G[t] = run
        g_mean = (G * M).sum(1) / np.maximum(M.sum(1), 1)
        base = g_mean if base is None else 0.8 * base + 0.2 * g_mean
        adv = np.clip((G - base[:, None]) * M, -3.0, 3.0)

        lp, gp = pi_step(policy, mx.array(S.reshape(-1, N)), mx.array(A.reshape(-1)),
                         mx.array(adv.reshape(-1).astype(np.float32)), mx.array(M.reshape(-1)))
        opt_pi.update(policy, gp)
        vis = np.nonzero(M.reshape(-1) > 0)[0]
        lr_, gr = rnd_step(predictor, ns_flat[mx.array(vis)], tgt[mx.array(vis)])
        opt_rnd.update(predictor, gr)
        mx.eval(policy.parameters(), predictor.parameters(), opt_pi.state, opt_rnd.state, lp, lr_)

        if it % 10 == 0 or it == 1:
            found = float(R.sum(0).mean())
            deepest = float(np.array([S[M[:, b] > 0, b].argmax(-1).max() for b in range(B)]).mean())
            bonus = float((r_int * M).sum() / M.sum())
            print(f"iter {it:3d}  air-bell rate {found:4.2f}  deepest chamber {deepest:5.1f}  "
                  f"curiosity bonus {bonus:7.4f}  predictor mse {lr_.item():7.4f}  "
                  f"policy loss {lp.item():7.3f}  beta {beta:.3f}")

    target_sum1 = sum(float(mx.abs(v).sum()) for _, v in tree_flatten(target.parameters()))
    rng = np.random.default_rng(11)
    pos = np.zeros(200, dtype=np.int64)
    reached = np.zeros(200, bool)
    rpos = np.zeros(200, dtype=np.int64)
    rreached = np.zeros(200, bool)
    for _ in range(H):
        a = np.array(mx.argmax(policy(mx.array(onehot(pos))), axis=-1))
        pos = np.clip(pos + np.where(a == 1, 1, -1), 0, N - 1)
        reached |= pos == N - 1
        rpos = np.clip(rpos + rng.choice([-1, 1], size=200), 0, N - 1)
        rreached |= rpos == N - 1
    print(f"eval greedy diver reaches air bell {reached.mean():.2f}  (coin-flip diver {rreached.mean():.2f})")
    print(f"frozen target |w| sum before {target_sum0:.4f} after {target_sum1:.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
