"""Bakery next-basket recommendation.

History encoder (decayed multi-hot of the last 4 weekly baskets -> GELU MLP)
scored against an item embedding table, trained with the multinomial
log-likelihood over all 40 pastries.

Stage 1: item table frozen, encoder + item bias learn (AdamW, warmup from 0).
Stage 2: item table unfrozen, fresh AdamW with its own warmup from 0.
Mid stage 2 the weights are saved, reloaded into a new model and training
continues on the reloaded copy.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(3)
mx.random.seed(3)

N_CUST, N_ITEM, N_WEEK, H, N_TASTE = 300, 40, 12, 4, 6
taste_items = np.array_split(rng.permutation(N_ITEM), N_TASTE)
baskets = np.zeros((N_CUST, N_WEEK, N_ITEM), dtype=np.float32)
for c in range(N_CUST):
    tastes = rng.choice(N_TASTE, size=2, replace=False)
    pool = np.concatenate([taste_items[t] for t in tastes])
    staples = rng.choice(pool, size=rng.integers(1, 4), replace=False)
    for w in range(N_WEEK):
        for s in staples:
            if rng.random() < 0.7:
                baskets[c, w, s] = 1.0
        extra = rng.choice(pool, size=2, replace=False)
        baskets[c, w, extra] = 1.0
        if rng.random() < 0.3:
            baskets[c, w, rng.integers(N_ITEM)] = 1.0

decay = np.array([0.4, 0.6, 0.8, 1.0], dtype=np.float32)[:, None]


def history(c, w):
    return (baskets[c, w - H:w] * decay).sum(0) / decay.sum()


train_x = np.stack([history(c, w) for c in range(N_CUST) for w in range(H, N_WEEK - 1)])
train_y = np.stack([baskets[c, w] for c in range(N_CUST) for w in range(H, N_WEEK - 1)])
test_x = mx.array(np.stack([history(c, N_WEEK - 1) for c in range(N_CUST)]))
test_y = np.stack([baskets[c, N_WEEK - 1] for c in range(N_CUST)])
print(f"train baskets {len(train_x)}  test customers {N_CUST}  items {N_ITEM}  "
      f"mean basket size {train_y.sum(1).mean():.2f}")


class NextBasket(nn.Module):
    def __init__(self, n_item, dim=32):
        super().__init__()
        self.enc1 = nn.Linear(n_item, 64)
        self.enc2 = nn.Linear(64, dim)
        self.item = nn.Embedding(n_item, dim)
        self.item_bias = mx.zeros((n_item,))

    def __call__(self, hist):
        u = self.enc2(nn.gelu(self.enc1(hist)))
        return u @ self.item.weight.T + self.item_bias


def multinomial_nll(model, x, y):
    logp = model(x) - mx.logsumexp(model(x), axis=1, keepdims=True)
    return -(logp * y).sum(1).mean()


def recall_at_k(scores, truth, k=5):
    top = np.argsort(-scores, axis=1)[:, :k]
    hits = np.take_along_axis(truth, top, axis=1).sum(1)
    return float((hits / np.minimum(truth.sum(1), k)).mean())


pop_scores = np.tile(train_y.sum(0), (N_CUST, 1))
repeat_scores = np.asarray(test_x) + 1e-3 * pop_scores
base_pop = recall_at_k(pop_scores, test_y)
base_rep = recall_at_k(repeat_scores, test_y)


def evaluate(model):
    s = np.asarray(model(test_x))
    nll = multinomial_nll(model, test_x, mx.array(test_y)).item()
    return nll, recall_at_k(s, test_y)


def make_opt(peak, warm, total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-5)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def batches(step, bs=128):
    idx = np.random.default_rng(step).choice(len(train_x), bs, replace=False)
    return mx.array(train_x[idx]), mx.array(train_y[idx])


model = NextBasket(N_ITEM)
mx.eval(model.parameters())
nll0, r0 = evaluate(model)
print(f"init  test_nll {nll0:.4f}  recall@5 {r0:.3f}  | baselines: popularity {base_pop:.3f}  "
      f"repeat-history {base_rep:.3f}")

STAGE1, STAGE2, SAVE_AT = 150, 300, 120
t0 = time.time()

model.item.freeze()
opt = make_opt(3e-3, 40, STAGE1)
step_fn = nn.value_and_grad(model, multinomial_nll)
for step in range(STAGE1):
    lr = opt.learning_rate.item()
    loss, grads = step_fn(model, *batches(step))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == STAGE1 - 1:
        print(f"[stage 1] step {step:3d}  lr {lr:.2e}  train_nll {loss.item():.4f}")
nll, rec = evaluate(model)
print(f"[stage 1] done  test_nll {nll:.4f}  recall@5 {rec:.3f}")

model.item.unfreeze()
opt = make_opt(2e-3, 30, STAGE2)
step_fn = nn.value_and_grad(model, multinomial_nll)
ckpt = os.path.join(tempfile.mkdtemp(), "basket.safetensors")
for step in range(STAGE2):
    lr = opt.learning_rate.item()
    loss, grads = step_fn(model, *batches(1000 + step))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == SAVE_AT:
        model.save_weights(ckpt)
        before = evaluate(model)[0]
        model = NextBasket(N_ITEM)
        model.load_weights(ckpt)
        mx.eval(model.parameters())
        step_fn = nn.value_and_grad(model, multinomial_nll)
        print(f"[stage 2] step {step:3d}  checkpoint reloaded  test_nll before {before:.4f} "
              f"after {evaluate(model)[0]:.4f}")
    if step < 60 and step % 15 == 0 or step == STAGE2 - 1:
        print(f"[stage 2] step {step:3d}  lr {lr:.2e}  train_nll {loss.item():.4f}")
nll, rec = evaluate(model)
print(f"final test_nll {nll:.4f}  recall@5 {rec:.3f}  | popularity {base_pop:.3f}  "
      f"repeat-history {base_rep:.3f}  ({time.time() - t0:.1f}s)")
