"""Allotment-society seed catalogue kiosk: learn a search ranker from click logs.

The kiosk shows 10 seed packets per search in the order of the old keyword
ranker.  Members mostly click near the top whatever is shown, so the logs carry
position bias.  We fit the ranker and a position-propensity model together with
the Dual Learning Algorithm (Ai et al. 2018): each model's softmax cross-entropy
on clicks is weighted by the inverse of the other model's estimate.
A second run ("naive") fits the same ranker on raw clicks for comparison.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
N_TRAIN_Q, N_TEST_Q, N_DOCS, N_FEAT = 600, 200, 10, 8
SESSIONS_PER_Q = 10
BATCH = 512
EPOCHS = 10
EPS_CLICK = 0.08
TRUE_ETA = (1.0 / np.arange(1, N_DOCS + 1)) ** 0.9   # examination prob by position

rng = np.random.default_rng(SEED)


def make_queries(n):
    x = rng.normal(size=(n, N_DOCS, N_FEAT)).astype(np.float32)
    util = (1.2 * np.tanh(x[..., 0] + 0.5 * x[..., 1]) + 0.8 * x[..., 2] * (x[..., 3] > 0)
            - 0.6 * x[..., 4] ** 2 + 0.4 * x[..., 5] + 0.35 * rng.normal(size=(n, N_DOCS)))
    ranks = np.argsort(np.argsort(util, axis=1), axis=1)          # 0 = worst
    rel = np.floor(ranks * 5 / N_DOCS).astype(np.int32)            # grades 0..4
    return x, rel


def dcg_at(rel_sorted, k=5):
    gains = (2.0 ** rel_sorted[..., :k] - 1.0)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    return (gains * disc).sum(-1)


def ndcg5(scores, rel):
    order = np.argsort(-scores, axis=1)
    got = dcg_at(np.take_along_axis(rel, order, 1))
    ideal = dcg_at(-np.sort(-rel, axis=1))
    return float(np.mean(got / np.maximum(ideal, 1e-9)))


xtr, reltr = make_queries(N_TRAIN_Q)
xte, relte = make_queries(N_TEST_Q)

# the old keyword ranker that produced the logs: a noisy linear score
w_log = np.array([0.7, 0.3, 0.4, 0.0, -0.2, 0.3, 0.0, 0.0], np.float32)
log_scores_tr = xtr @ w_log + 0.9 * rng.normal(size=(N_TRAIN_Q, N_DOCS))
log_scores_te = xte @ w_log + 0.9 * rng.normal(size=(N_TEST_Q, N_DOCS))
log_order = np.argsort(-log_scores_tr, axis=1)

# simulate sessions: position-based click model
q_idx = np.repeat(np.arange(N_TRAIN_Q), SESSIONS_PER_Q)
shown_x = np.take_along_axis(xtr, log_order[..., None], 1)[q_idx]        # (S, 10, F)
shown_rel = np.take_along_axis(reltr, log_order, 1)[q_idx]               # (S, 10)
p_attr = EPS_CLICK + (1 - EPS_CLICK) * (2.0 ** shown_rel - 1) / 15.0
clicks = (rng.random(shown_rel.shape) < TRUE_ETA * p_attr).astype(np.float32)
n_sess = len(q_idx)
shown_x_mx, clicks_mx = mx.array(shown_x), mx.array(clicks)

print("| allotment kiosk | sessions %d | clicks/session %.2f | no-click sessions %.1f%% |"
      % (n_sess, clicks.sum(1).mean(), 100 * np.mean(clicks.sum(1) == 0)))
print("| reference | logging ranker test NDCG@5 %.3f | random order %.3f | ideal 1.000 |"
      % (ndcg5(log_scores_te, relte), ndcg5(rng.normal(size=relte.shape), relte)))
print("| true relative propensity pos1..5 | %s |"
      % " ".join("%.3f" % v for v in TRUE_ETA[:5] / TRUE_ETA[0]))


class Ranker(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 48), nn.GELU(),
                                  nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


class PositionBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.logits = mx.zeros((N_DOCS,))

    def __call__(self):
        return self.logits


def rel_to_first(logits):
    # softmax estimate divided by its value at the top slot, treated as a constant
    p = mx.softmax(logits, axis=-1)
    return mx.stop_gradient(p / p[..., :1])


def run(mode):
    mx.random.seed(SEED)
    ranker, bias = Ranker(), PositionBias()
    mx.eval(ranker.parameters(), bias.parameters())
    steps_per_epoch = (n_sess + BATCH - 1) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = steps_per_epoch
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
    opt_r = optim.Adam(learning_rate=sched)
    opt_b = optim.SGD(learning_rate=0.5)

    def losses(r_model, b_model, xb, cb):
        s = r_model(xb)                                     # (B, 10)
        g = mx.broadcast_to(b_model(), s.shape)
        if mode == "dla":
            w_r = 1.0 / rel_to_first(g)                     # inverse propensity
            w_b = 1.0 / rel_to_first(s)                     # inverse relevance
        else:
            w_r = mx.ones_like(s)
            w_b = mx.ones_like(s)
        l_r = -(w_r * cb * nn.log_softmax(s, axis=-1)).sum(-1).mean()
        l_b = -(w_b * cb * nn.log_softmax(g, axis=-1)).sum(-1).mean()
        return l_r, l_b

    r_grad = nn.value_and_grad(ranker, lambda m, b, xb, cb: losses(m, b, xb, cb)[0])
    b_grad = nn.value_and_grad(bias, lambda b, m, xb, cb: losses(m, b, xb, cb)[1])

    print("| run %s | epoch | lr | click loss (ranker) | click loss (position) | "
          "est. rel. propensity pos2..5 | test NDCG@5 |" % mode)
    print("|---|---|---|---|---|---|---|")
    s_te = np.array(ranker(mx.array(xte)))
    print("| %s | 0 | %.2e | - | - | %s | %.3f |" % (
        mode, 0.0, " ".join("%.3f" % v for v in np.array(rel_to_first(bias()))[1:5]),
        ndcg5(s_te, relte)))
    t0 = time.time()
    step = 0
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(n_sess)
        acc_r = acc_b = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            xb, cb = shown_x_mx[idx], clicks_mx[idx]
            lr_now = float(sched(step))
            l_r, g_r = r_grad(ranker, bias, xb, cb)
            l_b, g_b = b_grad(bias, ranker, xb, cb)
            if step == 0:
                leaves = [v for _, v in nn.utils.tree_flatten(g_r)]
                print("| grad check | ranker leaves with non-zero grad %d/%d | position grad max %.2e |"
                      % (sum(float(mx.abs(v).max()) > 0 for v in leaves), len(leaves),
                         float(mx.abs(g_b["logits"]).max())))
            opt_r.update(ranker, g_r)
            opt_b.update(bias, g_b)
            mx.eval(ranker.parameters(), bias.parameters(), opt_r.state, opt_b.state, l_r, l_b)
            acc_r += float(l_r)
            acc_b += float(l_b)
            step += 1
        s_te = np.array(ranker(mx.array(xte)))
        if ep in (1, 2, 3, 4, 6, 8, 10):
            print("| %s | %d | %.2e | %.4f | %.4f | %s | %.3f |" % (
                mode, ep, lr_now, acc_r / steps_per_epoch, acc_b / steps_per_epoch,
                " ".join("%.3f" % v for v in np.array(rel_to_first(bias()))[1:5]),
                ndcg5(s_te, relte)))
    print("| %s done | %.1f s | final test NDCG@5 %.3f |" % (mode, time.time() - t0, ndcg5(s_te, relte)))
    return ndcg5(s_te, relte)


n_dla = run("dla")
n_naive = run("naive")
print("| summary | dla %.3f | naive %.3f | logging ranker %.3f |"
      % (n_dla, n_naive, ndcg5(log_scores_te, relte)))
