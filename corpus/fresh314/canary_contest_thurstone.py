"""Canary song contest: learn a song-quality score from pairwise judge verdicts.

Judges hear two songs and say "left", "right" or "tie".  We fit a Thurstone
(probit) paired-comparison model with a learned tie threshold (Glenn-David):

    P(left)  = Phi(d - tau)
    P(right) = Phi(-d - tau)
    P(tie)   = 1 - P(left) - P(right),     d = score(left) - score(right)

Training writes a checkpoint half way, rebuilds model and optimizer from the
files, and carries on from the saved step.
"""

import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 314
N_SONGS, N_FEAT = 600, 9
N_TRAIN, N_VAL = 9000, 1500
TRUE_TAU, TRUE_SCALE = 0.35, 0.7
BATCH, STEPS, WARMUP, PEAK_LR = 256, 800, 150, 2e-3
CKPT_STEP, LOG_EVERY = 400, 100

FEATURES = ["trill_rate", "roll_depth", "pitch_span", "tour_count", "pause_ms",
            "bell_notes", "flute_notes", "volume_db", "length_s"]


def phi(x):
    return 0.5 * (1.0 + mx.erf(x / math.sqrt(2.0)))


def make_data(rng):
    x = rng.normal(size=(N_SONGS, N_FEAT)).astype(np.float32)
    q = (0.9 * x[:, 0] + 0.6 * x[:, 1] - 0.5 * x[:, 4] + 0.7 * np.sin(1.3 * x[:, 2])
         + 0.4 * x[:, 3] * x[:, 5] - 0.3 * x[:, 6] ** 2)
    q = (q - q.mean()) / q.std()

    def pairs(n):
        a = rng.integers(0, N_SONGS, size=n)
        b = (a + rng.integers(1, N_SONGS, size=n)) % N_SONGS
        d = (q[a] - q[b]) / TRUE_SCALE
        p_left = 0.5 * (1 + np.vectorize(math.erf)((d - TRUE_TAU) / math.sqrt(2)))
        p_right = 0.5 * (1 + np.vectorize(math.erf)((-d - TRUE_TAU) / math.sqrt(2)))
        u = rng.random(n)
        y = np.where(u < p_left, 0, np.where(u < p_left + p_right, 1, 2))
        return a.astype(np.int32), b.astype(np.int32), y.astype(np.int32), p_left, p_right

    return x, q, pairs(N_TRAIN), pairs(N_VAL)


class SongScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 40)
        self.l2 = nn.Linear(40, 40)
        self.head = nn.Linear(40, 1, bias=False)
        self.tie_raw = mx.zeros((1,))

    def score(self, feats):
        h = nn.silu(self.l1(feats))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)

    def tau(self):
        return nn.softplus(self.tie_raw)[0]

    def __call__(self, fa, fb):
        d = self.score(fa) - self.score(fb)
        tau = self.tau()
        p_left = phi(d - tau)
        p_right = phi(-d - tau)
        p_tie = 1.0 - p_left - p_right
        probs = mx.stack([p_left, p_right, p_tie], axis=-1)
        return d, mx.clip(probs, 1e-7, 1.0)


def nll(model, fa, fb, y):
    _, probs = model(fa, fb)
    picked = mx.take_along_axis(probs, y[:, None], axis=-1).squeeze(-1)
    return -mx.mean(mx.log(picked))


def evaluate(model, feats, split):
    a, b, y, _, _ = split
    fa, fb, yy = feats[mx.array(a)], feats[mx.array(b)], mx.array(y)
    d, probs = model(fa, fb)
    loss = nll(model, fa, fb, yy).item()
    decisive = y != 2
    dn = np.array(d)
    acc = float(np.mean((dn[decisive] > 0) == (y[decisive] == 0)))
    pred_tie = float(mx.mean(probs[:, 2]).item())
    return loss, acc, pred_tie


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, end=1e-5)],
        [WARMUP])


def save_checkpoint(folder, model, opt, step):
    model.save_weights(os.path.join(folder, "scorer.safetensors"))
    mx.save_safetensors(os.path.join(folder, "adam_state.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "step.txt"), "w") as f:
        f.write(str(step))


def load_checkpoint(folder):
    model = SongScorer()
    model.load_weights(os.path.join(folder, "scorer.safetensors"))
    opt = optim.Adam(learning_rate=schedule())
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "adam_state.safetensors")).items()))
    with open(os.path.join(folder, "step.txt")) as f:
        step = int(f.read())
    return model, opt, step


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x, q, train, val = make_data(rng)
    feats = mx.array((x - x.mean(0)) / x.std(0))

    a_tr, b_tr, y_tr, _, _ = train
    a_va, b_va, y_va, pl_va, pr_va = val
    freq = np.bincount(y_tr, minlength=3) / len(y_tr)
    base_nll = -float(np.mean(np.log(freq[y_va])))
    true_p = np.stack([pl_va, pr_va, 1 - pl_va - pr_va], 1)
    floor_nll = -float(np.mean(np.log(np.clip(true_p[np.arange(N_VAL), y_va], 1e-7, 1))))
    dec = y_va != 2
    rule_acc = float(np.mean((x[a_va, 0] > x[b_va, 0])[dec] == (y_va[dec] == 0)))
    print(f"contest: {N_SONGS} songs, {N_TRAIN} train / {N_VAL} val verdicts, "
          f"left/right/tie = {freq[0]:.2f}/{freq[1]:.2f}/{freq[2]:.2f}")
    print(f"reference points on val: frequency-only NLL {base_nll:.4f} | "
          f"judge-noise floor NLL {floor_nll:.4f} | trill-rate rule decisive acc {rule_acc:.3f}")

    model = SongScorer()
    opt = optim.Adam(learning_rate=schedule())
    loss_and_grad = nn.value_and_grad(model, nll)

    loss0, acc0, tie0 = evaluate(model, feats, val)
    print(f"step    0 | val nll {loss0:.4f} | decisive acc {acc0:.3f} | "
          f"pred tie {tie0:.3f} | tau {model.tau().item():.3f}")

    ckpt_dir = tempfile.mkdtemp(None, "canary_ckpt_")
    step = 0
    running = []
    while step < STEPS:
        idx = rng.integers(0, N_TRAIN, size=BATCH)
        fa = feats[mx.array(a_tr[idx])]
        fb = feats[mx.array(b_tr[idx])]
        yy = mx.array(y_tr[idx])
        loss, grads = loss_and_grad(model, fa, fb, yy)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        running.append(loss.item())

        if step % LOG_EVERY == 0:
            vl, va, vt = evaluate(model, feats, val)
            lr = opt.learning_rate.item()
            print(f"step {step:4d} | train nll {np.mean(running):.4f} | val nll {vl:.4f} | "
                  f"decisive acc {va:.3f} | pred tie {vt:.3f} | tau {model.tau().item():.3f} | lr {lr:.2e}")
            running = []

        if step == CKPT_STEP:
            save_checkpoint(ckpt_dir, model, opt, step)
            before = evaluate(model, feats, val)[0]
            del model, opt
            model, opt, step = load_checkpoint(ckpt_dir)
            loss_and_grad = nn.value_and_grad(model, nll)
            after = evaluate(model, feats, val)[0]
            print(f"checkpoint written at step {CKPT_STEP}; fresh model + optimizer reloaded "
                  f"(val nll {before:.4f} -> {after:.4f}, optimizer step {int(opt.step.item())}); resuming")

    vl, va, vt = evaluate(model, feats, val)
    s = np.array(model.score(feats))
    rank_corr = float(np.corrcoef(np.argsort(np.argsort(s)), np.argsort(np.argsort(q)))[0, 1])
    print(f"final: val nll {vl:.4f} (floor {floor_nll:.4f}, frequency-only {base_nll:.4f}) | "
          f"decisive acc {va:.3f} (rule {rule_acc:.3f}) | tau {model.tau().item():.3f} (judges {TRUE_TAU}) | "
          f"score-vs-quality rank corr {rank_corr:.3f}")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
