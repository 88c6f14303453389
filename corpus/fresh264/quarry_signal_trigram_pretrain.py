"""Neural trigram language model pretrained from scratch in two data-mix stages.

Stage 1 reads only the regular "shift whistle" corpus; stage 2 mixes in the much less
predictable "yard chatter" corpus, so the training loss goes up when stage 2 starts.
The loss is multiplied by a static scale before differentiation and the gradients are
divided by it again (with a finite check) before the AdamW update. Reports are written as
mean log-likelihood per token (negative, higher is better) beside count baselines and
the generating process itself.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

VOCAB = 32
CTX = 2
BATCH = 256
STAGE_STEPS = (160, 240)
LOSS_SCALE = 1024.0
REPORT_EVERY = 40

rng = np.random.default_rng(11)

# whistle corpus: next token = one of two set permutations of b, picked by a < 8 (tokens 0..15)
# chatter corpus: second-order Markov over tokens 16..31 with broad rows
chat_tab = rng.dirichlet(np.ones(16) * 0.6, size=(16, 16))
perm = np.stack([rng.permutation(16), rng.permutation(16)])


def whistle(n, r):
    seq = list(r.integers(0, 16, 2))
    ll = []
    for _ in range(n):
        a, b = seq[-2], seq[-1]
        target = perm[int(a >= 8), b]
        y = target if r.random() < 0.85 else r.integers(0, 16)
        p = 0.85 * (y == target) + 0.15 / 16
        ll.append(math.log(p))
        seq.append(y)
    return np.array(seq), float(np.mean(ll))


def chatter(n, r):
    seq = list(16 + r.integers(0, 16, 2))
    ll = []
    for _ in range(n):
        a, b = seq[-2] - 16, seq[-1] - 16
        p = chat_tab[a, b]
        y = r.choice(16, p=p)
        ll.append(math.log(p[y]))
        seq.append(16 + y)
    return np.array(seq), float(np.mean(ll))


def windows(seq):
    x = np.stack([seq[i : len(seq) - CTX + i] for i in range(CTX)], 1)
    return x.astype(np.int32), seq[CTX:].astype(np.int32)


r = np.random.default_rng(3)
w_tr, _ = whistle(60000, r)
c_tr, _ = chatter(60000, r)
w_va, w_gen = whistle(4000, r)
c_va, c_gen = chatter(4000, r)
Wx, Wy = windows(w_tr)
Cx, Cy = windows(c_tr)
val = {"whistle": windows(w_va), "chatter": windows(c_va)}
gen_ll = {"whistle": w_gen, "chatter": c_gen}


def count_baseline(x_tr, y_tr, x_va, y_va):
    tri = np.ones((VOCAB, VOCAB, VOCAB)) * 0.1
    np.add.at(tri, (x_tr[:, 0], x_tr[:, 1], y_tr), 1.0)
    tri /= tri.sum(-1, keepdims=True)
    uni = np.bincount(y_tr, minlength=VOCAB) + 0.1
    uni /= uni.sum()
    return float(np.log(uni[y_va]).mean()), float(np.log(tri[x_va[:, 0], x_va[:, 1], y_va]).mean())


base = {"whistle": count_baseline(Wx, Wy, *val["whistle"]),
        "chatter": count_baseline(Cx, Cy, *val["chatter"])}
for k in ("whistle", "chatter"):
    print(f"[{k}] log-lik/token: unigram {base[k][0]:.3f}  count-trigram {base[k][1]:.3f}  "
          f"generator {gen_ll[k]:.3f}")


class TrigramMLP(nn.Module):
    def __init__(self, vocab=VOCAB, d=24, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.fc1 = nn.Linear(CTX * d, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.silu(self.fc1(h))
        h = h + nn.silu(self.fc2(h))
        return self.out(h)


def scaled_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") * LOSS_SCALE


mx.random.seed(0)
model = TrigramMLP()
total = sum(STAGE_STEPS)
warm = 30
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 4e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
grad_fn = nn.value_and_grad(model, scaled_loss)


def val_ll(name):
    x, y = val[name]
    return -nn.losses.cross_entropy(model(mx.array(x)), mx.array(y), reduction="mean").item()


step, skipped = 0, 0
t0 = time.perf_counter()
for stage, n_steps in enumerate(STAGE_STEPS, start=1):
    mix = 0.0 if stage == 1 else 0.5
    print(f"--- stage {stage}: chatter fraction {mix:.1f}, {n_steps} steps ---")
    run = []
    for _ in range(n_steps):
        n_c = int(BATCH * mix)
        iw = rng.integers(0, len(Wx), BATCH - n_c)
        ic = rng.integers(0, len(Cx), n_c)
        xb = mx.array(np.concatenate([Wx[iw], Cx[ic]]))
        yb = mx.array(np.concatenate([Wy[iw], Cy[ic]]))
        sl, g = grad_fn(model, xb, yb)
        g = tree_map(lambda a: a / LOSS_SCALE, g)
        finite = all(mx.isfinite(v).all().item() for _, v in tree_flatten(g))
        if finite:
            opt.update(model, g)
        else:
            skipped += 1
        mx.eval(model.parameters(), opt.state)
        run.append(sl.item() / LOSS_SCALE)
        step += 1
        if step % REPORT_EVERY == 0:
            print(f"step {step:3d}  lr {sched(mx.array(step - 1)).item():.2e}  "
                  f"train log-lik {-np.mean(run):.3f}  whistle {val_ll('whistle'):.3f}  "
                  f"chatter {val_ll('chatter'):.3f}")
            run = []

print(f"done in {time.perf_counter() - t0:.1f}s, {step} steps, {skipped} skipped for non-finite grads")
for k in ("whistle", "chatter"):
    print(f"final [{k}] log-lik {val_ll(k):.3f}  vs count-trigram {base[k][1]:.3f}  "
          f"generator {gen_ll[k]:.3f}")
