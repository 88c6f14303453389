"""Reward model for a glazing firm's quote replies.

Six estimators rated past quote replies on a 1-5 rubric.  Pairs of replies
rated differently by the same estimator become preference pairs; a small
scorer is fit with a Bradley-Terry loss plus a reward-centering term.
Adafactor with warm restarts (3 cosine cycles); the run is checkpointed at
step 450, the process state is dropped, and training resumes from disk.
"""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3490)
mx.random.seed(3490)

N_ITEMS, N_FEAT, N_RATERS = 1500, 8, 6


def quality(x):
    return (1.2 * x[:, 0] - 0.8 * x[:, 1] ** 2 + np.sin(2.0 * x[:, 2])
            + 0.6 * x[:, 3] * x[:, 4] - 0.5 * np.abs(x[:, 5]) + 0.3 * x[:, 6]
            + 0.25 * x[:, 7])


X = rng.normal(size=(N_ITEMS, N_FEAT)).astype(np.float32)
X[:, 7] = 0.5 * X[:, 7] + 0.35 * X[:, 0]          # reply length, mildly tied to content
q = quality(X)
q = (q - q.mean()) / q.std()
rater_bias = rng.normal(0, 0.4, size=N_RATERS)


def likert(items, rater):
    raw = 1.3 * q[items] + rater_bias[rater] + rng.normal(0, 0.7, size=len(items))
    return np.clip(np.round(raw) + 3, 1, 5).astype(int)


def make_pairs(items, n_pairs):
    w, l = [], []
    while len(w) < n_pairs:
        rater = int(rng.integers(N_RATERS))
        a, b = rng.choice(items, size=2, replace=False)
        ra, rb = likert(np.array([a, b]), rater)
        if ra == rb:
            continue                                  # ties carry no preference
        w.append(a if ra > rb else b)
        l.append(b if ra > rb else a)
    return np.array(w), np.array(l)


perm = rng.permutation(N_ITEMS)
tr_items, te_items = perm[:1200], perm[1200:]
tr_w, tr_l = make_pairs(tr_items, 9000)
te_w, te_l = make_pairs(te_items, 3000)

len_base = (X[te_w, 7] > X[te_l, 7]).mean()
gold_ceiling = (q[te_w] > q[te_l]).mean()
print(f"pairs train {len(tr_w)} test {len(te_w)}")
print(f"baselines  longer-reply-wins {len_base:.3f}   gold-quality ceiling {gold_ceiling:.3f}   coin 0.500")


class QuoteScorer(nn.Module):
    def __init__(self, d=N_FEAT, h=64):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.head = nn.Linear(h, 1, bias=False)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


CENTER = 0.01


def loss_fn(model, xw, xl):
    rw, rl = model(xw), model(xl)
    bt = -nn.log_sigmoid(rw - rl).mean()
    centre = mx.concatenate([rw, rl]).mean() ** 2
    return bt + CENTER * centre


Xmx = mx.array(X)
TE_W, TE_L = Xmx[mx.array(te_w)], Xmx[mx.array(te_l)]


def spearman(a, b):
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


def evaluate(model):
    rw, rl = model(TE_W), model(TE_L)
    r_all = model(Xmx[mx.array(te_items)])
    mx.eval(rw, rl, r_all)
    acc = (np.array(rw) > np.array(rl)).mean()
    r_all = np.array(r_all)
    return acc, spearman(r_all, q[te_items]), r_all.mean(), r_all.min()


PEAK, WARM, CYCLE, STEPS, BATCH, CKPT = 1e-2, 50, 300, 900, 256, 450


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, CYCLE - WARM, 1e-4),
         optim.cosine_decay(PEAK, CYCLE, 1e-4),
         optim.cosine_decay(PEAK, CYCLE, 1e-4)],
        [WARM, CYCLE, 2 * CYCLE],
    )


def make_optimizer():
    return optim.Adafactor(learning_rate=make_schedule(), relative_step=False,
                           scale_parameter=False)


model = QuoteScorer()
opt = make_optimizer()
mx.eval(model.parameters())
a, s, m, lo = evaluate(model)
print(f"untrained  pair acc {a:.3f}  spearman {s:+.3f}")

probe = mx.array(rng.integers(0, len(tr_w), size=512))
ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
run = None
step = 0
while step < STEPS:
    step += 1
    idx = mx.array(rng.integers(0, len(tr_w), size=BATCH))
    xw, xl = Xmx[mx.array(tr_w)[idx]], Xmx[mx.array(tr_l)[idx]]
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xw, xl)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()

    if step % CYCLE == 1 and step > 1:
        print(f"-- warm restart at step {step}, lr back to {opt.learning_rate.item():.1e}")
    if step % 150 == 0 or step in (1, 25):
        a, s, m, lo = evaluate(model)
        print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  loss {run:.4f}  "
              f"pair acc {a:.3f}  spearman {s:+.3f}  reward mean {m:+.3f} min {lo:+.2f}  "
              f"({time.time() - t0:.1f}s)")

    if step == CKPT:
        pw, pl = Xmx[mx.array(tr_w)[probe]], Xmx[mx.array(tr_l)[probe]]
        before = loss_fn(model, pw, pl).item()
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step} (probe loss {before:.6f}); restarting process state")
        del model, opt
        model = QuoteScorer()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt = make_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        after = loss_fn(model, pw, pl).item()
        print(f"resumed at step {opt.state['step'].item()}  probe loss {after:.6f}  "
              f"lr {opt.learning_rate.item():.2e}")

a, s, m, lo = evaluate(model)
print(f"final  pair acc {a:.3f} (longer-wins {len_base:.3f}, ceiling {gold_ceiling:.3f})  "
      f"spearman {s:+.3f}  reward mean {m:+.3f}")
shutil.rmtree(ckpt_dir, ignore_errors=True)
