"""Hive entrance tally.

A strip of 24 entrance-camera frames is classified by how many pollen-laden
foragers it shows (0..5, more is clipped to 5).  Four learned latent queries
cross-attend over the frame tokens (nn.MultiHeadAttention, queries from the
latents, keys/values from the frames), the pooled latents go through a small
MLP head.  Training uses SGD with momentum on a warm-restart cosine schedule
(three cycles of 300 steps) and is split into two
watches: after the first watch the weights and the optimizer state are saved,
everything is rebuilt and the second watch resumes from the files.
The log reports the mean log-likelihood per strip (higher is better, <= 0).
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FRAMES = 24
KINDS = 5            # empty, worker, pollen forager, drone, wasp
POLLEN = 2
CLASSES = 6


def make_batch(bs):
    probs = mx.array([0.40, 0.35, 0.10, 0.10, 0.05])
    frames = mx.random.categorical(mx.log(probs), shape=(bs, FRAMES))
    count = mx.minimum((frames == POLLEN).sum(axis=1), CLASSES - 1)
    return frames, count


class LatentTally(nn.Module):
    def __init__(self, dim=32, latents=4, heads=4):
        super().__init__()
        self.frame_emb = nn.Embedding(KINDS, dim)
        self.pos = nn.Embedding(FRAMES, dim)
        self.latents = mx.random.normal((latents, dim)) * 0.02
        self.norm = nn.LayerNorm(dim)
        self.xattn = nn.MultiHeadAttention(dim, heads)
        self.head = nn.Sequential(
            nn.Linear(latents * dim, 64), nn.ReLU(), nn.Linear(64, CLASSES))

    def __call__(self, frames):
        B = frames.shape[0]
        x = self.norm(self.frame_emb(frames) + self.pos(mx.arange(FRAMES)))
        q = mx.broadcast_to(self.latents, (B,) + self.latents.shape)
        z = self.xattn(q, x, x)
        return self.head(z.reshape(B, -1))


def loss_fn(model, frames, count):
    return nn.losses.cross_entropy(model(frames), count, reduction="mean")


def evaluate(model, frames, count):
    logits = model(frames)
    ll = -nn.losses.cross_entropy(logits, count, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == count).astype(mx.float32).mean()
    return ll.item(), 100.0 * acc.item()


CYCLE = 300
CYCLES = 3
TOTAL = CYCLE * CYCLES
HALF = 450
BS = 64


def build():
    model = LatentTally()
    sched = optim.join_schedules(
        [optim.cosine_decay(0.03, CYCLE, 0.001) for _ in range(CYCLES)],
        [CYCLE * (i + 1) for i in range(CYCLES - 1)])
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    return model, opt


def watch(name, model, opt, first, last, val, log_rows):
    grad_fn = nn.value_and_grad(model, loss_fn)
    seen = []
    for step in range(first, last + 1):
        frames, count = make_batch(BS)
        loss, grads = grad_fn(model, frames, count)
        lr_used = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        seen.append(-loss.item())
        if step % 75 == 0:
            v_ll, v_acc = evaluate(model, *val)
            log_rows.append((name, step, lr_used, sum(seen) / len(seen), v_ll, v_acc))
            print(f"| {name:<10} | {step:4d} | {lr_used:7.4f} | {sum(seen) / len(seen):8.4f} "
                  f"| {v_ll:8.4f} | {v_acc:6.2f} |")
            seen = []


mx.random.seed(11)
val = make_batch(1024)
mx.eval(val)
counts = [int((val[1] == c).sum().item()) for c in range(CLASSES)]
prior = [c / sum(counts) for c in counts]
prior_ll = sum(p * math.log(p) for p in prior if p > 0)
majority = 100.0 * max(prior)

print("SHIP'S LOG - hive entrance tally")
print(f"remarks: {FRAMES} frames per strip, {CLASSES} tally classes, class share "
      + " ".join(f"{p:.2f}" for p in prior))
print(f"remarks: prior-only log-likelihood {prior_ll:.4f}, majority-class accuracy {majority:.2f}%")
print("| watch      | step | lr      | train ll | valid ll | acc %  |")
print("|------------|------|---------|----------|----------|--------|")

rows = []
t0 = time.time()
model, opt = build()
mx.eval(model.parameters())
watch("forenoon", model, opt, 1, HALF, val, rows)

ckpt = tempfile.mkdtemp("_hive")
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"remarks: watch change at step {HALF}, resumed from {os.path.basename(ckpt)} "
      f"(optimizer step {opt.step.item()})")
watch("afternoon", model, opt, HALF + 1, TOTAL, val, rows)

v_ll, v_acc = evaluate(model, *val)
print(f"remarks: end of log after {time.time() - t0:.1f}s, valid ll {v_ll:.4f} "
      f"(prior {prior_ll:.4f}), accuracy {v_acc:.2f}% (majority {majority:.2f}%)")
