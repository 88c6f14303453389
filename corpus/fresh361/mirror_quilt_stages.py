"""ARC-style mirror completion: 8x8 grids that are left-right symmetric have some
cells punched out; the model paints the missing cells back.

Three stages with more holes each time (15%, 30%, 45%). When a cell and its mirror
partner are both punched out, nothing in the grid tells the colour, so the best
possible loss on the holes is p_hole * ln(4); the printed floor goes UP from
stage to stage and so does the training loss. Between stages the run is saved to
disk, the objects are thrown away, and a fresh model/optimizer resume from files.
Stages 2 and 3 only report at their end.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SIZE = 8
COL = 4          # colours 0..3
HOLE = COL       # token for a punched-out cell
STAGES = [0.15, 0.30, 0.45]
STEPS_PER_STAGE = 400
BATCH = 96

rng = np.random.default_rng(2026)
mx.random.seed(2026)


def symmetric_grids(n):
    left = rng.integers(0, COL, size=(n, SIZE, SIZE // 2))
    return np.concatenate([left, left[:, :, ::-1]], axis=2).reshape(n, SIZE * SIZE)


def punch(grids, p, r):
    holes = r.random(grids.shape) < p
    x = grids.copy()
    x[holes] = HOLE
    return x, holes


train_grids = symmetric_grids(20000)
valid_grids = symmetric_grids(1500)


class Painter(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.tok = nn.Embedding(COL + 1, 6)
        self.inp = nn.Linear(SIZE * SIZE * 6, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, SIZE * SIZE * COL)

    def __call__(self, x):
        h = nn.gelu(self.inp(self.tok(x).reshape(x.shape[0], -1)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).reshape(x.shape[0], SIZE * SIZE, COL)


def hole_loss(model, x, y, holes):
    ce = nn.losses.cross_entropy(model(x), y)
    return (ce * holes).sum() / mx.maximum(holes.sum(), 1)


def make_optimizer(total):
    lr = optim.cosine_decay(3e-4, total, 3e-5)
    return optim.Lion(learning_rate=lr, weight_decay=0.1)


def validate(model, p):
    r = np.random.default_rng(7)
    x, holes = punch(valid_grids, p, r)
    x, y, holes = mx.array(x), mx.array(valid_grids), mx.array(holes.astype(np.float32))
    logits = model(x)
    loss = hole_loss(model, x, y, holes)
    right = ((mx.argmax(logits, -1) == y).astype(mx.float32) * holes).sum() / holes.sum()
    mx.eval(loss, right)
    return loss.item(), 100 * right.item()


def save_run(folder, model, opt, meta):
    model.save_weights(os.path.join(folder, "painter.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)


def load_run(folder, total):
    model = Painter()
    model.load_weights(os.path.join(folder, "painter.safetensors"))
    opt = make_optimizer(total)
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt.safetensors")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    return model, opt, meta


total = STEPS_PER_STAGE * len(STAGES)
model = Painter()
opt = make_optimizer(total)
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, hole_loss)
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[quilt] {len(train_grids)} train / {len(valid_grids)} valid symmetric {SIZE}x{SIZE} grids, "
      f"{COL} colours, painter params {n_params}, optimizer Lion")
for p in STAGES:
    print(f"[quilt] hole rate {p:.2f}: loss floor {p * np.log(COL):.3f} nats/hole, "
          f"best hole accuracy {100 * (1 - p * (COL - 1) / COL):.1f}%, guessing {100 / COL:.0f}%")

ckpt_dir = tempfile.mkdtemp("_quilt")
t0 = time.time()
step = 0
for stage, p in enumerate(STAGES, start=1):
    if stage > 1:
        model, opt, meta = load_run(ckpt_dir, total)
        loss_and_grad = nn.value_and_grad(model, hole_loss)
        v_loss, _ = validate(model, meta["p"])
        print(f"[quilt] resumed from {ckpt_dir} at step {meta['step']}: "
              f"valid loss {v_loss:.4f} (saved {meta['valid_loss']:.4f}), optimizer step {opt.step.item()}")
        v_new, acc_new = validate(model, p)
        print(f"[quilt] stage {stage} begins, hole rate {p:.2f}: valid loss {v_new:.4f}, hole acc {acc_new:.1f}%"
              + ("  (silent until stage end)" if stage > 1 else ""))
    r = np.random.default_rng(100 + stage)
    window, recent = [], []
    for k in range(STEPS_PER_STAGE):
        step += 1
        idx = r.integers(0, len(train_grids), size=BATCH)
        g = train_grids[idx]
        x, holes = punch(g, p, r)
        loss, grads = loss_and_grad(model, mx.array(x), mx.array(g), mx.array(holes.astype(np.float32)))
        if step == 1:
            zero = [n for n, v in tree_flatten(grads) if not mx.any(v != 0).item()]
            v0, a0 = validate(model, p)
            print(f"[quilt] step 1: {len(tree_flatten(grads))} gradient leaves, zero: {zero or 'none'}; "
                  f"untrained valid loss {v0:.4f}, hole acc {a0:.1f}%")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        recent.append(window[-1])
        if stage == 1 and step % 100 == 0:
            v_loss, acc = validate(model, p)
            print(f"[quilt] stage 1 step {step:4d} train {np.mean(window):.4f} valid {v_loss:.4f} "
                  f"hole acc {acc:5.1f}% lr {opt.learning_rate.item():.2e} ({time.time() - t0:.1f}s)")
            window = []
    v_loss, acc = validate(model, p)
    print(f"[quilt] stage {stage} end step {step}: train(last 100) {np.mean(recent[-100:]):.4f} "
          f"valid {v_loss:.4f} (floor {p * np.log(COL):.3f}) hole acc {acc:.1f}% ({time.time() - t0:.1f}s)")
    save_run(ckpt_dir, model, opt, {"step": step, "p": p, "valid_loss": v_loss})
    del model, opt, loss_and_grad

final, _, _ = load_run(ckpt_dir, total)
print("[quilt] final model at every hole rate:")
for p in STAGES:
    v_loss, acc = validate(final, p)
    print(f"[quilt]   p={p:.2f} valid {v_loss:.4f} (floor {p * np.log(COL):.3f}) hole acc {acc:.1f}%")
shutil.rmtree(ckpt_dir)
print(f"[quilt] done in {time.time() - t0:.1f}s")
