"""TransE embeddings of a made-up regional railway network.

The graph is revealed in three stages (line adjacency, then fare zones, then
interchanges); each stage keeps training on everything seen so far. Entity
vectors are projected back onto the unit sphere after every update, as in the
original TransE recipe.
"""
import logging
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(format="%(relativeCreated)7.0fms %(levelname).1s %(message)s",
                    level=logging.INFO)
log = logging.getLogger("transe")


class Config:
    dim = 64
    margin = 1.0
    lr = 0.05
    batch = 256
    negatives = 16
    steps_per_stage = (900, 750, 750)
    report_every = 150
    seed = 7


def build_network(rng):
    """Eight lines of 20 stations each, zones by position, interchanges at hubs."""
    stations = []
    triples = {"next_on_line": [], "same_zone": [], "interchange": []}
    for line in range(8):
        ids = []
        for k in range(20):
            stations.append(f"L{line}S{k:02d}")
            ids.append(len(stations) - 1)
        for a, b in zip(ids[:-1], ids[1:]):
            triples["next_on_line"].append((a, b))
        zones = [k // 4 for k in range(20)]
        for i in range(20):
            for j in range(20):
                if i != j and zones[i] == zones[j]:
                    triples["same_zone"].append((ids[i], ids[j]))
    n = len(stations)
    for line in range(8):
        for hub in (3, 9, 15):
            other = (line + 1 + rng.randrange(7)) % 8
            a, b = line * 20 + hub, other * 20 + hub
            triples["interchange"].append((a, b))
            triples["interchange"].append((b, a))
    return stations, triples


class TransE(nn.Module):
    def __init__(self, n_ent, n_rel, dim):
        super().__init__()
        self.ent = nn.Embedding(n_ent, dim)
        self.rel = nn.Embedding(n_rel, dim)
        bound = 6.0 / np.sqrt(dim)
        self.ent.weight = mx.random.uniform(-bound, bound, (n_ent, dim))
        self.rel.weight = mx.random.uniform(-bound, bound, (n_rel, dim))
        self.rel.weight = self.rel.weight / mx.linalg.norm(self.rel.weight, axis=1, keepdims=True)

    def distance(self, h, r, t):
        return mx.linalg.norm(self.ent(h) + self.rel(r) - self.ent(t), axis=-1)


def margin_loss(model, h, r, t, nh, nt, margin):
    pos = model.distance(h, r, t)                      # (B,)
    neg = model.distance(nh, r[:, None], nt)          # (B, K)
    return mx.mean(mx.maximum(0.0, margin + pos[:, None] - neg))


def renormalise(model):
    w = model.ent.weight
    model.update({"ent": {"weight": w / mx.maximum(mx.linalg.norm(w, axis=1, keepdims=True), 1.0)}})


def corrupt(h, t, n_ent, k, nrng):
    b = h.shape[0]
    repl = nrng.integers(0, n_ent, size=(b, k))
    side = nrng.random((b, k)) < 0.5
    nh = np.where(side, repl, h[:, None])
    nt = np.where(side, t[:, None], repl)
    return nh, nt


def filtered_rank(model, triples_np, known, n_ent):
    """Tail prediction: rank of the true tail among all stations, known triples filtered."""
    h, r, t = (mx.array(triples_np[:, i]) for i in range(3))
    all_e = model.ent.weight                                   # (N, D)
    q = model.ent(h) + model.rel(r)                            # (T, D)
    d = mx.linalg.norm(q[:, None, :] - all_e[None, :, :], axis=-1)
    d = np.array(d)
    ranks = []
    for i, (hh, rr, tt) in enumerate(triples_np):
        row = d[i].copy()
        for other in known.get((int(hh), int(rr)), ()):
            if other != tt:
                row[other] = np.inf
        ranks.append(1 + int((row < row[tt]).sum()))
    ranks = np.array(ranks)
    return ranks.mean(), 100.0 * (ranks <= 3).mean()


def main():
    cfg = Config()
    rng = random.Random(cfg.seed)
    nrng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)

    stations, triples = build_network(rng)
    rel_names = list(triples)
    all_rows = []
    for r_id, name in enumerate(rel_names):
        for a, b in triples[name]:
            all_rows.append((a, r_id, b))
    all_rows = np.array(all_rows, dtype=np.int64)
    nrng.shuffle(all_rows)
    n_test = len(all_rows) // 10
    test_rows, train_rows = all_rows[:n_test], all_rows[n_test:]
    known = {}
    for hh, rr, tt in all_rows:
        known.setdefault((int(hh), int(rr)), set()).add(int(tt))
    log.info("stations=%d relations=%d train=%d test=%d", len(stations), len(rel_names),
             len(train_rows), len(test_rows))

    model = TransE(len(stations), len(rel_names), cfg.dim)
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=cfg.lr)
    step_fn = nn.value_and_grad(model, margin_loss)

    # gradient audit on a batch that holds every relation
    idx = nrng.choice(len(train_rows), 256, replace=False)
    b = train_rows[idx]
    nh, nt = corrupt(b[:, 0], b[:, 2], len(stations), cfg.negatives, nrng)
    l0, g = step_fn(model, mx.array(b[:, 0]), mx.array(b[:, 1]), mx.array(b[:, 2]),
                   mx.array(nh), mx.array(nt), cfg.margin)
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    log.info("grad audit: hinge %.4f, leaves=%s all-zero=%s", l0.item(),
             [k for k, _ in tree_flatten(g)], zero)
    assert not zero

    mr, h3 = filtered_rank(model, test_rows, known, len(stations))
    log.info("untrained: test mean rank %.1f, hits@3 %.1f%%", mr, h3)

    t0 = time.time()
    step = 0
    for stage, n_steps in enumerate(cfg.steps_per_stage):
        visible = rel_names[: stage + 1]
        rows = train_rows[np.isin(train_rows[:, 1], list(range(stage + 1)))]
        test_vis = test_rows[np.isin(test_rows[:, 1], list(range(stage + 1)))]
        log.info("stage %d: relations %s, %d training triples", stage + 1, visible, len(rows))
        window = []
        for _ in range(n_steps):
            sel = nrng.integers(0, len(rows), cfg.batch)
            b = rows[sel]
            nh, nt = corrupt(b[:, 0], b[:, 2], len(stations), cfg.negatives, nrng)
            loss, grads = step_fn(model, mx.array(b[:, 0]), mx.array(b[:, 1]), mx.array(b[:, 2]),
                                  mx.array(nh), mx.array(nt), cfg.margin)
            opt.update(model, grads)
            renormalise(model)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if step % cfg.report_every == 0:
                mr, h3 = filtered_rank(model, test_vis, known, len(stations))
                log.info("step %4d, stage %d, hinge %.4f, test mean rank %.1f, hits@3 %.1f%%",
                         step, stage + 1, float(np.mean(window)), mr, h3)
                window = []
    mr, h3 = filtered_rank(model, test_rows, known, len(stations))
    per_rel = {}
    for r_id, name in enumerate(rel_names):
        sub = test_rows[test_rows[:, 1] == r_id]
        per_rel[name] = filtered_rank(model, sub, known, len(stations))
    log.info("final: test mean rank %.1f of %d, hits@3 %.1f%%", mr, len(stations), h3)
    for name, (m, h) in per_rel.items():
        log.info("  %-13s mean rank %5.1f  hits@3 %5.1f%%", name, m, h)
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
