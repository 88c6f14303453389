"""Track-circuit occupancy tagging for a signal box.

Each sequence is 30 half-second readings from one track circuit (rail voltage,
relay current, axle-counter pulses, two noisy neighbour-circuit voltages).
Every reading is tagged clear / approach / occupied / release.  A GELU MLP over
a +-1 reading window gives emission scores; a linear-chain CRF (forward
algorithm in log space) gives the sequence likelihood; Viterbi decodes.

Stage 1 trains the emission net with the transition table held at zero, then
checkpoints.  Stage 2 reloads the checkpoint, unfreezes the transitions and
restarts the optimizer with a linear warmup that starts at exactly 0.
The log reports mean per-token log-likelihood (negative, rising toward 0).
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

TAGS = ["clear", "approach", "occupied", "release"]
K = len(TAGS)
T = 30
F = 5

# cyclic, sticky chain: clear -> approach -> occupied -> release -> clear
TRUE_TRANS = np.array(
    [
        [0.85, 0.15, 0.00, 0.00],
        [0.00, 0.70, 0.30, 0.00],
        [0.00, 0.00, 0.80, 0.20],
        [0.35, 0.00, 0.00, 0.65],
    ]
)
# approach and release look alike on the rail; only order tells them apart
MEANS = np.array(
    [
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.6, 0.0, 0.2, 0.0],
        [0.0, 1.0, 1.0, 0.0, 0.0],
        [0.5, 0.6, 0.0, 0.0, 0.2],
    ]
)


def sample(n, rng):
    ys = np.zeros((n, T), dtype=np.int32)
    ys[:, 0] = rng.choice(K, size=n, p=[0.7, 0.3, 0.0, 0.0])
    for t in range(1, T):
        for i in range(n):
            ys[i, t] = rng.choice(K, p=TRUE_TRANS[ys[i, t - 1]])
    xs = MEANS[ys] + rng.normal(0, 0.45, size=(n, T, F))
    return mx.array(xs.astype(np.float32)), mx.array(ys)


def windows(x):
    pad = mx.pad(x, [(0, 0), (1, 1), (0, 0)], mode="edge")
    return mx.concatenate([pad[:, :-2], pad[:, 1:-1], pad[:, 2:]], axis=-1)


class TrackCRF(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.emit = nn.Sequential(nn.Linear(3 * F, hidden), nn.GELU(), nn.Linear(hidden, K))
        self.trans = mx.zeros((K, K))
        self.start = mx.zeros((K,))

    def emissions(self, x):
        return self.emit(windows(x))

    def log_partition(self, e):
        alpha = self.start[None] + e[:, 0]
        for t in range(1, e.shape[1]):
            alpha = mx.logsumexp(alpha[:, :, None] + self.trans[None], axis=1) + e[:, t]
        return mx.logsumexp(alpha, axis=1)

    def gold_score(self, e, y):
        em = mx.take_along_axis(e, y[..., None], axis=-1).squeeze(-1).sum(axis=1)
        tr = self.trans[y[:, :-1], y[:, 1:]].sum(axis=1)
        return em + tr + self.start[y[:, 0]]

    def viterbi(self, x):
        e = self.emissions(x)
        score = self.start[None] + e[:, 0]
        back = []
        for t in range(1, e.shape[1]):
            cand = score[:, :, None] + self.trans[None]
            back.append(mx.argmax(cand, axis=1))
            score = mx.max(cand, axis=1) + e[:, t]
        best = mx.argmax(score, axis=1)
        path = [best]
        for bp in reversed(back):
            best = mx.take_along_axis(bp, best[:, None], axis=1).squeeze(1)
            path.append(best)
        return mx.stack(path[::-1], axis=1)


def nll(model, x, y):
    e = model.emissions(x)
    return (model.log_partition(e) - model.gold_score(e, y)).mean() / T


def token_acc(pred, y):
    return (pred == y).astype(mx.float32).mean().item()


def run_stage(model, opt, xs, ys, epochs, bs, label, rng, step0=0):
    state = [model.state, opt.state]

    loss_and_grad = nn.value_and_grad(model, nll)
    step = step0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(xs.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i : i + bs])
            loss, grads = loss_and_grad(model, xs[idx], ys[idx])
            opt.update(model, grads)
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        lr = opt.learning_rate.item()
        print(f"[{label}] epoch {ep:2d} step {step:4d} lr {lr:.5f} mean token loglik {-tot / nb:+.4f}", flush=True)
    return step


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(11)
    xtr, ytr = sample(640, rng)
    xva, yva = sample(200, rng)

    counts = np.bincount(np.array(ytr).ravel(), minlength=K)
    majority = int(counts.argmax())
    base_major = token_acc(mx.full(yva.shape, majority), yva)

    model = TrackCRF()
    mx.eval(model.parameters())
    bs = 32

    # stage 1: emissions only
    model.freeze(keys=["trans", "start"])
    n_tr = len(tree_flatten(model.trainable_parameters()))
    print(f"stage 1: {n_tr} trainable tensors (transition table held at zero)")
    opt1 = optim.Adam(learning_rate=optim.cosine_decay(4e-3, 12 * (640 // bs), end=4e-4))
    step = run_stage(model, opt1, xtr, ytr, 12, bs, "emit", rng)
    emit_only = token_acc(mx.argmax(model.emissions(xva), axis=-1), yva)
    s1_vit = token_acc(model.viterbi(xva), yva)
    print(f"after stage 1: emission argmax acc {emit_only:.3f}  viterbi acc {s1_vit:.3f}  majority baseline {base_major:.3f}")

    with tempfile.TemporaryDirectory() as d:
        ckpt = os.path.join(d, "stage1.safetensors")
        model.save_weights(ckpt)
        print(f"checkpoint written ({os.path.getsize(ckpt)} bytes), reloading into a fresh model")
        model = TrackCRF()
        model.load_weights(ckpt)
        mx.eval(model.parameters())
    resumed = token_acc(mx.argmax(model.emissions(xva), axis=-1), yva)
    print(f"resumed model emission argmax acc {resumed:.3f} (matches stage 1: {abs(resumed - emit_only) < 1e-6})")

    # stage 2: everything trainable, optimizer restarted with warmup from 0
    n_tr = len(tree_flatten(model.trainable_parameters()))
    print(f"stage 2: {n_tr} trainable tensors")
    steps2 = 10 * (640 // bs)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, steps2 - 40, end=1e-4)], [40]
    )
    opt2 = optim.Adam(learning_rate=sched)
    run_stage(model, opt2, xtr, ytr, 10, bs, "crf ", rng, step0=step)

    vit = token_acc(model.viterbi(xva), yva)
    emit2 = token_acc(mx.argmax(model.emissions(xva), axis=-1), yva)
    print(f"final: viterbi acc {vit:.3f}  emission argmax acc {emit2:.3f}  stage-1 viterbi {s1_vit:.3f}  majority {base_major:.3f}")
    tr = mx.softmax(model.trans, axis=1)
    print("learned transition rows (softmax):")
    for i, name in enumerate(TAGS):
        print(f"  {name:9s} " + " ".join(f"{v:.2f}" for v in tr[i].tolist()))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
