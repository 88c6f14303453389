# Mineral lab: a CLIP-style dual encoder that pairs X-ray powder diffraction
# traces (64 two-theta bins) with short assay "captions" (element / hardness /
# lustre tokens).  Stage 1 trains the trace tower with the caption tower held
# frozen, stage 2 trains both.  The run is checkpointed at step 300 and resumed
# from disk into a fresh model + optimizer, as a lab machine would after a restart.
import math, os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

BINS, N_MIN, VOCAB, TOK = 64, 40, 40, 6
ELEMENTS = list(range(4, 28))          # token ids 4..27 are elements
HARD = list(range(28, 34))             # hardness classes
LUSTRE = list(range(34, 40))           # lustre classes
PAD = 0

# each mineral: 3-6 peak positions and relative heights, plus an assay caption
peaks = [np.sort(rng.choice(np.arange(4, BINS - 4), rng.integers(3, 7), replace=False)) for _ in range(N_MIN)]
heights = [rng.uniform(0.3, 1.0, len(p)) for p in peaks]
captions = []
for m in range(N_MIN):
    els = sorted(rng.choice(ELEMENTS, rng.integers(2, 4), replace=False).tolist())
    cap = els + [int(rng.choice(HARD)), int(rng.choice(LUSTRE))]
    captions.append(cap + [PAD] * (TOK - len(cap)))
# polymorphs: a few minerals share the same assay caption (same chemistry,
# different structure) - a pattern->caption match is ambiguous for them
for a, b in [(1, 2), (5, 6), (9, 10), (13, 14), (20, 21), (30, 31)]:
    captions[b] = list(captions[a])
captions = np.array(captions, dtype=np.int32)
distinct, cap_id = np.unique(captions, axis=0, return_inverse=True)
cap_id = cap_id.reshape(-1)

def trace(m, n):
    x = np.arange(BINS)[None, :]
    shift = rng.normal(0, 0.6, (n, 1))              # lattice strain
    scale = rng.uniform(0.6, 1.4, (n, 1))
    y = np.zeros((n, BINS))
    for p, h in zip(peaks[m], heights[m]):
        y += h * np.exp(-0.5 * ((x - p - shift) / 1.1) ** 2)
    y = scale * y + 0.05 + rng.normal(0, 0.06, (n, BINS))
    return y.astype(np.float32)

def make(n):
    ms = rng.integers(0, N_MIN, n)
    X = np.concatenate([trace(m, 1) for m in ms])
    return X, ms

Xtr, Mtr = make(6000)
Xte, Mte = make(600)
mu, sd = Xtr.mean(), Xtr.std()
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd


class TraceTower(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 24, 5, stride=2, padding=2)
        self.fc = nn.Linear(32 * 24, 96)
        self.out = nn.Linear(96, d)

    def __call__(self, x):
        h = nn.gelu(self.c1(x[..., None]))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.fc(h.reshape(h.shape[0], -1)))
        return self.out(h)


class CaptionTower(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 48)
        self.pos = nn.Embedding(TOK, 48)
        self.mlp = nn.Sequential(nn.Linear(48, 96), nn.GELU(), nn.Linear(96, d))

    def __call__(self, t):
        h = self.tok(t) + self.pos(mx.arange(TOK))
        mask = (t != PAD).astype(h.dtype)[..., None]
        h = (h * mask).sum(1) / mask.sum(1)
        return self.mlp(h)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.trace = TraceTower()
        self.caption = CaptionTower()
        self.logit_scale = mx.array(math.log(1 / 0.07))

    def __call__(self, x, t):
        a = self.trace(x)
        b = self.caption(t)
        a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
        b = b / mx.linalg.norm(b, axis=-1, keepdims=True)
        s = mx.exp(mx.minimum(self.logit_scale, math.log(100.0)))
        return s * (a @ b.T)


def clip_loss(model, x, t):
    logits = model(x, t)
    y = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, y, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, y, reduction="mean"))


def recall_at_1(model):
    logits = model(mx.array(Xte), mx.array(distinct))      # traces vs every distinct caption
    pred = np.array(mx.argmax(logits, axis=1))
    return float((pred == cap_id[Mte]).mean())


STEPS, STAGE2, CKPT, BS, PEAK, WARM = 500, 180, 300, 64, 2e-3, 50
def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM                         # exactly 0 at step 0
    p = (step - WARM) / (STEPS - WARM)
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * p))

def build(stage):
    m = DualEncoder()
    if stage == 1:
        m.caption.freeze()
    return m

model = build(1)
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
lg = nn.value_and_grad(model, clip_loss)
mx.eval(model.parameters())
chance = 1.0 / len(distinct)
print(f"minerals={N_MIN} distinct captions={len(distinct)} train={len(Xtr)} test={len(Xte)}")
print(f"chance recall@1={chance:.3f}   start recall@1={recall_at_1(model):.3f}")

t0 = time.time()
ckdir = tempfile.mkdtemp(prefix="xrd_ckpt_")
ema = None
step = 0
while step < STEPS:
    if step == STAGE2:
        model.caption.unfreeze()
        opt = optim.AdamW(learning_rate=lr_at(step), weight_decay=0.01)
        lg = nn.value_and_grad(model, clip_loss)
        print(f"-- stage 2 at step {step}: caption tower unfrozen, "
              f"trainable={sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")
    if step == CKPT:
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        r_before = recall_at_1(model)
        # --- simulated restart: fresh objects, state read back from disk ---
        model = build(2)
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt = optim.AdamW(learning_rate=lr_at(step), weight_decay=0.01)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        lg = nn.value_and_grad(model, clip_loss)
        print(f"-- checkpoint at step {step}: recall@1 before save={r_before:.3f} "
              f"after reload={recall_at_1(model):.3f}")
    idx = rng.choice(len(Xtr), BS, replace=False)
    opt.learning_rate = lr_at(step)
    loss, g = lg(model, mx.array(Xtr[idx]), mx.array(captions[Mtr[idx]]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    lv = loss.item()
    ema = lv if ema is None else 0.9 * ema + 0.1 * lv
    if step % 40 == 0 or step == STEPS - 1:
        print(f"step {step:4d} lr {lr_at(step):.2e} loss {lv:.4f} ema {ema:.4f} "
              f"scale {math.exp(min(model.logit_scale.item(), math.log(100))):.2f}")
    step += 1

r = recall_at_1(model)
print(f"final recall@1={r:.3f} (chance {chance:.3f}); repeated minerals and polymorph captions "
      f"inside a batch keep the loss above 0: ema={ema:.4f}")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(ckdir, ignore_errors=True)
