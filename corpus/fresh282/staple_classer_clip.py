# Wool shed: match each fleece's staple micron profile (along-staple scan) to the
# classer's bench notes for the same fleece.  Two-tower, symmetric InfoNCE with a
# learnable logit scale, linear warmup from lr = 0, one warm restart, and a
# checkpoint / resume half way through (fresh process state is simulated by
# rebuilding the model and optimizer from the saved files).
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_TRAIN, N_TEST, LATENT = 2400, 400, 6
SCAN, NOTES, EMB, BATCH = 30, 9, 32, 128

def make_fleeces(n):
    z = rng.normal(size=(n, LATENT)).astype(np.float32)
    pos = np.linspace(0, 1, SCAN, dtype=np.float32)
    # micron profile along the staple: mean diameter, tip/base slope, a weather "break"
    scan = (18 + 2.0 * z[:, :1] + 1.5 * z[:, 1:2] * (pos - 0.5)
            - 1.2 * np.abs(z[:, 2:3]) * np.exp(-((pos - 0.5 - 0.2 * np.tanh(z[:, 3:4])) ** 2) / 0.01)
            + 0.6 * np.sin(6 * pos + z[:, 4:5]))
    scan = scan + rng.normal(scale=0.35, size=scan.shape)
    W = np.random.default_rng(11).normal(size=(LATENT, NOTES)).astype(np.float32)
    notes = np.tanh(z @ W / 2) + rng.normal(scale=0.15, size=(n, NOTES))
    return scan.astype(np.float32), notes.astype(np.float32)

scan_tr, notes_tr = make_fleeces(N_TRAIN)
scan_te, notes_te = make_fleeces(N_TEST)
mu, sd = scan_tr.mean(0), scan_tr.std(0) + 1e-6
scan_tr, scan_te = (scan_tr - mu) / sd, (scan_te - mu) / sd

class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, EMB))
    def __call__(self, x):
        h = self.net(x)
        return h / mx.sqrt((h * h).sum(-1, keepdims=True) + 1e-8)

class ShedMatcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.scan_tower = Tower(SCAN)
        self.note_tower = Tower(NOTES)
        self.logit_scale = mx.array(math.log(1 / 0.5))   # starts at temperature 0.5
    def __call__(self, s, n):
        a, b = self.scan_tower(s), self.note_tower(n)
        return mx.exp(mx.minimum(self.logit_scale, math.log(100.0))) * (a @ b.T)

def loss_fn(model, s, n):
    logits = model(s, n)
    y = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, y, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, y, reduction="mean"))

def retrieval(model, s, n):
    logits = model(mx.array(s), mx.array(n))
    y = mx.arange(logits.shape[0])
    r1 = (mx.argmax(logits, axis=1) == y).mean().item()
    rank = (logits > mx.take_along_axis(logits, y[:, None], axis=1)).sum(1)
    return r1, (rank < 5).mean().item()

STEPS_PER_CYCLE, CYCLES, WARMUP, PEAK = 300, 2, 60, 2e-3
TOTAL = STEPS_PER_CYCLE * CYCLES
def lr_at(step):                     # step counts from 0
    if step < WARMUP:
        return PEAK * step / WARMUP  # exactly 0 on the very first update
    c = (step % STEPS_PER_CYCLE) / STEPS_PER_CYCLE
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * c))

def build():
    m = ShedMatcher()
    o = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    return m, o

mx.random.seed(3)
model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
print(f"fleeces train={N_TRAIN} test={N_TEST} batch={BATCH}  chance R@1={1/N_TEST:.4f} R@5={5/N_TEST:.4f}"
      f"  log(batch)={math.log(BATCH):.3f}")
r1, r5 = retrieval(model, scan_te, notes_te)
print(f"untrained  test R@1={r1:.3f} R@5={r5:.3f}")

ckpt_dir = tempfile.mkdtemp(None, "shed_")
t0 = time.time()
def batches():
    while True:
        perm = rng.permutation(N_TRAIN)
        for i in range(0, N_TRAIN - BATCH + 1, BATCH):
            yield perm[i:i + BATCH]

run_loss = []
for step, idx in zip(range(TOTAL), batches()):
    if step == STEPS_PER_CYCLE:
        # checkpoint at the end of cycle one, then resume into freshly built objects
        model.save_weights(os.path.join(ckpt_dir, "matcher.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        saved_r1, _ = retrieval(model, scan_te, notes_te)
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "matcher.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        again_r1, _ = retrieval(model, scan_te, notes_te)
        print(f"checkpoint saved and reloaded at step {step}: R@1 before={saved_r1:.3f} after={again_r1:.3f}")
        print("warm restart: learning rate jumps back to peak")
    opt.learning_rate = lr_at(step)
    loss, grads = step_fn(model, mx.array(scan_tr[idx]), mx.array(notes_tr[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss.append(loss.item())
    if (step + 1) % 50 == 0:
        temp = 1.0 / math.exp(model.logit_scale.item())
        print(f"step {step + 1:4d} lr={lr_at(step):.2e} loss={np.mean(run_loss):.4f} temperature={temp:.3f}")
        run_loss = []

r1, r5 = retrieval(model, scan_te, notes_te)
print(f"final      test R@1={r1:.3f} R@5={r5:.3f}  (chance R@1={1/N_TEST:.4f})  {time.time() - t0:.1f}s")
