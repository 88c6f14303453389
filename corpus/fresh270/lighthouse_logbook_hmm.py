"""Lighthouse logbook: an unsupervised 3-regime hidden Markov model of hourly sea-state codes.

Parameters are unconstrained logits; the likelihood is the log-space forward algorithm
(mx.logsumexp over previous regimes).  Training is split in two sessions: session A
writes a checkpoint (weights + optimizer state + step) and exits its objects; session B
rebuilds everything from the file and continues.  The cosine schedule has warm restarts,
so the loss is allowed to bump after each restart.
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

rng = np.random.default_rng(11)
K_TRUE, V, T = 3, 6, 48            # regimes, sea-state codes (0 calm .. 5 storm), hours per log
A = np.array([[0.90, 0.08, 0.02], [0.10, 0.80, 0.10], [0.05, 0.25, 0.70]])
B = np.array([[0.50, 0.35, 0.12, 0.02, 0.01, 0.00],
              [0.05, 0.20, 0.40, 0.25, 0.08, 0.02],
              [0.00, 0.02, 0.08, 0.25, 0.35, 0.30]]) + 1e-3
B = B / B.sum(1, keepdims=True)
PI = np.array([0.5, 0.3, 0.2])


def sample(n):
    out = np.zeros((n, T), dtype=np.int32)
    for i in range(n):
        s = rng.choice(K_TRUE, p=PI)
        for t in range(T):
            out[i, t] = rng.choice(V, p=B[s])
            s = rng.choice(K_TRUE, p=A[s])
    return out


train_np, valid_np = sample(1500), sample(300)
train, valid = mx.array(train_np), mx.array(valid_np)


def np_forward_nll(seqs, pi, a, b):
    la, lb = np.log(a), np.log(b)
    alpha = np.log(pi)[None] + lb[:, seqs[:, 0]].T
    for t in range(1, T):
        m = alpha.max(1, keepdims=True)
        alpha = np.log(np.exp(alpha - m) @ np.exp(la)) + m + lb[:, seqs[:, t]].T
    m = alpha.max(1, keepdims=True)
    ll = (np.log(np.exp(alpha - m).sum(1)) + m[:, 0])
    return -ll.mean() / T


floor = np_forward_nll(valid_np, PI, A, B)
counts = np.bincount(train_np.ravel(), minlength=V) / train_np.size
unigram = -np.mean(np.log(counts[valid_np]))


class HMM(nn.Module):
    def __init__(self, k, v):
        super().__init__()
        self.start = mx.random.normal((k,)) * 0.1
        self.trans = mx.random.normal((k, k)) * 0.1 + 2.0 * mx.eye(k)
        self.emit = mx.random.normal((k, v)) * 0.5

    def nll_per_hour(self, seqs):
        lpi = nn.log_softmax(self.start)
        la = nn.log_softmax(self.trans, axis=-1)
        lb = nn.log_softmax(self.emit, axis=-1)          # (k, v)
        em = mx.take(lb, seqs, axis=1)                   # (k, n, T)
        alpha = lpi[:, None] + em[:, :, 0]               # (k, n)
        for t in range(1, seqs.shape[1]):
            alpha = mx.logsumexp(alpha[:, None, :] + la[:, :, None], axis=0) + em[:, :, t]
        return -mx.mean(mx.logsumexp(alpha, axis=0)) / seqs.shape[1]


def loss_fn(m, xb):
    return m.nll_per_hour(xb)


CYCLES = (120, 240, 480)          # SGDR cycle lengths in steps
TOTAL = sum(CYCLES)
PEAK = 0.05


def make_optimizer():
    parts = [optim.cosine_decay(PEAK, c, 2e-3) for c in CYCLES]
    bounds = list(np.cumsum(CYCLES[:-1]))
    return optim.Adam(learning_rate=optim.join_schedules(parts, bounds))


def report(tag, step, m, opt, run):
    print(json.dumps({"tag": tag, "step": step, "lr": round(float(opt.learning_rate.item()), 5),
                      "train_bits": round(run / np.log(2), 4),
                      "valid_bits": round(m.nll_per_hour(valid).item() / np.log(2), 4),
                      "secs": round(time.time() - t0, 1)}))


def train_steps(m, opt, start, stop, tag):
    lg = nn.value_and_grad(m, loss_fn)
    win = []
    for step in range(start + 1, stop + 1):
        idx = mx.array(rng.integers(0, train_np.shape[0], 64))
        loss, grads = lg(m, train[idx])
        opt.update(m, grads)
        mx.eval(loss, m.parameters(), opt.state)
        win.append(loss.item())
        if step in np.cumsum(CYCLES)[:-1] + 1:
            print(json.dumps({"tag": tag, "event": "warm_restart", "step": step}))
        if step % 60 == 0:
            report(tag, step, m, opt, float(np.mean(win[-60:])))


t0 = time.time()
print(json.dumps({"event": "data", "logs_train": int(train_np.shape[0]), "logs_valid": int(valid_np.shape[0]),
                  "hours_per_log": T, "codes": V, "unigram_bits": round(unigram / np.log(2), 4),
                  "true_model_bits": round(floor / np.log(2), 4)}))

ckpt = tempfile.mkdtemp()
mx.random.seed(3)
model_a = HMM(K_TRUE, V)
opt_a = make_optimizer()
mx.eval(model_a.parameters())
print(json.dumps({"tag": "A", "event": "untrained", "valid_bits": round(model_a.nll_per_hour(valid).item() / np.log(2), 4)}))
SPLIT = 300
train_steps(model_a, opt_a, 0, SPLIT, "A")
model_a.save_weights(os.path.join(ckpt, "hmm.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt_a.state)),
                    metadata={"step": str(SPLIT)})
saved_bits = model_a.nll_per_hour(valid).item() / np.log(2)
print(json.dumps({"tag": "A", "event": "checkpoint", "step": SPLIT, "valid_bits": round(saved_bits, 4)}))
del model_a, opt_a

mx.random.seed(99)                 # a different seed: everything must come from the file
model_b = HMM(K_TRUE, V)
model_b.load_weights(os.path.join(ckpt, "hmm.safetensors"))
opt_b = make_optimizer()
state, meta = mx.load(os.path.join(ckpt, "opt.safetensors"), return_metadata=True)
opt_b.state = tree_unflatten(list(state.items()))
resumed = int(meta["step"])
mx.eval(model_b.parameters(), opt_b.state)
print(json.dumps({"tag": "B", "event": "resumed", "step": resumed,
                  "valid_bits": round(model_b.nll_per_hour(valid).item() / np.log(2), 4),
                  "lr": round(float(opt_b.learning_rate.item()), 5)}))
train_steps(model_b, opt_b, resumed, TOTAL, "B")

A_hat = np.array(nn.softmax(model_b.trans, axis=-1))
stay = [round(float(v), 3) for v in sorted(np.diag(A_hat))]
final = model_b.nll_per_hour(valid).item() / np.log(2)
print(json.dumps({"event": "done", "valid_bits": round(final, 4), "true_model_bits": round(floor / np.log(2), 4),
                  "unigram_bits": round(unigram / np.log(2), 4), "gap_bits": round(final - floor / np.log(2), 4),
                  "stay_probs_sorted": stay, "true_stay_sorted": sorted(np.diag(A).tolist()),
                  "secs": round(time.time() - t0, 1)}))
