"""LambdaRank on synthetic search queries.

A fixed (frozen) random-feature projection turns the raw document features
into 48 tanh features; only the small scorer on top of it is trained.
Pairwise logistic loss weighted by |delta NDCG| (LambdaRank), SGD with
momentum, learning rate warmed up linearly from 0, then cosine decay.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ltr")

N_DOCS = 20
N_FEAT = 12
TOPK = 5


class Config:
    train_queries = 600
    val_queries = 60
    queries_per_step = 32
    steps = 1400
    warmup = 120
    peak_lr = 0.05
    report_every = 200


def make_queries(rng, n_queries, w_hidden, v_hidden):
    x = rng.normal(size=(n_queries, N_DOCS, N_FEAT)).astype(np.float32)
    utility = np.tanh(x @ w_hidden) @ v_hidden + 0.6 * rng.normal(size=(n_queries, N_DOCS))
    # graded relevance 0..4 from within-query quantiles of the utility
    ranks = utility.argsort(axis=1).argsort(axis=1)
    rel = (ranks * 5 // N_DOCS).astype(np.int32)
    return x, rel


def ndcg_at_k(scores, rel, k=TOPK):
    order = np.argsort(-scores, axis=1)[:, :k]
    gains = (2.0 ** np.take_along_axis(rel, order, axis=1)) - 1.0
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * disc).sum(axis=1)
    best_rel = -np.sort(-rel, axis=1)[:, :k]
    ideal = (2.0 ** best_rel) - 1.0
    idcg = (ideal * disc).sum(axis=1)
    return float(np.mean(dcg / np.maximum(idcg, 1e-9)))


class RankModel(nn.Module):
    def __init__(self, n_feat, n_random=48, hidden=32):
        super().__init__()
        self.features = nn.Linear(n_feat, n_random)   # fixed random-feature map
        self.scorer = nn.Sequential(nn.Linear(n_random, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def __call__(self, x):
        phi = mx.tanh(self.features(x))
        return self.scorer(phi).squeeze(-1)


def lambdarank_loss(model, x, rel):
    s = model(x)                                            # (B, N)
    relf = rel.astype(mx.float32)
    gains = mx.power(2.0, relf) - 1.0
    ideal = mx.sort(gains, axis=1)[:, ::-1]
    disc_all = 1.0 / mx.log2(mx.arange(2, N_DOCS + 2).astype(mx.float32))
    max_dcg = (ideal * disc_all).sum(axis=1, keepdims=True)
    # current ranking positions (no gradient through the sort)
    pos = mx.argsort(mx.argsort(-mx.stop_gradient(s), axis=1), axis=1)
    disc = 1.0 / mx.log2(pos.astype(mx.float32) + 2.0)
    g = gains / max_dcg
    delta = mx.abs(g[:, :, None] - g[:, None, :]) * mx.abs(disc[:, :, None] - disc[:, None, :])
    delta = mx.stop_gradient(delta)
    better = (relf[:, :, None] > relf[:, None, :]).astype(mx.float32)
    diff = s[:, :, None] - s[:, None, :]
    pair_loss = nn.softplus(-diff)
    return (better * delta * pair_loss).sum() / x.shape[0]


def main():
    cfg = Config()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    w_hidden = rng.normal(size=(N_FEAT, 6)) / np.sqrt(N_FEAT)
    v_hidden = rng.normal(size=(6,))
    x_tr, r_tr = make_queries(rng, cfg.train_queries, w_hidden, v_hidden)
    x_va, r_va = make_queries(rng, cfg.val_queries, w_hidden, v_hidden)

    model = RankModel(N_FEAT)
    model.features.freeze()
    frozen_before = np.array(model.features.weight)
    mx.eval(model.parameters())

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters: %d total, %d trainable (random-feature map frozen)", n_total, n_train)

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup),
         optim.cosine_decay(cfg.peak_lr, cfg.steps - cfg.warmup, 0.002)],
        [cfg.warmup])
    opt = optim.SGD(learning_rate=schedule, momentum=0.9)
    loss_and_grad = nn.value_and_grad(model, lambdarank_loss)

    def score_all(x):
        return np.array(model(mx.array(x)))

    log.info("before training: val ndcg@%d %.1f%%", TOPK, 100 * ndcg_at_k(score_all(x_va), r_va))

    xtr_mx = mx.array(x_tr)
    rtr_mx = mx.array(r_tr)
    order = rng.permutation(cfg.train_queries)
    cursor = 0
    running, seen = 0.0, 0
    t0 = time.time()
    for step in range(1, cfg.steps + 1):
        if cursor + cfg.queries_per_step > cfg.train_queries:
            order = rng.permutation(cfg.train_queries)
            cursor = 0
        idx = mx.array(order[cursor:cursor + cfg.queries_per_step])
        cursor += cfg.queries_per_step

        lr_now = float(schedule(opt.step))
        loss, grads = loss_and_grad(model, xtr_mx[idx], rtr_mx[idx])
        if step == 1:
            dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            assert not dead, f"zero gradient leaves: {dead}"
            log.info("step 1 gradient check ok: %d leaves, lr at this step %.4f",
                     len(tree_flatten(grads)), lr_now)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        seen += 1

        if step % cfg.report_every == 0:
            tr = ndcg_at_k(score_all(x_tr), r_tr)
            va = ndcg_at_k(score_all(x_va), r_va)
            log.info("step %4d  lr %.4f  lambda_loss %.4f  train ndcg@%d %.1f%%  val ndcg@%d %.1f%%",
                     step, lr_now, running / seen, TOPK, 100 * tr, TOPK, 100 * va)
            running, seen = 0.0, 0

    drift = float(np.abs(np.array(model.features.weight) - frozen_before).max())
    log.info("done in %.1fs; frozen projection max change %.2e", time.time() - t0, drift)
    log.info("final val ndcg@%d %.1f%%", TOPK, 100 * ndcg_at_k(score_all(x_va), r_va))


if __name__ == "__main__":
    main()
