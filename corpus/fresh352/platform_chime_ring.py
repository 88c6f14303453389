# Platform announcements <-> departure-board rows, sigmoid-pair contrastive
# training from scratch, loss computed the way it is on a ring of 4 workers.
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_DEST, N_PLAT, N_DELAY = 12, 8, 5
VOCAB = N_DEST + N_PLAT + N_DELAY
BANDS, FRAMES = 16, 20
WORKERS, PER_WORKER = 4, 16
BATCH = WORKERS * PER_WORKER
STEPS, WARMUP, SAVE_AT = 700, 100, 350
DIM = 32

rng = np.random.default_rng(7)
# each attribute value has a 3-frame spectral motif
motif_dest = rng.normal(0, 1, (N_DEST, 3, BANDS)).astype(np.float32)
motif_plat = rng.normal(0, 1, (N_PLAT, 3, BANDS)).astype(np.float32)
motif_delay = rng.normal(0, 1, (N_DELAY, 3, BANDS)).astype(np.float32)


def make_pairs(n, r):
    d = r.integers(0, N_DEST, n)
    p = r.integers(0, N_PLAT, n)
    y = r.integers(0, N_DELAY, n)
    clips = r.normal(0, 0.6, (n, FRAMES, BANDS)).astype(np.float32)
    # announcer order never changes, timing jitters
    t0 = r.integers(0, 3, n)
    t1 = t0 + 5 + r.integers(0, 3, n)
    t2 = t1 + 5 + r.integers(0, 3, n)
    g = r.uniform(0.7, 1.3, (n, 1, 1)).astype(np.float32)
    rows = np.arange(n)[:, None]
    k = np.arange(3)[None, :]
    clips[rows, t0[:, None] + k] += g * motif_dest[d]
    clips[rows, t1[:, None] + k] += g * motif_plat[p]
    clips[rows, t2[:, None] + k] += g * motif_delay[y]
    tokens = np.stack([d, N_DEST + p, N_DEST + N_PLAT + y], axis=1).astype(np.int32)
    return mx.array(clips), mx.array(tokens)


class ClipTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(BANDS, 32, kernel_size=3, padding=1)
        self.c2 = nn.Conv1d(32, 32, kernel_size=3, padding=1)
        self.out = nn.Linear(32, DIM)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h)) + h
        return self.out(h.mean(axis=1))


class BoardTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 48)
        self.pos = mx.random.normal((3, 48)) * 0.02
        self.mlp = nn.Sequential(nn.Linear(48, 48), nn.GELU(), nn.Linear(48, DIM))

    def __call__(self, t):
        h = self.emb(t) + self.pos
        return self.mlp(h.mean(axis=1))


class Pairer(nn.Module):
    def __init__(self):
        super().__init__()
        self.clip = ClipTower()
        self.board = BoardTower()
        self.t_prime = mx.array(math.log(10.0))
        self.bias = mx.array(-10.0)

    def embed(self, clips, tokens):
        a = self.clip(clips)
        b = self.board(tokens)
        a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
        b = b / mx.linalg.norm(b, axis=-1, keepdims=True)
        return a, b


def pair_logsig(model, a, b, positive):
    z = mx.exp(model.t_prime) * (a @ b.T) + model.bias
    sign = 2 * mx.eye(a.shape[0]) - 1 if positive else -mx.ones((a.shape[0], b.shape[0]))
    return -nn.log_sigmoid(sign * z).sum()


def ring_loss(model, clips, tokens):
    a, b = model.embed(clips, tokens)
    a_sh = [a[w * PER_WORKER:(w + 1) * PER_WORKER] for w in range(WORKERS)]
    b_sh = [b[w * PER_WORKER:(w + 1) * PER_WORKER] for w in range(WORKERS)]
    total = mx.array(0.0)
    for w in range(WORKERS):
        for hop in range(WORKERS):
            j = (w + hop) % WORKERS  # board rows received after `hop` passes
            total = total + pair_logsig(model, a_sh[w], b_sh[j], hop == 0)
    return total / BATCH


def dense_loss(model, clips, tokens):
    a, b = model.embed(clips, tokens)
    return pair_logsig(model, a, b, True) / BATCH


def recall_at_1(model, clips, tokens):
    a, b = model.embed(clips, tokens)
    sims = b @ a.T
    hit = mx.argmax(sims, axis=1) == mx.arange(a.shape[0])
    return 100.0 * hit.astype(mx.float32).mean().item()


def ceiling_pct(tokens):
    keys = [tuple(r) for r in np.array(tokens).tolist()]
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return 100.0 * float(np.mean([1.0 / counts[key] for key in keys]))


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARMUP),
         optim.cosine_decay(2e-3, STEPS - WARMUP, 1e-5)], [WARMUP])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def logfmt(**kv):
    parts = []
    for k, v in kv.items():
        parts.append(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")
    print(" ".join(parts), flush=True)


mx.random.seed(11)
model = Pairer()
mx.eval(model.parameters())
opt = make_opt()

val_clips, val_tokens = make_pairs(256, np.random.default_rng(99))
probe_clips, probe_tokens = make_pairs(BATCH, np.random.default_rng(5))
CEIL = ceiling_pct(val_tokens)

ring0 = ring_loss(model, probe_clips, probe_tokens).item()
dense0 = dense_loss(model, probe_clips, probe_tokens).item()
logfmt(event="check", ring_loss=ring0, dense_loss=dense0, abs_gap=abs(ring0 - dense0))
logfmt(event="baseline", val_r1_pct=recall_at_1(model, val_clips, val_tokens),
       chance_pct=100.0 / 256, ceiling_pct=CEIL, t=math.exp(model.t_prime.item()), b=model.bias.item())


def train_steps(model, opt, first, last, data_rng, t_start):
    lg = nn.value_and_grad(model, ring_loss)
    run = []
    for step in range(first, last):
        clips, tokens = make_pairs(BATCH, data_rng)
        loss, grads = lg(model, clips, tokens)
        if step == 0:
            flat = tree_flatten(grads)
            zero = sum(1 for _, g in flat if float(mx.abs(g).max().item()) == 0.0)
            logfmt(event="grad_audit", leaves=len(flat), all_zero_leaves=zero)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step < WARMUP:
            continue  # quiet while the learning rate ramps up
        if (step + 1) % 50 == 0:
            logfmt(event="train", step=step + 1, lr=float(opt.learning_rate.item()),
                   loss=float(np.mean(run[-50:])), t=math.exp(model.t_prime.item()),
                   b=model.bias.item(), secs=round(time.time() - t_start, 1))
        if (step + 1) % 100 == 0:
            logfmt(event="eval", step=step + 1,
                   val_r1_pct=recall_at_1(model, val_clips, val_tokens), chance_pct=100.0 / 256, ceiling_pct=CEIL)


t0 = time.time()
data_rng = np.random.default_rng(1234)
train_steps(model, opt, 0, SAVE_AT, data_rng, t0)

# checkpoint, then continue from a freshly built model and optimizer
ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = ring_loss(model, probe_clips, probe_tokens).item()

model = Pairer()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters())
after = ring_loss(model, probe_clips, probe_tokens).item()
logfmt(event="resume", step=SAVE_AT, probe_loss_before=before, probe_loss_after=after,
       opt_step=int(opt.state["step"].item()))

train_steps(model, opt, SAVE_AT, STEPS, data_rng, t0)
logfmt(event="done", steps=STEPS, val_r1_pct=recall_at_1(model, val_clips, val_tokens),
       chance_pct=100.0 / 256, ceiling_pct=CEIL, t=math.exp(model.t_prime.item()), b=model.bias.item(),
       secs=round(time.time() - t0, 1))
