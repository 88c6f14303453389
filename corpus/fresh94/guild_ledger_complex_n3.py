"""Link prediction on a small synthetic medieval guild ledger.

Reciprocal ComplEx with an N3 regulariser (Lacroix et al. 2018), 1-vs-all
cross-entropy over every entity, Adagrad.  Filtered ranking metrics on the
validation split every few epochs; the best epoch is written to disk with
save_weights and reloaded for the final test.
"""
import os
import tempfile
import time
from collections import defaultdict

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TOWNS = ["york", "bruges", "lubeck", "ghent", "bergen", "novgorod"]
TRADES = ["wool", "iron", "wine", "salt", "timber"]
N_GUILDS, N_PEOPLE, N_MASTERS = 8, 300, 24
RELS = ["lives_in", "member_of", "deals_in", "apprenticed_to", "practises", "seated_in"]


def build_ledger(seed=3):
    rng = np.random.default_rng(seed)
    names = ([f"person_{i:03d}" for i in range(N_PEOPLE)] + [f"guild_{g}" for g in range(N_GUILDS)]
             + [f"town_{t}" for t in TOWNS] + [f"trade_{t}" for t in TRADES])
    ent = {n: i for i, n in enumerate(names)}
    rel = {r: i for i, r in enumerate(RELS)}
    guild_trade = rng.integers(len(TRADES), size=N_GUILDS)
    guild_seat = rng.permutation(np.arange(N_GUILDS) % len(TOWNS))
    person_guild = rng.integers(N_GUILDS, size=N_PEOPLE)
    person_guild[:N_MASTERS] = np.arange(N_MASTERS) % N_GUILDS   # three masters per guild
    fixed, loose = [], []
    for g in range(N_GUILDS):
        fixed.append((ent[f"guild_{g}"], rel["practises"], ent[f"trade_{TRADES[guild_trade[g]]}"]))
        fixed.append((ent[f"guild_{g}"], rel["seated_in"], ent[f"town_{TOWNS[guild_seat[g]]}"]))
    for p in range(N_PEOPLE):
        g = person_guild[p]
        town = guild_seat[g] if rng.random() < 0.85 else rng.integers(len(TOWNS))
        loose.append((p, rel["lives_in"], ent[f"town_{TOWNS[town]}"]))
        loose.append((p, rel["member_of"], ent[f"guild_{g}"]))
        loose.append((p, rel["deals_in"], ent[f"trade_{TRADES[guild_trade[g]]}"]))
        if p >= N_MASTERS:
            masters = [m for m in range(N_MASTERS) if person_guild[m] == g]
            loose.append((p, rel["apprenticed_to"], int(rng.choice(masters))))
    loose = np.array(loose, dtype=np.int32)[rng.permutation(len(loose))]
    n_va = n_te = len(loose) // 10
    train = np.concatenate([np.array(fixed, dtype=np.int32), loose[n_va + n_te:]])
    return names, train, loose[:n_va], loose[n_va:n_va + n_te]


class ReciprocalComplEx(nn.Module):
    def __init__(self, n_ent, n_rel, rank):
        super().__init__()
        self.rank = rank
        self.ent = nn.Embedding(n_ent, 2 * rank)
        self.rel = nn.Embedding(2 * n_rel, 2 * rank)       # forward + reciprocal relations
        self.ent.weight = self.ent.weight * 1e-1
        self.rel.weight = self.rel.weight * 1e-1

    def split(self, v):
        return v[..., :self.rank], v[..., self.rank:]

    def __call__(self, heads, rels):
        hr, hi = self.split(self.ent(heads))
        rr, ri = self.split(self.rel(rels))
        tr, ti = self.split(self.ent.weight)
        a = hr * rr - hi * ri
        b = hr * ri + hi * rr
        return a @ tr.T + b @ ti.T                          # (batch, n_ent)

    def n3(self, heads, rels, tails):
        total = 0.0
        for v in (self.ent(heads), self.rel(rels), self.ent(tails)):
            re, im = self.split(v)
            total = total + (mx.sqrt(re * re + im * im + 1e-12) ** 3).sum()
        return total / heads.shape[0]


def as_queries(triples, n_rel):
    """Each triple gives a tail query (h, r -> t) and a head query (t, r^-1 -> h)."""
    h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
    return np.concatenate([h, t]), np.concatenate([r, r + n_rel]), np.concatenate([t, h])


def filtered_ranks(model, triples, known, n_rel):
    q_h, q_r, q_t = as_queries(triples, n_rel)
    scores = np.array(model(mx.array(q_h), mx.array(q_r)))
    ranks = []
    for i in range(len(q_h)):
        row = scores[i].copy()
        target = row[q_t[i]]
        for other in known[(int(q_h[i]), int(q_r[i]))]:
            if other != q_t[i]:
                row[other] = -np.inf
        ranks.append(1 + int((row > target).sum()))
    return np.array(ranks, dtype=np.float64)


def summary(ranks):
    return {"mrr": float((1.0 / ranks).mean()), "mr": float(ranks.mean()),
            "h1": 100.0 * float((ranks <= 1).mean()), "h3": 100.0 * float((ranks <= 3).mean())}


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(5)
    names, train, valid, test = build_ledger()
    n_ent, n_rel = len(names), len(RELS)
    known = defaultdict(set)
    for split in (train, valid, test):
        for h, r, t in split:
            known[(int(h), int(r))].add(int(t))
            known[(int(t), int(r) + n_rel)].add(int(h))
    print(f"ledger: {n_ent} entities, {n_rel} relations (+{n_rel} reciprocal), "
          f"triples train/valid/test = {len(train)}/{len(valid)}/{len(test)}")

    model = ReciprocalComplEx(n_ent, n_rel, rank=32)
    mx.eval(model.parameters())
    lam = 5e-3

    def loss_fn(m, h, r, t):
        ce = nn.losses.cross_entropy(m(h, r), t, reduction="mean")
        return ce + lam * m.n3(h, r, t), ce

    step = nn.value_and_grad(model, loss_fn)
    opt = optim.Adagrad(learning_rate=0.1)

    q_h, q_r, q_t = as_queries(train[:64], n_rel)
    (_, _), g = step(model, mx.array(q_h), mx.array(q_r), mx.array(q_t))
    print("first-step gradient: " + ", ".join(
        f"{k} max|g|={float(mx.abs(v).max().item()):.2e}" for k, v in tree_flatten(g)))
    base = summary(filtered_ranks(model, valid, known, n_rel))
    print(f"untrained valid: MRR {base['mrr']:.3f}  MR {base['mr']:.1f}  (random MR ~{n_ent / 2:.0f})")

    ckpt_dir = tempfile.mkdtemp(prefix="guild_kge_")
    ckpt = os.path.join(ckpt_dir, "best.safetensors")
    best_mrr, best_epoch = -1.0, 0
    epochs, batch, every = 80, 64, 10
    t0 = time.perf_counter()
    print(f"{'epoch':>5} {'loss':>7} {'ce':>7} | {'MRR':>6} {'MR':>6} {'H@1':>6} {'H@3':>6} | {'secs':>5}")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(train))
        tot = tot_ce = 0.0
        nb = 0
        for i in range(0, len(order), batch):
            h, r, t = as_queries(train[order[i:i + batch]], n_rel)
            (loss, ce), grads = step(model, mx.array(h), mx.array(r), mx.array(t))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, ce)
            tot += loss.item()
            tot_ce += ce.item()
            nb += 1
        if epoch % every == 0:
            m = summary(filtered_ranks(model, valid, known, n_rel))
            mark = ""
            if m["mrr"] > best_mrr:
                best_mrr, best_epoch = m["mrr"], epoch
                model.save_weights(ckpt)
                mark = " *"
            print(f"{epoch:5d} {tot / nb:7.4f} {tot_ce / nb:7.4f} | {m['mrr']:6.3f} {m['mr']:6.2f} "
                  f"{m['h1']:5.1f}% {m['h3']:5.1f}% | {time.perf_counter() - t0:5.1f}{mark}")

    model.load_weights(ckpt, strict=True)
    mx.eval(model.parameters())
    m = summary(filtered_ranks(model, test, known, n_rel))
    print(f"best valid MRR {best_mrr:.3f} at epoch {best_epoch} (reloaded from {os.path.basename(ckpt)})")
    print(f"test (filtered, both directions): MRR {m['mrr']:.3f}  MR {m['mr']:.2f}  "
          f"Hits@1 {m['h1']:.1f}%  Hits@3 {m['h3']:.1f}%")


if __name__ == "__main__":
    main()
