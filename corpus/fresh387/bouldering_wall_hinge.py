"""Bouldering gym: suggest problems a member will want to climb (implicit sends)."""
import csv
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
U, I, D, GR, ST = 400, 150, 16, 8, 4
grade = rng.integers(0, GR, I)
style = rng.integers(0, ST, I)
taste = rng.normal(size=(U, 5)); itm = rng.normal(size=(I, 5))
ability = rng.integers(1, GR, U)
style_pref = rng.normal(size=(U, ST))
pref = taste @ itm.T + 1.5 * style_pref[:, style] - 0.8 * np.abs(grade[None] - ability[:, None]) \
    + 0.5 * rng.gumbel(size=(U, I)) + 0.3 * np.log1p(np.arange(I)[::-1] / 10)[None]
sends = np.argsort(-pref, axis=1)[:, :18]
train_pos = sends[:, :15]; test_pos = sends[:, 15:]
seen = np.zeros((U, I), bool); seen[np.arange(U)[:, None], train_pos] = True
pairs = np.stack([np.repeat(np.arange(U), 15), train_pos.ravel()], 1)
pop = seen.sum(0)


class Recommender(nn.Module):
    def __init__(self):
        super().__init__()
        self.member = nn.Embedding(U, D)
        self.problem = nn.Embedding(I, D)
        self.grade = nn.Embedding(GR, D)
        self.style = nn.Embedding(ST, D)
        for e in (self.member, self.problem, self.grade, self.style):
            e.weight = e.weight * 0.1

    def problem_vec(self, it):
        return self.problem(it) + self.grade(g_mx[it]) + self.style(s_mx[it])

    def score(self, u, it):
        return (self.member(u) * self.problem_vec(it)).sum(-1)


g_mx, s_mx = mx.array(grade), mx.array(style)
MARGIN, L2 = 1.0, 1e-4


def hinge(model, u, p, n):
    sp, sn = model.score(u, p), model.score(u, n)
    viol = nn.relu(MARGIN - (sp - sn))
    reg = (model.member(u) ** 2).sum(-1) + (model.problem(p) ** 2).sum(-1) + (model.problem(n) ** 2).sum(-1)
    return viol.mean() + L2 * reg.mean(), (viol > 0).astype(mx.float32).mean()


def evaluate(scores, k=10):
    scores = np.where(seen, -np.inf, scores)
    top = np.argsort(-scores, axis=1)[:, :k]
    hit = (top[:, :, None] == test_pos[:, None, :]).any(-1)
    recall = hit.sum(1) / test_pos.shape[1]
    disc = 1 / np.log2(np.arange(k) + 2)
    ideal = disc[:test_pos.shape[1]].sum()
    return 100 * recall.mean(), (hit * disc).sum(1).mean() / ideal


def sample_neg(u, n_cand):
    c = rng.integers(0, I, (len(u), n_cand))
    bad = seen[u[:, None], c]
    c = np.where(bad, rng.integers(0, I, c.shape), c)   # one redraw, rare collisions tolerated
    return c


mx.random.seed(5)
model = Recommender()
opt = optim.Adagrad(learning_rate=0.08)
vg = nn.value_and_grad(model, hinge)

w = csv.writer(sys.stdout, lineterminator="\n")
prec, pndcg = evaluate(np.broadcast_to(pop.astype(float), (U, I)).copy())
print(f"# members={U} problems={I} train_sends={len(pairs)} held_out_per_member=3")
print(f"# popularity reference: recall@10_pct={prec:.1f} ndcg@10={pndcg:.3f}; random recall@10_pct~{100 * 10 / (I - 15):.1f}")
w.writerow(["epoch", "phase", "neg_pool", "hinge", "active_pairs_pct", "recall10_pct", "ndcg10", "secs"])
r0, n0 = evaluate(np.array(model.score(mx.arange(U)[:, None], mx.arange(I)[None])))
w.writerow([0, "init", "-", "", "", f"{r0:.1f}", f"{n0:.3f}", "0.0"])
t0, BS = time.time(), 200
for ep in range(1, 25):
    phase, pool = ("uniform", 1) if ep <= 12 else ("hard", 12)
    perm = rng.permutation(len(pairs))
    tot = act = 0.0; nb = 0
    for i in range(0, len(pairs), BS):
        b = pairs[perm[i:i + BS]]
        u_np = b[:, 0]
        cand = sample_neg(u_np, pool)
        u = mx.array(u_np)
        if pool > 1:  # keep the highest-scoring sampled negative for each pair
            sc = model.score(u[:, None], mx.array(cand))
            cand = cand[np.arange(len(cand)), np.array(mx.argmax(sc, axis=1))][:, None]
        (loss, frac), g = vg(model, u, mx.array(b[:, 1]), mx.array(cand[:, 0]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, frac)
        tot += loss.item(); act += frac.item(); nb += 1
    rec, nd = evaluate(np.array(model.score(mx.arange(U)[:, None], mx.arange(I)[None])))
    w.writerow([ep, phase, pool, f"{tot / nb:.4f}", f"{100 * act / nb:.1f}", f"{rec:.1f}", f"{nd:.3f}",
                f"{time.time() - t0:.1f}"])
print(f"# final recall@10_pct={rec:.1f} ndcg@10={nd:.3f} (popularity {prec:.1f} / {pndcg:.3f})")
