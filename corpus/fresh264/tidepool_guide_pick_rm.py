# Reward model for tide-pool guide blurbs, trained on "which one would you
# print?" picks. Each blurb is a short token sequence (right padded). Editors
# see a set of candidate blurbs and pick one (softmax of a hidden quality).
# Curriculum: stage "pairs" learns from 2-candidate picks, stage "fours" from
# 4-candidate picks (its pick NLL naturally sits higher: ln 4 vs ln 2 chance).
# The model is judged by best-of-4 selection on held-out prompts.
# Reports are receipt-style blocks with dotted leaders.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 26          # 0 = pad
MAXLEN = 14
DIM = 32
rng = np.random.default_rng(2640)

# hidden token values: creature names (good), safety notes (good once),
# filler (bad), repeated tokens (bad), and a length preference around 9.
tok_val = rng.normal(0, 0.5, VOCAB).astype(np.float32)
tok_val[0] = 0.0
SAFETY = 3


def make_blurbs(n):
    lens = rng.integers(4, MAXLEN + 1, n)
    toks = np.zeros((n, MAXLEN), np.int32)
    for i, L in enumerate(lens):
        toks[i, :L] = rng.integers(1, VOCAB, L)
    return toks, lens


def quality(toks, lens):
    q = np.zeros(len(toks), np.float32)
    for i, (t, L) in enumerate(zip(toks, lens)):
        seq = t[:L]
        q[i] = tok_val[seq].mean() * 3.0
        q[i] -= 0.35 * (L - len(np.unique(seq)))          # repeats
        q[i] += 0.8 * float(SAFETY in seq) - 0.4 * max(0, int((seq == SAFETY).sum()) - 1)
        q[i] -= 0.06 * (L - 9) ** 2
    return q


def make_sets(n_sets, k):
    toks, lens = make_blurbs(n_sets * k)
    q = quality(toks, lens).reshape(n_sets, k)
    logits = q / 0.7
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pick = np.array([rng.choice(k, p=pp) for pp in p], np.int32)
    floor = float(-np.mean(np.log(p[np.arange(n_sets), pick])))
    return toks.reshape(n_sets, k, MAXLEN), lens.reshape(n_sets, k), q, pick, floor


class BlurbRM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(MAXLEN, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.norm = nn.LayerNorm(DIM)
        self.ff1 = nn.Linear(DIM + 1, 64)
        self.ff2 = nn.Linear(64, 1, bias=False)

    def __call__(self, toks, lens):
        # toks: (N, MAXLEN) int32, lens: (N,)
        mask = (mx.arange(MAXLEN)[None, :] < lens[:, None])
        x = self.emb(toks) + self.pos(mx.arange(MAXLEN))[None]
        bias = mx.where(mask, 0.0, -1e9)[:, None, None, :]
        h = self.norm(x + self.attn(x, x, x, mask=bias))
        mf = mask.astype(h.dtype)[..., None]
        pooled = (h * mf).sum(1) / mf.sum(1)
        lfeat = (lens.astype(mx.float32)[:, None] - 9.0) / 5.0
        z = nn.gelu(self.ff1(mx.concatenate([pooled, lfeat], axis=1)))
        return self.ff2(z).squeeze(-1)


def set_scores(model, toks, lens):
    B, K, T = toks.shape
    r = model(toks.reshape(B * K, T), lens.reshape(B * K))
    return r.reshape(B, K)


def pick_loss(model, toks, lens, pick):
    r = set_scores(model, toks, lens)
    return nn.losses.cross_entropy(r, pick, reduction="mean")


def best_of_4(model, toks, lens, q):
    r = np.array(set_scores(model, mx.array(toks), mx.array(lens)))
    chosen = q[np.arange(len(q)), r.argmax(1)]
    rand = q.mean(1)
    oracle = q.max(1)
    captured = 100 * float((chosen.mean() - rand.mean()) / (oracle.mean() - rand.mean()))
    return float(chosen.mean()), float(rand.mean()), float(oracle.mean()), captured


def receipt(title, rows):
    print("=" * 44)
    print(title.center(44))
    print("-" * 44)
    for k, v in rows:
        left = f"{k} "
        right = f" {v}"
        print(left + "." * max(2, 44 - len(left) - len(right)) + right)
    print("=" * 44, flush=True)


pairs = make_sets(3200, 2)
fours = make_sets(2400, 4)
hold = make_sets(800, 4)
val_fours = make_sets(600, 4)

receipt("SETUP", [("pair sets", 3200), ("four sets", 2400), ("held-out prompts", 800),
                  ("chance NLL pairs", f"{np.log(2):.3f}"), ("chance NLL fours", f"{np.log(4):.3f}"),
                  ("editor-noise floor pairs", f"{pairs[4]:.3f}"),
                  ("editor-noise floor fours", f"{fours[4]:.3f}")])

mx.random.seed(5)
model = BlurbRM()

STAGES = [("pairs", pairs, 3, 64), ("fours", fours, 3, 32)]
total_steps = sum((len(d[3]) // bs) * ep for _, d, ep, bs in STAGES)
WARM = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM),
     optim.linear_schedule(2e-3, 0.0, total_steps - WARM)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
lg = nn.value_and_grad(model, pick_loss)

vb = best_of_4(model, hold[0], hold[1], hold[2])
receipt("UNTRAINED", [("best-of-4 mean quality", f"{vb[0]:.3f}"),
                      ("random pick", f"{vb[1]:.3f}"), ("oracle pick", f"{vb[2]:.3f}"),
                      ("uplift captured %", f"{vb[3]:.1f}")])

step = 0
t0 = time.time()
REPORT_AT = {1, 3}
for name, (tk, ln, q, pk, floor), epochs, bs in STAGES:
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(pk))
        tot, cnt, gmax = 0.0, 0, 0.0
        for i in range(0, len(order) - bs + 1, bs):
            bi = order[i:i + bs]
            lr_used = float(sched(step))
            loss, g = lg(model, mx.array(tk[bi]), mx.array(ln[bi]), mx.array(pk[bi]))
            g, gn = optim.clip_grad_norm(g, 1.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss, gn)
            if step == 0:
                flat = tree_flatten(g)
                nz = sum(1 for _, v in flat if float(mx.abs(v).max()) > 0)
                receipt("FIRST UPDATE", [("grad leaves", len(flat)), ("nonzero leaves", nz),
                                         ("lr used", f"{lr_used:.2e}"),
                                         ("grad norm", f"{float(gn):.3f}")])
            tot += float(loss); cnt += 1
            gmax = max(gmax, float(gn))
            step += 1
        if ep in REPORT_AT:
            vl = float(pick_loss(model, mx.array(val_fours[0]), mx.array(val_fours[1]),
                                 mx.array(val_fours[3])))
            b4 = best_of_4(model, hold[0], hold[1], hold[2])
            receipt(f"STAGE {name.upper()} EPOCH {ep}/{epochs}", [
                ("step", step), ("lr now", f"{float(sched(step)):.2e}"),
                ("train pick NLL", f"{tot / cnt:.4f}"), ("stage noise floor", f"{floor:.4f}"),
                ("val NLL on fours", f"{vl:.4f}"), ("max grad norm", f"{gmax:.2f}"),
                ("best-of-4 mean quality", f"{b4[0]:.3f}"),
                ("uplift captured %", f"{b4[3]:.1f}"), ("secs", f"{time.time() - t0:.1f}")])

b4 = best_of_4(model, hold[0], hold[1], hold[2])
receipt("DONE", [("steps", step), ("final lr", f"{float(sched(step)):.2e}"),
                 ("best-of-4 mean quality", f"{b4[0]:.3f}"), ("random pick", f"{b4[1]:.3f}"),
                 ("oracle pick", f"{b4[2]:.3f}"), ("uplift captured %", f"{b4[3]:.1f}")])
