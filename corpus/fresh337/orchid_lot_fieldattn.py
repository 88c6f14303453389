"""Glasshouse orchid auction: will a lot clear its reserve price?

AutoInt-style model: every column (4 categorical + 4 numeric) becomes a
16-d field token, two self-attention blocks mix the tokens, a linear head
reads the flattened tokens. Whole field tokens are dropped at random during
the first stage; the second stage switches that off and fine-tunes with a
fresh optimizer at a lower learning rate.
Output is an HTML table, one row per epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

# ----------------------------------------------------------------- data
CARD = {"grower": 18, "genus": 9, "auction_day": 6, "pot_size": 4}
N_TR, N_VA, N_TE = 6000, 2000, 2000
N = N_TR + N_VA + N_TE

grower_eff = rng.normal(0, 0.7, CARD["grower"])
genus_eff = rng.normal(0, 0.6, CARD["genus"])
day_eff = np.array([0.3, 0.1, 0.0, -0.2, -0.4, 0.2])
genus_spike_w = rng.normal(0, 0.9, CARD["genus"])  # genus x spike-count interaction

cats = np.stack([rng.integers(0, c, N) for c in CARD.values()], axis=1)
spikes = rng.normal(0, 1, N)          # flower spikes (standardised)
buds = rng.normal(0, 1, N)            # open-bud ratio
reserve = rng.normal(0, 1, N)         # reserve price (standardised)
leaf_spot = rng.normal(0, 1, N)       # leaf blemish score
nums = np.stack([spikes, buds, reserve, leaf_spot], axis=1).astype(np.float32)

logit = (-0.4 + grower_eff[cats[:, 0]] + genus_eff[cats[:, 1]] + day_eff[cats[:, 2]]
         + 0.25 * (cats[:, 3] - 1.5)
         + genus_spike_w[cats[:, 1]] * spikes
         + 0.8 * np.tanh(1.5 * buds) - 1.1 * reserve - 0.5 * leaf_spot ** 2 + 0.5)
p_true = 1 / (1 + np.exp(-logit))
y = (rng.random(N) < p_true).astype(np.float32)

offsets = np.cumsum([0] + list(CARD.values())[:-1])
cat_idx = (cats + offsets).astype(np.int32)

sl_tr, sl_va, sl_te = slice(0, N_TR), slice(N_TR, N_TR + N_VA), slice(N_TR + N_VA, N)
def split(s):
    return mx.array(cat_idx[s]), mx.array(nums[s]), mx.array(y[s])
tr, va, te = split(sl_tr), split(sl_va), split(sl_te)


def auc(score, label):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = label == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def logloss(p, label):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


prior = y[sl_tr].mean()
ref = {
    "prior_ll": logloss(np.full(N_VA, prior), y[sl_va]),
    "bayes_ll": logloss(p_true[sl_va], y[sl_va]),
    "bayes_auc": auc(p_true[sl_va], y[sl_va]),
}


# ---------------------------------------------------------------- model
class FieldTokens(nn.Module):
    def __init__(self, n_cat_total, n_num, d):
        super().__init__()
        self.cat = nn.Embedding(n_cat_total, d)
        self.num_w = mx.random.normal((n_num, d)) * 0.1
        self.num_b = mx.zeros((n_num, d))

    def __call__(self, ci, xn):
        t_cat = self.cat(ci)                                   # B, 4, d
        t_num = xn[..., None] * self.num_w + self.num_b        # B, 4, d
        return mx.concatenate([t_cat, t_num], axis=1)          # B, 8, d


class InteractBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attn = nn.MultiHeadAttention(d, heads)
        self.res = nn.Linear(d, d, bias=False)
        self.norm = nn.LayerNorm(d)

    def __call__(self, t):
        return self.norm(nn.relu(self.attn(t, t, t) + self.res(t)))


class AutoIntNet(nn.Module):
    def __init__(self, n_cat_total, n_fields=8, d=16, heads=2, depth=2):
        super().__init__()
        self.tokens = FieldTokens(n_cat_total, 4, d)
        self.blocks = [InteractBlock(d, heads) for _ in range(depth)]
        self.head = nn.Linear(n_fields * d, 1)
        self.field_keep = 1.0

    def __call__(self, ci, xn):
        t = self.tokens(ci, xn)
        if self.training and self.field_keep < 1.0:
            keep = mx.random.bernoulli(self.field_keep, (t.shape[0], t.shape[1], 1))
            t = t * keep
        for b in self.blocks:
            t = b(t)
        return self.head(t.reshape(t.shape[0], -1)).squeeze(-1)


def objective(model, ci, xn, yb):
    return nn.losses.binary_cross_entropy(model(ci, xn), yb, with_logits=True, reduction="mean")


def evaluate(model, data):
    model.eval()
    ci, xn, yb = data
    p = np.array(mx.sigmoid(model(ci, xn)))
    model.train()
    lab = np.array(yb)
    return logloss(p, lab), auc(p, lab), float(np.mean((p - lab) ** 2))


model = AutoIntNet(sum(CARD.values()))
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
loss_and_grad = nn.value_and_grad(model, objective)

BATCH = 128
STEPS_PER_EPOCH = math.ceil(N_TR / BATCH)

print("<table>")
print(f"<!-- {N_TR} train / {N_VA} valid / {N_TE} test lots, clear rate {prior:.3f}, "
      f"{n_params} parameters -->")
print(f"<!-- references on valid: prior log-loss {ref['prior_ll']:.4f}, "
      f"true-probability log-loss {ref['bayes_ll']:.4f}, true-probability AUC {ref['bayes_auc']:.4f} -->")
print("<tr><th>stage</th><th>epoch</th><th>step</th><th>lr</th><th>field keep</th>"
      "<th>train obj</th><th>valid log-loss</th><th>valid AUC</th><th>valid Brier</th><th>s</th></tr>")

t0 = time.perf_counter()


def run_stage(name, epochs, schedule, field_keep, audit=False):
    opt = optim.Adam(learning_rate=schedule)
    model.field_keep = field_keep
    model.train()
    step = 0
    for ep in range(1, epochs + 1):
        perm = np.asarray(rng.permutation(N_TR))
        run = 0.0
        for s in range(STEPS_PER_EPOCH):
            idx = mx.array(perm[s * BATCH:(s + 1) * BATCH])
            ci, xn, yb = tr[0][idx], tr[1][idx], tr[2][idx]
            before = model.head.weight if (audit and step == 0) else None
            loss, grads = loss_and_grad(model, ci, xn, yb)
            lr_now = float(schedule(mx.array(step))) if callable(schedule) else float(schedule)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if before is not None:
                moved = mx.abs(model.head.weight - before).max().item()
                gnorm = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
                print(f"<!-- first {name} update: lr {lr_now:.1e}, grad norm {gnorm:.3f}, "
                      f"head max change {moved:.1e} -->")
            run += loss.item()
            step += 1
        ll, a, br = evaluate(model, va)
        print(f"<tr><td>{name}</td><td>{ep}</td><td>{step}</td><td>{opt.learning_rate.item():.2e}</td>"
              f"<td>{field_keep:.2f}</td><td>{run / STEPS_PER_EPOCH:.4f}</td><td>{ll:.4f}</td>"
              f"<td>{a:.4f}</td><td>{br:.4f}</td><td>{time.perf_counter() - t0:.1f}</td></tr>")


E1, E2 = 8, 4
warm = 100
sched1 = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, E1 * STEPS_PER_EPOCH - warm, 2e-4)], [warm])
run_stage("coarse", E1, sched1, field_keep=0.85, audit=True)
run_stage("fine", E2, 2e-4, field_keep=1.0)

ll, a, br = evaluate(model, te)
te_prior = logloss(np.full(N_TE, prior), y[sl_te])
te_bayes = logloss(p_true[sl_te], y[sl_te])
print(f"<tr><td>test</td><td>-</td><td>-</td><td>-</td><td>-</td><td>-</td><td>{ll:.4f}</td>"
      f"<td>{a:.4f}</td><td>{br:.4f}</td><td>{time.perf_counter() - t0:.1f}</td></tr>")
print(f"<!-- test references: prior log-loss {te_prior:.4f}, true-probability log-loss {te_bayes:.4f}, "
      f"true-probability AUC {auc(p_true[sl_te], y[sl_te]):.4f} -->")
print("</table>")
