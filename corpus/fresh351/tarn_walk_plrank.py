"""Hill-walking club route finder: rank 12 candidate routes per member request.

The scorer defines a Plackett-Luce ranking policy.  Each step samples 16
rankings per request with Gumbel-perturbed scores, rewards each sampled ranking
with its NDCG@5 against the guides' graded verdicts, and follows the
score-function gradient with a leave-one-out baseline (REINFORCE over rankings).
The run is split into two sessions: after session 1 the weights and the
optimizer state go to disk, everything is rebuilt and session 2 resumes.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TRAIN, N_TEST, N_ROUTES, N_FEAT = 1200, 300, 12, 9
N_SAMPLES = 16
BATCH = 64
EPOCHS_S1, EPOCHS_S2 = 5, 5
LR = 2e-3

rng = np.random.default_rng(SEED)


def make_requests(n):
    # member fitness/time budget (3) + route facts (6) per candidate
    member = rng.normal(size=(n, 1, 3)).astype(np.float32)
    route = rng.normal(size=(n, N_ROUTES, 6)).astype(np.float32)
    x = np.concatenate([np.broadcast_to(member, (n, N_ROUTES, 3)), route], -1).astype(np.float32)
    fit = -np.abs(route[..., 0] - member[..., 0]) * 1.1          # climb vs fitness
    time_ok = np.tanh(member[..., 1] - route[..., 1])             # length vs time budget
    view = 0.7 * route[..., 2] + 0.4 * route[..., 3] * member[..., 2]
    util = fit + time_ok + view - 0.3 * route[..., 4] ** 2 + 0.4 * rng.normal(size=(n, N_ROUTES))
    order = np.argsort(np.argsort(util, 1), 1)
    rel = np.minimum(order * 5 // N_ROUTES, 4).astype(np.float32)  # guides' grades 0..4
    return x, rel


xtr, reltr = make_requests(N_TRAIN)
xte, relte = make_requests(N_TEST)
DISC = 1.0 / np.log2(np.arange(2, N_ROUTES + 2))
DISC5 = mx.array(np.where(np.arange(N_ROUTES) < 5, DISC, 0.0).astype(np.float32))


def ideal_dcg(rel):
    g = (2.0 ** (-np.sort(-rel, 1)) - 1.0)[:, :5]
    return (g * DISC[:5]).sum(1)


IDEAL_TR = mx.array(ideal_dcg(reltr).astype(np.float32))
IDEAL_TE = ideal_dcg(relte)


def ndcg5_np(scores, rel):
    order = np.argsort(-scores, 1)
    g = (2.0 ** np.take_along_axis(rel, order, 1) - 1.0)[:, :5]
    return float(np.mean((g * DISC[:5]).sum(1) / IDEAL_TE))


class RouteScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1, bias=False)   # PL is shift-invariant per list

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def pl_logprob(scores, perm):
    # log P(perm | scores) under Plackett-Luce; scores (B, K, N), perm (B, K, N)
    s = mx.take_along_axis(scores, perm, axis=-1)
    return (s - mx.logcumsumexp(s, axis=-1, reverse=True)).sum(-1)


def objective(model, xb, relb, ideal_b, gumbel):
    s = model(xb)                                            # (B, N)
    s_k = mx.broadcast_to(s[:, None, :], gumbel.shape)       # (B, K, N)
    perm = mx.stop_gradient(mx.argsort(-(s_k + gumbel), axis=-1))
    rel_sorted = mx.take_along_axis(mx.broadcast_to(relb[:, None, :], gumbel.shape), perm, -1)
    reward = ((2.0 ** rel_sorted - 1.0) * DISC5).sum(-1) / ideal_b[:, None]   # (B, K)
    base = (reward.sum(1, keepdims=True) - reward) / (N_SAMPLES - 1)          # leave-one-out
    adv = mx.stop_gradient(reward - base)
    lp = pl_logprob(s_k, perm)
    surrogate = -(adv * lp).mean()
    return surrogate, reward.mean()


def build():
    m = RouteScorer()
    o = optim.AdamW(learning_rate=LR, weight_decay=1e-4)
    return m, o


xtr_mx, reltr_mx = mx.array(xtr), mx.array(reltr)


def train_epochs(model, opt, ep_from, ep_to, step):
    vg = nn.value_and_grad(model, objective)
    for ep in range(ep_from, ep_to + 1):
        perm_q = rng.permutation(N_TRAIN)
        sur_sum = rew_sum = 0.0
        nb = N_TRAIN // BATCH
        for b in range(nb):
            idx = mx.array(perm_q[b * BATCH:(b + 1) * BATCH])
            g = mx.random.gumbel((BATCH, N_SAMPLES, N_ROUTES))
            (sur, rew), grads = vg(model, xtr_mx[idx], reltr_mx[idx], IDEAL_TR[idx], g)
            if step == 0:
                leaves = tree_flatten(grads)
                print("[tarn] grad-check leaves=%d nonzero=%d max|g|=%.3e" % (
                    len(leaves), sum(float(mx.abs(v).max()) > 0 for _, v in leaves),
                    max(float(mx.abs(v).max()) for _, v in leaves)))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, sur, rew)
            sur_sum += float(sur)
            rew_sum += float(rew)
            step += 1
        det = ndcg5_np(np.array(model(mx.array(xte))), relte)
        print("[tarn] ep=%02d step=%04d surrogate=%+.4f sampled_ndcg5=%.3f test_ndcg5=%.3f"
              % (ep, step, sur_sum / nb, rew_sum / nb, det))
    return step


mx.random.seed(SEED)
t0 = time.time()
rand_ref = ndcg5_np(rng.normal(size=relte.shape), relte)
print("[tarn] requests train=%d test=%d routes=%d samples/request=%d" % (N_TRAIN, N_TEST, N_ROUTES, N_SAMPLES))
print("[tarn] reference test_ndcg5: random=%.3f ideal=1.000" % rand_ref)
model, opt = build()
mx.eval(model.parameters())
print("[tarn] ep=00 step=0000 untrained test_ndcg5=%.3f" % ndcg5_np(np.array(model(mx.array(xte))), relte))

print("[tarn] session 1")
step = train_epochs(model, opt, 1, EPOCHS_S1, 0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "scorer.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": EPOCHS_S1, "step": step}, f)
before = ndcg5_np(np.array(model(mx.array(xte))), relte)
del model, opt
print("[tarn] checkpoint written, model and optimizer dropped")

model, opt = build()
model.load_weights(os.path.join(ckpt, "scorer.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckpt, "meta.json")))
after = ndcg5_np(np.array(model(mx.array(xte))), relte)
print("[tarn] session 2 resumed at epoch %d step %d (opt step %d) test_ndcg5 before=%.3f after=%.3f"
      % (meta["epoch"], meta["step"], int(opt.state["step"]), before, after))
step = train_epochs(model, opt, meta["epoch"] + 1, meta["epoch"] + EPOCHS_S2, meta["step"])
final = ndcg5_np(np.array(model(mx.array(xte))), relte)
print("[tarn] done steps=%d test_ndcg5=%.3f random=%.3f secs=%.1f" % (step, final, rand_ref, time.time() - t0))
