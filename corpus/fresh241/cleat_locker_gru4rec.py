"""Ship chandlery: next-item recommendation inside a shopping session.

Sessions are baskets built while a sailor works through one boat job
(re-rigging, antifouling, engine service, ...). A GRU reads the items scanned
so far and scores every catalogue item as the next scan. Training uses a
sampled softmax with popularity-drawn negatives and logQ correction; the run
is checkpointed half way and resumed from disk (weights + optimizer state).
Evaluation is a full-catalogue ranking of the last scan of held-out sessions,
reported beside a best-sellers baseline.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_ITEMS = 120
N_JOBS = 8
SEQ = 8
DIM = 32
HID = 48
N_NEG = 24
STEPS = 300
WARMUP = 40
RESUME_AT = 150

rng = np.random.default_rng(2024)

# ---- synthetic catalogue and sessions ---------------------------------------
popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
popularity = popularity[rng.permutation(N_ITEMS)]
popularity /= popularity.sum()
job_items = [rng.choice(N_ITEMS, size=18, replace=False) for _ in range(N_JOBS)]
# each item inside a job has three typical follow-up items
follow = []
for items in job_items:
    table = {}
    for it in items:
        table[int(it)] = rng.choice(items, size=3, replace=False)
    follow.append(table)


def make_sessions(n, gen):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    for r in range(n):
        job = gen.integers(N_JOBS)
        cur = int(gen.choice(job_items[job]))
        out[r, 0] = cur
        for t in range(1, SEQ + 1):
            u = gen.random()
            if u < 0.8 and cur in follow[job]:
                cur = int(gen.choice(follow[job][cur], p=[0.6, 0.3, 0.1]))
            elif u < 0.9:
                cur = int(gen.choice(job_items[job]))
            else:
                cur = int(gen.choice(N_ITEMS, p=popularity))
            out[r, t] = cur
    return out


train = make_sessions(3000, rng)
test = make_sessions(400, np.random.default_rng(77))
counts = np.bincount(train.ravel(), minlength=N_ITEMS).astype(np.float64) + 1.0
neg_q = counts ** 0.75
neg_q /= neg_q.sum()
log_q = mx.array(np.log(neg_q).astype(np.float32))


class SessionGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.catalog = nn.Embedding(N_ITEMS, DIM)
        self.gru = nn.GRU(DIM, HID)
        self.proj = nn.Linear(HID, DIM)

    def states(self, x):
        return self.proj(self.gru(self.catalog(x)))  # (B, T, DIM)

    def all_scores(self, x):
        return self.states(x) @ self.catalog.weight.T


def sampled_softmax(model, x, y, negs):
    h = model.states(x)                                   # B,T,D
    pos_e = model.catalog(y)                                # B,T,D
    neg_e = model.catalog(negs)                             # K,D
    pos = (h * pos_e).sum(-1, keepdims=True) - log_q[y][..., None]
    neg = h @ neg_e.T - log_q[negs]                       # B,T,K
    neg = mx.where(negs[None, None, :] == y[..., None], -1e9, neg)
    logits = mx.concatenate([pos, neg], axis=-1)
    return (mx.logsumexp(logits, axis=-1) - logits[..., 0]).mean()


def lr_at(step):
    if step < WARMUP:
        return 3e-3 * step / WARMUP          # starts at exactly 0
    frac = (step - WARMUP) / (STEPS - WARMUP)
    return 3e-4 + 0.5 * (3e-3 - 3e-4) * (1 + math.cos(math.pi * frac))


def evaluate(model):
    x = mx.array(test[:, :-1])
    target = test[:, -1]
    scores = np.array(model.all_scores(x)[:, -1, :])
    ranks = (scores > scores[np.arange(len(target)), target][:, None]).sum(1)
    hr = float(np.mean(ranks < 10))
    mrr = float(np.mean(1.0 / (ranks + 1)))
    return hr, mrr


def baseline():
    order = np.argsort(-counts)
    rank_of = np.empty(N_ITEMS, dtype=np.int64)
    rank_of[order] = np.arange(N_ITEMS)
    ranks = rank_of[test[:, -1]]
    return float(np.mean(ranks < 10)), float(np.mean(1.0 / (ranks + 1)))


def run_steps(model, opt, start, stop, batch_rng):
    step_fn = nn.value_and_grad(model, sampled_softmax)
    window = []
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = batch_rng.integers(0, len(train), size=64)
        b = train[idx]
        x, y = mx.array(b[:, :-1]), mx.array(b[:, 1:])
        negs = mx.array(batch_rng.choice(N_ITEMS, size=N_NEG, p=neg_q).astype(np.int32))
        loss, g = step_fn(model, x, y, negs)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        window.append(loss.item())
        if (step + 1) % 30 == 0:
            avg = sum(window) / len(window)
            window = []
            print(f"step {step + 1:4d}  lr {lr_at(step):.2e}  sampled-softmax loss {avg:.4f}  "
                  f"log-lik {-avg:+.4f}")


def main():
    t0 = time.time()
    mx.random.seed(5)
    bhr, bmrr = baseline()
    print(f"best-sellers baseline: HR@10 {bhr:.3f}  MRR {bmrr:.3f}")

    model = SessionGRU()
    opt = optim.Adam(learning_rate=0.0)
    hr, mrr = evaluate(model)
    print(f"untrained GRU: HR@10 {hr:.3f}  MRR {mrr:.3f}")

    batch_rng = np.random.default_rng(9)
    run_steps(model, opt, 0, RESUME_AT, batch_rng)
    hr, mrr = evaluate(model)
    print(f"checkpoint at step {RESUME_AT}: HR@10 {hr:.3f}  MRR {mrr:.3f}")

    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    del model, opt

    model = SessionGRU()
    model.load_weights(os.path.join(ckdir, "weights.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    hr2, mrr2 = evaluate(model)
    print(f"resumed from disk: HR@10 {hr2:.3f}  MRR {mrr2:.3f}  (optimizer step {opt.step.item()})")

    run_steps(model, opt, RESUME_AT, STEPS, batch_rng)
    hr, mrr = evaluate(model)
    print(f"final: HR@10 {hr:.3f} (best-sellers {bhr:.3f})  MRR {mrr:.3f} (best-sellers {bmrr:.3f})")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
