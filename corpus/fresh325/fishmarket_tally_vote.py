"""Fish-market tally clerk: four crate counts (digits) are summed mod 10 with a written
chain of running totals: a b c d | s1 s2 s3, s1=(a+b)%10, s2=(s1+c)%10, s3=(s2+d)%10.

The clerk's old ledgers are noisy: in 20% of the training rows the first running total
was miscopied (uniform random digit) and the rest of the chain follows from the miscopy.
A small autoregressive MLP reads the padded opening and writes the next chain digit.
Every 100 steps the loop samples chains from the model (temperature 1, 9 samples per
problem, explicit PRNG keys) and reports single-sample accuracy, majority-vote accuracy
and greedy accuracy. Halfway through, weights and optimizer state are written to disk,
the objects are rebuilt from the files and training resumes.
"""
import math
import os
import tempfile
import time
from collections import Counter

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PAD, SEP = 10, 11
VOCAB = 12
L = 8            # a b c d SEP s1 s2 s3
FIRST = 5        # first written chain position
rng = np.random.default_rng(3)
mx.random.seed(3)


def make_rows(n, noisy):
    d = rng.integers(0, 10, size=(n, 4))
    s1 = (d[:, 0] + d[:, 1]) % 10
    if noisy:
        flip = rng.random(n) < 0.2
        s1 = np.where(flip, rng.integers(0, 10, size=n), s1)
    s2 = (s1 + d[:, 2]) % 10
    s3 = (s2 + d[:, 3]) % 10
    return np.concatenate([d, np.full((n, 1), SEP), s1[:, None], s2[:, None], s3[:, None]],
                          axis=1).astype(np.int32)


class Clerk(nn.Module):
    def __init__(self, dims=96):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 12)
        self.pos = nn.Embedding(3, 12)
        self.l1 = nn.Linear(12 * L + 12, dims)
        self.l2 = nn.Linear(dims, dims)
        self.head = nn.Linear(dims, 10)

    def __call__(self, opening, k):
        # opening: (N, L) with unwritten positions = PAD; k: (N,) which chain digit is next
        e = self.emb(opening).reshape(opening.shape[0], -1)
        h = nn.relu(self.l1(mx.concatenate([e, self.pos(k)], axis=1)))
        h = nn.relu(self.l2(h))
        return self.head(h)


def teacher_forced(rows):
    n = rows.shape[0]
    openings, ks, targets = [], [], []
    for k in range(3):
        p = rows.copy()
        p[:, FIRST + k:] = PAD
        openings.append(p)
        ks.append(np.full(n, k))
        targets.append(rows[:, FIRST + k])
    return (mx.array(np.concatenate(openings)), mx.array(np.concatenate(ks).astype(np.int32)),
            mx.array(np.concatenate(targets)))


def loss_fn(model, opening, k, y):
    return nn.losses.cross_entropy(model(opening, k), y, reduction="mean")


def write_chain(model, rows, key=None):
    seq = mx.array(rows.copy())
    seq = mx.concatenate([seq[:, :FIRST], mx.full((seq.shape[0], L - FIRST), PAD, mx.int32)], axis=1)
    n = seq.shape[0]
    for k in range(3):
        logits = model(seq, mx.full((n,), k, mx.int32))
        if key is None:
            tok = mx.argmax(logits, axis=-1)
        else:
            key, sub = mx.random.split(key)
            tok = mx.random.categorical(logits, key=sub)
        cols = [seq[:, :FIRST + k], tok[:, None].astype(mx.int32), seq[:, FIRST + k + 1:]]
        seq = mx.concatenate(cols, axis=1)
    mx.eval(seq)
    return np.array(seq[:, -1])


def evaluate(model, rows, key, n_samples=9):
    truth = rows[:, -1]
    greedy = (write_chain(model, rows) == truth).mean()
    draws = []
    for _ in range(n_samples):
        key, sub = mx.random.split(key)
        draws.append(write_chain(model, rows, sub))
    draws = np.stack(draws, axis=1)
    single = (draws[:, 0] == truth).mean()
    vote = np.array([Counter(r).most_common(1)[0][0] for r in draws])
    return greedy, single, (vote == truth).mean(), key


test_rows = make_rows(400, noisy=False)
# the loss floor the noisy ledgers impose: only the s1 step is uncertain
p_ok = 0.8 + 0.2 / 10
floor = -(p_ok * math.log(p_ok) + 9 * (0.02 * math.log(0.02))) / 3

STEPS, HALF, WARM = 800, 400, 40
schedule = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                                 optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
t0 = time.time()
model = Clerk()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)
eval_key = mx.random.key(11)

print("step\tlr\ttrain_nats\tfloor_nats\tgreedy_acc\tsample_acc\tvote9_acc\tchance\tsecs")
g, s, v, eval_key = evaluate(model, test_rows, eval_key)
print(f"0\t{0.0:.2e}\t-\t{floor:.4f}\t{g:.3f}\t{s:.3f}\t{v:.3f}\t0.100\t{time.time() - t0:.1f}")

ckpt_dir = tempfile.TemporaryDirectory()
window = []
step = 0
while step < STEPS:
    step += 1
    lr_now = schedule(opt.step).item() if step > 1 else 0.0
    opening, k, y = teacher_forced(make_rows(128, noisy=True))
    loss, grads = grad_fn(model, opening, k, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 100 == 0:
        g, s, v, eval_key = evaluate(model, test_rows, eval_key)
        print(f"{step}\t{lr_now:.2e}\t{np.mean(window):.4f}\t{floor:.4f}\t{g:.3f}\t{s:.3f}\t{v:.3f}"
              f"\t0.100\t{time.time() - t0:.1f}", flush=True)
        window = []
    if step == HALF:
        wpath = os.path.join(ckpt_dir.name, "clerk.safetensors")
        opath = os.path.join(ckpt_dir.name, "clerk_opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        del model, opt, grad_fn
        model = Clerk()
        model.load_weights(wpath)
        opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        grad_fn = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        print(f"# checkpoint written and reloaded at step {step}; optimizer step counter "
              f"{opt.step.item()}, next lr {schedule(opt.step).item():.2e}")

ckpt_dir.cleanup()
print(f"# done in {time.time() - t0:.1f}s: greedy {g:.3f}, one sample {s:.3f}, "
      f"vote of 9 {v:.3f} (chance 0.100)")
