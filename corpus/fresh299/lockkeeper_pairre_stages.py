"""River lock-keeper register: PairRE link prediction in two stages.
Stage A: 4 uniform negatives per fact, plain log-sigmoid loss.
Stage B: 24 negatives per fact, self-adversarial weighting (harder negatives, so the loss
jumps up at the stage boundary). Learning rate follows cosine cycles with warm restarts."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
N_RIVER, LOCKS = 8, 14
N_LOCK = N_RIVER * LOCKS
N_TRUST = 4
N_ENT = N_LOCK + N_TRUST
REL = ["downstream_of", "same_river", "managed_by", "twinned_with"]

facts = set()
for rv in range(N_RIVER):
    locks = [rv * LOCKS + i for i in range(LOCKS)]
    for i, l in enumerate(locks):
        if i + 1 < LOCKS:
            facts.add((locks[i + 1], 0, l))
        facts.add((l, 2, N_LOCK + rv % N_TRUST))
        for j in rng.choice(LOCKS, 4, replace=False):
            if j != i:
                facts.add((l, 1, locks[j]))
                facts.add((locks[j], 1, l))
    other = (rv + 3) % N_RIVER
    for i in range(0, LOCKS, 3):
        facts.add((locks[i], 3, other * LOCKS + i))
facts = np.array(sorted(facts), dtype=np.int32)
perm = rng.permutation(len(facts))
cut = len(facts) // 10
test = facts[perm[:cut]]
test = test[test[:, 1] != 2]
train = np.array([f for f in facts if not any((f == t).all() for t in test)], dtype=np.int32)
known = {tuple(f) for f in facts}
print(f"entities {N_ENT} | train facts {len(train)} | test facts {len(test)}")


class PairRE(nn.Module):
    def __init__(self, n_ent, n_rel, dim=32, gamma=6.0):
        super().__init__()
        self.gamma = gamma
        rng_b = (gamma + 2.0) / dim
        self.ent = nn.Embedding(n_ent, dim)
        self.rel_h = nn.Embedding(n_rel, dim)
        self.rel_t = nn.Embedding(n_rel, dim)
        self.ent.weight = mx.random.uniform(-rng_b, rng_b, (n_ent, dim))
        self.rel_h.weight = mx.random.uniform(-rng_b, rng_b, (n_rel, dim))
        self.rel_t.weight = mx.random.uniform(-rng_b, rng_b, (n_rel, dim))

    @staticmethod
    def _unit(x):
        return x / mx.maximum(mx.linalg.norm(x, axis=-1, keepdims=True), 1e-9)

    def score(self, h, r, t):
        # h, t: (..., d) entity vectors; r: relation ids broadcastable
        return self.gamma - mx.abs(self._unit(h) * self.rel_h(r) - self._unit(t) * self.rel_t(r)).sum(-1)


def loss_fn(model, pos, neg_tails, adv_temp):
    h = model.ent(pos[:, 0])
    r = pos[:, 1]
    t = model.ent(pos[:, 2])
    pos_s = model.score(h, r, t)                                           # (B,)
    neg_s = model.score(h[:, None], r[:, None], model.ent(neg_tails))     # (B, K)
    if adv_temp > 0:
        w = mx.stop_gradient(mx.softmax(adv_temp * neg_s, axis=-1))
        neg_term = (w * nn.log_sigmoid(-neg_s)).sum(-1)
    else:
        neg_term = nn.log_sigmoid(-neg_s).mean(-1)
    return -(nn.log_sigmoid(pos_s) + neg_term).mean() / 2.0


def evaluate(model):
    h = model.ent(mx.array(test[:, 0]))[:, None]
    r = mx.array(test[:, 1])[:, None]
    s = np.array(model.score(h, r, model.ent.weight[None]))
    ranks = []
    for i, (a, b, c) in enumerate(test):
        row = s[i].copy()
        for e in range(N_ENT):
            if e != c and (a, b, e) in known:
                row[e] = -np.inf
        ranks.append(1 + int((row > row[c]).sum()))
    ranks = np.array(ranks)
    return float((1.0 / ranks).mean()), float((ranks <= 3).mean())


BATCH = 96
spe = int(np.ceil(len(train) / BATCH))
CYCLE = 20 * spe
schedule = optim.join_schedules(
    [optim.cosine_decay(0.01, CYCLE, 5e-4) for _ in range(3)], [CYCLE, 2 * CYCLE])
mx.random.seed(21)
model = PairRE(N_ENT, len(REL))
opt = optim.Adam(learning_rate=schedule)
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, loss_fn)
print(f"random baseline: MRR {np.mean(1.0 / np.arange(1, N_ENT + 1)):.3f} | Hits@3 {3 / N_ENT:.3f}")
m0, h0 = evaluate(model)
print(f"before training: MRR {m0:.3f} | Hits@3 {h0:.3f}")

t0 = time.time()
for epoch in range(1, 61):
    stage = "A" if epoch <= 25 else "B"
    k, temp = (4, 0.0) if stage == "A" else (24, 1.0)
    if epoch == 26:
        print("-- stage B: 24 negatives per fact, self-adversarial weighting --")
    order = rng.permutation(len(train))
    tot = 0.0
    for s in range(spe):
        b = train[order[s * BATCH:(s + 1) * BATCH]]
        neg = rng.integers(0, N_ENT, (len(b), k)).astype(np.int32)
        loss, grads = step_fn(model, mx.array(b), mx.array(neg), temp)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
    if epoch % 5 == 0 or epoch in (1, 26):
        mrr, h3 = evaluate(model)
        print(f"stage {stage} epoch {epoch:2d} | lr {opt.learning_rate.item():.5f} | loss {tot / spe:.4f} | test MRR {mrr:.3f} | Hits@3 {h3:.3f}")
mrr, h3 = evaluate(model)
print(f"final: MRR {mrr:.3f} | Hits@3 {h3:.3f} | {time.time() - t0:.1f}s")
