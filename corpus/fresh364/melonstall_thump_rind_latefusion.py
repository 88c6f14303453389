"""Market-stall melon ripeness: knock sound + rind photo, late fusion.

Each melon gets two views:
  * thump: a 16-bin log-magnitude spectrum of a knuckle knock (resonance peak
    drops and damping grows as the flesh ripens, plus hand/table noise)
  * rind: 8 colour/texture readings from a phone photo (field-spot yellowness,
    stripe contrast, waxiness, ...)
Classes: 0 unripe, 1 ripe, 2 overripe.

Training plan
  stage A (steps 0..299): only the two per-modality encoders + their own heads
            are trained, the fusion head is frozen.
  stage B (steps 300..899): everything unfrozen, fused loss + 0.3 * unimodal
            losses, modality dropout (one view blanked per sample with p=0.25).
  lr: linear warm-up from exactly 0, then cosine with one warm restart at 600.
  A checkpoint is written at step 600 and training resumes from it in a fresh
  model/optimizer (same numbers as continuing in-process).
"""
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(364)
mx.random.seed(364)

N_TRAIN, N_VAL = 3000, 900
N_BINS, N_RIND = 16, 8


def make_melons(n):
    ripeness = rng.uniform(0.0, 1.0, n)  # latent
    y = np.digitize(ripeness, [0.38, 0.72])
    # thump spectrum: resonance peak position & width depend on ripeness
    centre = 11.0 - 6.0 * ripeness + rng.normal(0, 1.3, n)
    width = 1.2 + 1.8 * ripeness + rng.normal(0, 0.35, n)
    bins = np.arange(N_BINS)[None, :]
    spec = np.exp(-0.5 * ((bins - centre[:, None]) / np.abs(width[:, None])) ** 2)
    spec = np.log(spec + 0.05) + rng.normal(0, 0.35, (n, N_BINS))
    # rind photo: mostly informative about unripe vs rest, weak on overripe
    spot = np.clip(ripeness * 1.6, 0, 1) + rng.normal(0, 0.25, n)
    stripe = 1.0 - 0.7 * np.clip(ripeness * 1.4, 0, 1) + rng.normal(0, 0.3, n)
    wax = 0.5 - 0.4 * ripeness + rng.normal(0, 0.3, n)
    bruise = 0.6 * (ripeness > 0.85) + rng.normal(0, 0.35, n)
    junk = rng.normal(0, 1.0, (n, 4))
    rind = np.column_stack([spot, stripe, wax, bruise, junk])
    return spec.astype(np.float32), rind.astype(np.float32), y.astype(np.int32)


tr_a, tr_v, tr_y = make_melons(N_TRAIN)
va_a, va_v, va_y = make_melons(N_VAL)
mu_a, sd_a = tr_a.mean(0), tr_a.std(0) + 1e-6
mu_v, sd_v = tr_v.mean(0), tr_v.std(0) + 1e-6
tr_a, va_a = (tr_a - mu_a) / sd_a, (va_a - mu_a) / sd_a
tr_v, va_v = (tr_v - mu_v) / sd_v, (va_v - mu_v) / sd_v
tr_a, tr_v, tr_y = mx.array(tr_a), mx.array(tr_v), mx.array(tr_y)
va_a, va_v, va_y = mx.array(va_a), mx.array(va_v), mx.array(va_y)


class Encoder(nn.Module):
    def __init__(self, d_in, d_emb):
        super().__init__()
        self.l1 = nn.Linear(d_in, 48)
        self.l2 = nn.Linear(48, d_emb)
        self.norm = nn.LayerNorm(d_emb)

    def __call__(self, x):
        return self.norm(self.l2(nn.gelu(self.l1(x))))


class LateFusion(nn.Module):
    def __init__(self, d_emb=24, n_cls=3):
        super().__init__()
        self.thump = Encoder(N_BINS, d_emb)
        self.rind = Encoder(N_RIND, d_emb)
        self.thump_head = nn.Linear(d_emb, n_cls)
        self.rind_head = nn.Linear(d_emb, n_cls)
        self.gate = nn.Linear(2 * d_emb, 2)
        self.fused_head = nn.Linear(d_emb, n_cls)

    def __call__(self, a, v, keep_a=None, keep_v=None):
        ea, ev = self.thump(a), self.rind(v)
        if keep_a is not None:
            ea = ea * keep_a[:, None]
            ev = ev * keep_v[:, None]
        w = mx.softmax(self.gate(mx.concatenate([ea, ev], axis=-1)), axis=-1)
        fused = w[:, :1] * ea + w[:, 1:] * ev
        return self.fused_head(fused), self.thump_head(ea), self.rind_head(ev)


def lr_at(step, base=3e-3, warm=80, restart=600, total=900):
    if step < warm:
        return base * step / warm  # exactly 0 at step 0
    if step < restart:
        t = (step - warm) / (restart - warm)
        return base * 0.5 * (1 + math.cos(math.pi * t))
    t = (step - restart) / (total - restart)
    return 0.5 * base * 0.5 * (1 + math.cos(math.pi * t))


def make_loss(model, stage):
    def loss_fn(m, a, v, y, keep_a, keep_v):
        fused, la, lv = m(a, v, keep_a, keep_v)
        l_a = nn.losses.cross_entropy(la, y, reduction="mean")
        l_v = nn.losses.cross_entropy(lv, y, reduction="mean")
        if stage == "A":
            return l_a + l_v
        l_f = nn.losses.cross_entropy(fused, y, reduction="mean")
        return l_f + 0.3 * (l_a + l_v)

    return nn.value_and_grad(model, loss_fn)


def accuracy(logits, y):
    return (mx.argmax(logits, axis=-1) == y).astype(mx.float32).mean().item()


def evaluate(model):
    fused, la, lv = model(va_a, va_v)
    return accuracy(fused, va_y), accuracy(la, va_y), accuracy(lv, va_y)


BATCH = 128
TOTAL = 900
STAGE_B = 300
CKPT_AT = 600
P_DROP = 0.25


def batch_at(step):
    r = np.random.default_rng(1000 + step)
    idx = mx.array(r.integers(0, N_TRAIN, BATCH))
    u = r.uniform(size=BATCH)
    which = r.integers(0, 2, BATCH)
    drop = u < P_DROP
    keep_a = np.where(drop & (which == 0), 0.0, 1.0).astype(np.float32)
    keep_v = np.where(drop & (which == 1), 0.0, 1.0).astype(np.float32)
    return idx, mx.array(keep_a), mx.array(keep_v)


def set_stage(model, stage):
    model.unfreeze()
    if stage == "A":
        model.gate.freeze()
        model.fused_head.freeze()


def run(model, opt, start, stop, log_every):
    stage = "A" if start < STAGE_B else "B"
    set_stage(model, stage)
    step_fn = make_loss(model, stage)
    for step in range(start, stop):
        if step == STAGE_B:
            stage = "B"
            set_stage(model, stage)
            step_fn = make_loss(model, stage)
            print(f"--- stage B from step {step}: fusion gate + fused head unfrozen, modality dropout p={P_DROP}")
        opt.learning_rate = lr_at(step)
        idx, keep_a, keep_v = batch_at(step)
        if stage == "A":
            keep_a = mx.ones((BATCH,))
            keep_v = mx.ones((BATCH,))
        loss, grads = step_fn(model, tr_a[idx], tr_v[idx], tr_y[idx], keep_a, keep_v)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step == stop - 1:
            fa, aa, va = evaluate(model)
            print(f"step {step:4d} stage {stage} lr {lr_at(step):.2e} loss {loss.item():.4f} "
                  f"val fused {fa:.3f} thump-only {aa:.3f} rind-only {va:.3f}")


majority = np.bincount(np.array(va_y)).max() / N_VAL
print(f"val class counts {np.bincount(np.array(va_y)).tolist()}  majority-class baseline {majority:.3f}")

model = LateFusion()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)
opt.init(model.parameters())  # state for every tensor, incl. the ones frozen in stage A
mx.eval(model.parameters(), opt.state)
run(model, opt, 0, CKPT_AT, log_every=60)

ckdir_ctx = tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(__file__)))
ckdir = ckdir_ctx.name
wpath = os.path.join(ckdir, "weights.safetensors")
opath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
probe_idx = mx.arange(256)
probe_before = model(tr_a[probe_idx], tr_v[probe_idx])[0]
print(f"checkpoint written at step {CKPT_AT} ({len(os.listdir(ckdir))} files)")

# fresh process-like resume
model2 = LateFusion()
model2.load_weights(wpath)
opt2 = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)
opt2.state = tree_unflatten(list(mx.load(opath).items()))
probe_after = model2(tr_a[probe_idx], tr_v[probe_idx])[0]
gap = mx.abs(probe_after - probe_before).max().item()
print(f"resumed: max |logit diff| on probe batch {gap:.2e}, optimizer step counter {opt2.state['step'].item()}")
ckdir_ctx.cleanup()

# the restart: lr jumps back up at step 600, loss may bump for a while
run(model2, opt2, CKPT_AT, TOTAL, log_every=100)

fa, aa, va = evaluate(model2)
# robustness: one modality missing at test time
zeros, ones = mx.zeros((N_VAL,)), mx.ones((N_VAL,))
miss_v = accuracy(model2(va_a, va_v, ones, zeros)[0], va_y)
miss_a = accuracy(model2(va_a, va_v, zeros, ones)[0], va_y)
print(f"final val accuracy fused {fa:.3f} | thump-only head {aa:.3f} | rind-only head {va:.3f} | majority {majority:.3f}")
print(f"fused head with rind blanked {miss_v:.3f}, with thump blanked {miss_a:.3f}")
