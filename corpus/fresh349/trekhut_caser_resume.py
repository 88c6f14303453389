"""Alpine hut-to-hut trekking: recommend the next hut a trekker books.

Caser-style sequential recommender (horizontal + vertical filters over the
embedding "image" of the last L huts, plus a trekker embedding), full softmax
cross-entropy over all huts.  Trained in two sessions: session 1 writes its own
checkpoint, session 2 rebuilds everything from it and carries on.
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

SEED = 7
N_HUTS = 90
N_TREKKERS = 400
SEQ_LEN = 36
L = 5            # window of previous huts
D = 32
BATCH = 128
EPOCHS_S1 = 5
EPOCHS_S2 = 5
rng = np.random.default_rng(SEED)

# ---------------------------------------------------------------- synthetic logs
# huts sit on a ring of valleys; a trekker keeps walking in one direction most of
# the time, sometimes turns back, sometimes jumps (bus) to a hut in a favourite region.
region = np.arange(N_HUTS) // 15                         # 6 regions
fav_region = rng.integers(0, 6, size=N_TREKKERS)
steps = np.array([-2, -1, 1, 2])


def next_probs(prev2, prev1, u):
    p = np.full(N_HUTS, 0.02 / N_HUTS)
    direction = 1 if (prev1 - prev2) % N_HUTS < N_HUTS // 2 else -1
    for s, w in zip(steps, [0.08, 0.20, 0.20, 0.08]):
        p[(prev1 + s) % N_HUTS] += w
    for s, w in zip([1, 2], [0.22, 0.10]):
        p[(prev1 + direction * s) % N_HUTS] += w
    fav = np.where(region == fav_region[u])[0]
    p[fav] += 0.10 / len(fav)
    return p / p.sum()


seqs = np.zeros((N_TREKKERS, SEQ_LEN), dtype=np.int64)
oracle_nll = []
for u in range(N_TREKKERS):
    a = rng.integers(N_HUTS)
    b = (a + rng.choice([-1, 1])) % N_HUTS
    seqs[u, 0], seqs[u, 1] = a, b
    for t in range(2, SEQ_LEN):
        p = next_probs(seqs[u, t - 2], seqs[u, t - 1], u)
        seqs[u, t] = rng.choice(N_HUTS, p=p)
        if t == SEQ_LEN - 1:
            oracle_nll.append(-np.log(p[seqs[u, t]]))
oracle_ce = float(np.mean(oracle_nll))

# windows: train on positions L..SEQ_LEN-3, valid = position SEQ_LEN-2, test = last
def windows(lo, hi):
    us, xs, ys = [], [], []
    for u in range(N_TREKKERS):
        for t in range(lo, hi):
            us.append(u)
            xs.append(seqs[u, t - L:t])
            ys.append(seqs[u, t])
    return np.array(us), np.stack(xs), np.array(ys)

tr_u, tr_x, tr_y = windows(L, SEQ_LEN - 2)
va_u, va_x, va_y = windows(SEQ_LEN - 2, SEQ_LEN - 1)
te_u, te_x, te_y = windows(SEQ_LEN - 1, SEQ_LEN)
pop = np.bincount(tr_y, minlength=N_HUTS)
pop_top10 = np.argsort(-pop)[:10]
pop_hr10 = float(np.isin(te_y, pop_top10).mean())
pop_ce = float(-np.log((pop[te_y] + 1) / (pop.sum() + N_HUTS)).mean())


class Caser(nn.Module):
    def __init__(self, n_items, n_users, d=D, L=L, nh=16, nv=4):
        super().__init__()
        self.item_emb = nn.Embedding(n_items, d)
        self.user_emb = nn.Embedding(n_users, d)
        # horizontal filters of height h span the full embedding width, so each
        # one is a Linear over a flattened h x d window slid along the sequence
        self.h_convs = [nn.Linear(h * d, nh) for h in range(1, L + 1)]
        # the vertical filter (L x 1) is a learned weighted sum of the L rows
        self.v_conv = nn.Linear(L, nv)
        self.fc = nn.Linear(nh * L + nv * d, d)
        self.drop = nn.Dropout(0.2)
        self.out_emb = nn.Embedding(n_items, 2 * d)
        self.out_bias = mx.zeros((n_items,))

    def __call__(self, u, x):
        e = self.item_emb(x)                                 # (B, L, d)
        B, Lx, d = e.shape
        hs = []
        for h, conv in enumerate(self.h_convs, start=1):
            win = mx.stack([e[:, i:i + h, :].reshape(B, h * d) for i in range(Lx - h + 1)],
                           axis=1)                           # (B, L-h+1, h*d)
            hs.append(nn.relu(conv(win)).max(axis=1))        # (B, nh)
        v = self.v_conv(e.transpose(0, 2, 1)).reshape(B, -1) # (B, d*nv)
        z = nn.relu(self.fc(self.drop(mx.concatenate(hs + [v], axis=1))))
        z = mx.concatenate([z, self.user_emb(u)], axis=1)    # (B, 2d)
        return z @ self.out_emb.weight.T + self.out_bias


def loss_fn(model, u, x, y):
    return nn.losses.cross_entropy(model(u, x), y, reduction="mean")


def evaluate(model, u, x, y):
    model.eval()
    logits = model(mx.array(u), mx.array(x))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    top = np.array(mx.argsort(-logits, axis=1)[:, :10])
    hit = (top == y[:, None])
    hr10 = float(hit.any(axis=1).mean())
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    ndcg = float(np.where(ranks >= 0, 1.0 / np.log2(np.maximum(ranks, 0) + 2), 0.0).mean())
    model.train()
    return ce, hr10, ndcg


steps_per_epoch = len(tr_y) // BATCH
total_steps = steps_per_epoch * (EPOCHS_S1 + EPOCHS_S2)
warm = 150
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total_steps - warm, 1e-4)], [warm])


def build(seed):
    mx.random.seed(seed)
    m = Caser(N_HUTS, N_TREKKERS)
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


def run_epochs(model, opt, first_epoch, n_epochs, perm_rng, session, report_every):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, first_epoch + n_epochs):
        t0 = time.perf_counter()
        perm = perm_rng.permutation(len(tr_y))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, grads = step_fn(model, mx.array(tr_u)[idx], mx.array(tr_x)[idx],
                                  mx.array(tr_y)[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if (ep + 1) % report_every == 0:
            ce, hr, nd = evaluate(model, va_u, va_x, va_y)
            print(f"{session} | epoch {ep + 1:2d} | step {opt.step.item():5d} | "
                  f"lr {opt.learning_rate.item():.2e} | train_ce {tot / steps_per_epoch:.3f} | "
                  f"valid_ce {ce:.3f} | valid_HR@10 {100 * hr:5.1f}% | valid_NDCG@10 {nd:.3f} | "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)


print(f"data | trekkers {N_TREKKERS} | huts {N_HUTS} | train windows {len(tr_y)} | "
      f"window L={L}")
print(f"reference | random HR@10 {100 * 10 / N_HUTS:.1f}% | popularity HR@10 "
      f"{100 * pop_hr10:.1f}% | popularity CE {pop_ce:.3f} | generator CE (floor) "
      f"{oracle_ce:.3f} | uniform CE {np.log(N_HUTS):.3f}")

model, opt = build(SEED)
ce0, hr0, nd0 = evaluate(model, va_u, va_x, va_y)
print(f"s1 | untrained | valid_ce {ce0:.3f} | valid_HR@10 {100 * hr0:.1f}%")
perm_rng = np.random.default_rng(SEED + 1)
# session 1: reports only every 5th epoch (quiet while warming up)
run_epochs(model, opt, 0, EPOCHS_S1, perm_rng, "s1", report_every=5)

ckpt = tempfile.mkdtemp(prefix="trekhut_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": EPOCHS_S1, "rng": perm_rng.bit_generator.state}, f)
saved_ce = evaluate(model, va_u, va_x, va_y)[0]
print(f"s1 | checkpoint written | valid_ce {saved_ce:.4f}")
del model, opt

# session 2: fresh objects from another seed, then restore
model, opt = build(SEED + 100)
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
perm_rng = np.random.default_rng()
perm_rng.bit_generator.state = meta["rng"]
back_ce = evaluate(model, va_u, va_x, va_y)[0]
print(f"s2 | resumed at epoch {meta['epoch']} step {opt.step.item()} | valid_ce {back_ce:.4f} "
      f"(saved {saved_ce:.4f})")
run_epochs(model, opt, meta["epoch"], EPOCHS_S2, perm_rng, "s2", report_every=1)

ce, hr, nd = evaluate(model, te_u, te_x, te_y)
print(f"test | CE {ce:.3f} (floor {oracle_ce:.3f}, popularity {pop_ce:.3f}) | HR@10 "
      f"{100 * hr:.1f}% (popularity {100 * pop_hr10:.1f}%) | NDCG@10 {nd:.3f}")
for fn in os.listdir(ckpt):
    os.remove(os.path.join(ckpt, fn))
os.rmdir(ckpt)
