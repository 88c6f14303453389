"""Museum archive: match catalogue cards to photographed objects.

Two towers embed a photo descriptor (24 values) and a catalogue-card descriptor
(20 values) into a shared 16-d space; training uses a symmetric InfoNCE loss
(temperature 0.1) over in-batch negatives.  The towers are fitted once on the
old cataloguer's cards, packed to 8-bit and frozen.  A new cataloguer writes
cards with a different habit, so mlx_lm LoRALinear adapters are fitted on the
card tower.  Halfway through, the run is stopped: adapters and optimizer state
are written to disk, the process rebuilds the packed model from the saved base,
reloads both, and carries on (the lr schedule continues from the saved step).
Loss lines are printed only at evaluation points (every 100 steps).
"""

import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner.lora import LoRALinear

LATENT, PHOTO, CARD, EMB = 12, 24, 20, 16
TEMP = 0.1
BATCH = 64

mx.random.seed(3)
g = np.random.default_rng(3)

W_photo = g.normal(size=(LATENT, PHOTO)) / np.sqrt(LATENT)
W_card_old = g.normal(size=(LATENT, CARD)) / np.sqrt(LATENT)
# the new cataloguer reorders and re-weights fields: a rotation plus a skew
R = np.linalg.qr(g.normal(size=(CARD, CARD)))[0]
W_card_new = (W_card_old @ R) * np.linspace(0.6, 1.6, CARD)


def make_pairs(n, w_card, seed):
    r = np.random.default_rng(seed)
    z = r.normal(size=(n, LATENT))
    photo = np.tanh(z @ W_photo) + 0.15 * r.normal(size=(n, PHOTO))
    card = np.tanh(z @ w_card) + 0.15 * r.normal(size=(n, CARD))
    return mx.array(photo.astype(np.float32)), mx.array(card.astype(np.float32))


class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.inp = nn.Linear(d_in, 64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, EMB)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.hid(h))
        e = self.out(h)
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.photo = Tower(PHOTO)
        self.card = Tower(CARD)


def info_nce(model, p, c):
    logits = (model.photo(p) @ model.card(c).T) / TEMP
    target = mx.arange(p.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, target, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, target, reduction="mean"))


def recall_at_1(model, p, c, pool=256):
    hits = 0
    n = (p.shape[0] // pool) * pool
    for i in range(0, n, pool):
        s = model.photo(p[i:i + pool]) @ model.card(c[i:i + pool]).T
        hits += (mx.argmax(s, axis=1) == mx.arange(pool)).sum().item()
    return hits / n


def batch_iter(p, c, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = mx.array(r.permutation(p.shape[0]))
        for i in range(0, p.shape[0] - BATCH + 1, BATCH):
            j = perm[i:i + BATCH]
            yield p[j], c[j]


def build_packed(base_file):
    m = DualEncoder()
    nn.quantize(m, group_size=32, bits=8,
                class_predicate=lambda path, mod: isinstance(mod, nn.Linear) and mod.weight.shape[1] % 32 == 0)
    m.load_weights(base_file)
    m.freeze()
    for name in ("inp", "hid", "out"):
        setattr(m.card, name, LoRALinear.from_base(getattr(m.card, name), r=4, scale=4.0))
    return m


t0 = time.time()
work = tempfile.mkdtemp(prefix="archive_cards_")
old_p, old_c = make_pairs(6000, W_card_old, 10)
new_p, new_c = make_pairs(2048, W_card_new, 11)
te_old_p, te_old_c = make_pairs(1024, W_card_old, 12)
te_new_p, te_new_c = make_pairs(1024, W_card_new, 13)
print(f"chance recall@1 in a pool of 256: {1 / 256:.4f}; InfoNCE at chance: {np.log(BATCH):.3f}")

# ---------------- base fit (quiet) ----------------
model = DualEncoder()
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 900, end=2e-4), weight_decay=1e-3)
vg = nn.value_and_grad(model, info_nce)
it = batch_iter(old_p, old_c, 20)
for step in range(900):
    bp, bc = next(it)
    loss, gr = vg(model, bp, bc)
    opt.update(model, gr)
    mx.eval(model.parameters(), opt.state)
print(f"[base] 900 steps on old cards, last InfoNCE {loss.item():.3f}, "
      f"recall@1 old {recall_at_1(model, te_old_p, te_old_c):.3f}")

nn.quantize(model, group_size=32, bits=8,
            class_predicate=lambda path, mod: isinstance(mod, nn.Linear) and mod.weight.shape[1] % 32 == 0)
base_file = os.path.join(work, "base_packed.safetensors")
model.save_weights(base_file)

# ---------------- adapter run, part 1 ----------------
TOTAL, STOP_AT, WARM = 600, 300, 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, end=5e-5)], [WARM])

model = build_packed(base_file)
print(f"[adapt] packed base before adapters: recall@1 old {recall_at_1(model, te_old_p, te_old_c):.3f} "
      f"new {recall_at_1(model, te_new_p, te_new_c):.3f}")
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[adapt] trainable adapter values: {n_tr}")
opt = optim.Adam(learning_rate=sched)
it = batch_iter(new_p, new_c, 21)


def run(model, opt, it, first, last):
    vg = nn.value_and_grad(model, info_nce)
    acc = 0.0
    for step in range(first, last + 1):
        bp, bc = next(it)
        loss, gr = vg(model, bp, bc)
        opt.update(model, gr)
        mx.eval(model.trainable_parameters(), opt.state)
        acc += loss.item()
        if step % 100 == 0:
            print(f"step {step:4d} lr {opt.learning_rate.item():.2e} mean InfoNCE(100) {acc / 100:.4f} "
                  f"recall@1 new {recall_at_1(model, te_new_p, te_new_c):.3f}")
            acc = 0.0


run(model, opt, it, 1, STOP_AT)
adapter_file = os.path.join(work, "adapters.safetensors")
opt_file = os.path.join(work, "optimizer.safetensors")
mx.save_safetensors(adapter_file, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(opt_file, dict(tree_flatten(opt.state)))
ref = recall_at_1(model, te_new_p, te_new_c)
print(f"[checkpoint] wrote adapters + optimizer at step {STOP_AT} (recall@1 new {ref:.3f})")
del model, opt

# ---------------- adapter run, part 2: rebuild and resume ----------------
model = build_packed(base_file)
model.load_weights(adapter_file, strict=False)
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(opt_file).items()))
after = recall_at_1(model, te_new_p, te_new_c)
print(f"[resume] optimizer step {opt.state['step'].item()}, recall@1 new {after:.3f} "
      f"(matches checkpoint: {abs(after - ref) < 1e-9})")
run(model, opt, it, STOP_AT + 1, TOTAL)

print(f"[result] recall@1 new {recall_at_1(model, te_new_p, te_new_c):.3f} | "
      f"old {recall_at_1(model, te_old_p, te_old_c):.3f} | chance {1 / 256:.4f} | wall {time.time() - t0:.1f}s")
shutil.rmtree(work, ignore_errors=True)
