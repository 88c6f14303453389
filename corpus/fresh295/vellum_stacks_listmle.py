#!/usr/bin/env python3
"""Antiquarian bookshop catalogue search: learn to order the 12 candidate
volumes shown for a customer's query.

Listwise ranking with the ListMLE (Plackett-Luce) likelihood of the
shop-assistant ordering. Progress is printed as s-expressions; the objective is
reported as the per-list Plackett-Luce LOG-LIKELIHOOD, so it is negative and
climbs towards zero as training goes. Two sessions: session 1 trains 6 epochs
and writes a checkpoint, session 2 rebuilds everything from scratch, restores
the checkpoint and continues to epoch 14.
"""

import json
import math
import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_FEAT = 10
N_CAND = 12
BATCH = 24
PEAK_LR = 3e-3
WARMUP = 20
EPOCHS_S1 = 6
EPOCHS_TOTAL = 14

rng = np.random.default_rng(2024)


def make_queries(n):
    """Features per (query, volume): title match, author match, era gap,
    binding grade, foxing, price ratio, edition rarity, provenance flag,
    subject overlap, dust-jacket flag. Relevance 0..3 from a made-up law."""
    x = rng.normal(size=(n, N_CAND, N_FEAT)).astype(np.float32)
    x[..., 7] = (x[..., 7] > 0.8).astype(np.float32)
    x[..., 9] = (x[..., 9] > 0.0).astype(np.float32)
    latent = (1.2 * x[..., 0] + 0.8 * x[..., 1] - 0.6 * np.abs(x[..., 2])
              + 0.5 * np.tanh(x[..., 3]) - 0.3 * x[..., 4] ** 2
              + 0.7 * x[..., 7] + 0.9 * x[..., 8] * (x[..., 0] > 0)
              + 0.25 * x[..., 9])
    noisy = latent + rng.normal(scale=0.6, size=latent.shape)
    grade = np.digitize(noisy, [0.0, 1.2, 2.4]).astype(np.float32)
    # the assistant's ordering: by grade, ties settled by their own noisy judgement
    tiebreak = noisy + rng.normal(scale=0.3, size=noisy.shape)
    order = np.lexsort((-tiebreak, -grade), axis=-1)
    return x, grade, latent.astype(np.float32), order.astype(np.int32)


train_x, train_g, _, train_o = make_queries(600)
test_x, test_g, test_latent, test_o = make_queries(160)


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1, bias=False)  # a shared bias cancels in a ranking

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def listmle_loss(scores, order):
    """Negative Plackett-Luce log-likelihood of `order`, averaged over lists."""
    s = mx.take_along_axis(scores, order, axis=-1)
    tail_lse = mx.logcumsumexp(s, axis=-1, reverse=True)
    return mx.mean(mx.sum(tail_lse - s, axis=-1))


def ndcg_at(scores, grades, k=5):
    idx = np.argsort(-scores, axis=-1)[:, :k]
    gains = (2.0 ** np.take_along_axis(grades, idx, -1) - 1) / np.log2(np.arange(2, k + 2))
    ideal = (2.0 ** np.sort(grades, -1)[:, ::-1][:, :k] - 1) / np.log2(np.arange(2, k + 2))
    denom = ideal.sum(-1)
    return float(np.mean(np.where(denom > 0, gains.sum(-1) / np.maximum(denom, 1e-9), 1.0)))


def evaluate(model):
    s = model(mx.array(test_x))
    ll = -listmle_loss(s, mx.array(test_o)).item()
    return ll, 100.0 * ndcg_at(np.array(s), test_g)


def schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.exponential_decay(PEAK_LR, 0.985)
    return optim.join_schedules([warm, decay], [WARMUP])


def sexp(tag, **kv):
    parts = " ".join(f"({k} {v})" for k, v in kv.items())
    print(f"({tag} {parts})", flush=True)


def run_epochs(model, opt, first_epoch, last_epoch, perm_rng):
    loss_and_grad = nn.value_and_grad(model, lambda m, x, o: listmle_loss(m(x), o))
    steps_per_epoch = math.ceil(len(train_x) / BATCH)
    for epoch in range(first_epoch, last_epoch + 1):
        perm = perm_rng.permutation(len(train_x))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, grads = loss_and_grad(model, mx.array(train_x)[idx], mx.array(train_o)[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        ll, nd = evaluate(model)
        sexp("epoch", n=epoch, train_loglik=f"{-tot / steps_per_epoch:.3f}",
             test_loglik=f"{ll:.3f}", ndcg5=f"{nd:.1f}%",
             lr=f"{float(opt.learning_rate):.2e}", step=int(opt.state['step']))


def main():
    mx.random.seed(11)
    # references on the test queries
    rand_scores = rng.normal(size=test_g.shape)
    title_scores = test_x[..., 0]
    uniform_ll = -float(np.sum(np.log(np.arange(1, N_CAND + 1))))
    sexp("data", train_queries=len(train_x), test_queries=len(test_x), candidates=N_CAND)
    sexp("reference", random_ndcg5=f"{100 * ndcg_at(rand_scores, test_g):.1f}%",
         title_match_ndcg5=f"{100 * ndcg_at(title_scores, test_g):.1f}%",
         hidden_law_ndcg5=f"{100 * ndcg_at(test_latent, test_g):.1f}%",
         uniform_loglik=f"{uniform_ll:.3f}")

    model = Scorer()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=schedule(), alpha=0.95)
    ll0, nd0 = evaluate(model)
    sexp("untrained", test_loglik=f"{ll0:.3f}", ndcg5=f"{nd0:.1f}%")

    g = nn.value_and_grad(model, lambda m, x, o: listmle_loss(m(x), o))(
        model, mx.array(train_x[:BATCH]), mx.array(train_o[:BATCH]))[1]
    leaves = tree_flatten(g)
    nz = sum(int(mx.any(v != 0).item()) for _, v in leaves)
    sexp("gradcheck", leaves=len(leaves), nonzero=nz,
         max_abs=f"{max(mx.max(mx.abs(v)).item() for _, v in leaves):.3e}")

    perm_rng = np.random.default_rng(5)
    sexp("session", n=1, epochs=f"1-{EPOCHS_S1}")
    run_epochs(model, opt, 1, EPOCHS_S1, perm_rng)

    ckpt = Path(tempfile.mkdtemp())
    model.save_weights(str(ckpt / "scorer.safetensors"))
    mx.save_safetensors(str(ckpt / "opt.safetensors"), dict(tree_flatten(opt.state)))
    saved_ll, saved_nd = evaluate(model)
    (ckpt / "meta.json").write_text(json.dumps({"epoch": EPOCHS_S1, "test_loglik": saved_ll}))
    del model, opt

    # session 2: fresh objects (different init seed), restore, continue
    mx.random.seed(999)
    model = Scorer()
    opt = optim.RMSprop(learning_rate=schedule(), alpha=0.95)
    model.load_weights(str(ckpt / "scorer.safetensors"))
    opt.state = tree_unflatten(list(mx.load(str(ckpt / "opt.safetensors")).items()))
    meta = json.loads((ckpt / "meta.json").read_text())
    ll_r, nd_r = evaluate(model)
    sexp("resume", from_epoch=meta["epoch"], saved_loglik=f"{meta['test_loglik']:.3f}",
         restored_loglik=f"{ll_r:.3f}", match=abs(ll_r - saved_ll) < 1e-5)
    sexp("session", n=2, epochs=f"{EPOCHS_S1 + 1}-{EPOCHS_TOTAL}")
    run_epochs(model, opt, EPOCHS_S1 + 1, EPOCHS_TOTAL, perm_rng)

    ll, nd = evaluate(model)
    sexp("done", test_loglik=f"{ll:.3f}", ndcg5=f"{nd:.1f}%",
         gain_over_title=f"{nd - 100 * ndcg_at(title_scores, test_g):+.1f}pt")


if __name__ == "__main__":
    main()
