"""Quilt-motif recall: 14 block motifs (6x6 two-colour charts, +/-1) must be
restored from worn photos in which a random share of the cells is unreadable
(set to 0) and the rest is noisy.  The memory is a continuous Hopfield net:
symmetric coupling W (zero diagonal) and bias b define the energy

    E(u) = 0.5*|u|^2 - 0.5*g(u)^T W g(u) - b^T g(u),   g = tanh

and recall is 12 steps of gradient descent on E (dE/du from mx.grad inside
the loss), started from the worn photo.  W and b are trained by
back-propagating through the unrolled descent.

The run saves a checkpoint (weights + optimizer state) halfway, throws the
objects away, rebuilds them, loads the checkpoint and continues; the learning
rate follows a cosine schedule with a warm restart at that point.  Energies
are negative by construction and become more negative as the attractors
deepen.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
SIDE = 6
D = SIDE * SIDE
N_MOTIFS = 14
BATCH = 96
DESCENT_STEPS = 12
ETA = 0.35
CYCLE = 250
PEAK_LR = 2e-2

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

motifs = np.where(rng.random((N_MOTIFS, D)) < 0.5, -1.0, 1.0).astype(np.float32)


def worn_photos(n, erase_lo=0.2, erase_hi=0.6):
    idx = rng.integers(0, N_MOTIFS, n)
    clean = motifs[idx]
    erase = rng.random((n, 1)) * (erase_hi - erase_lo) + erase_lo
    keep = rng.random((n, D)) >= erase
    noisy = clean + rng.normal(scale=0.5, size=clean.shape)
    photo = np.where(keep, noisy, 0.0).astype(np.float32)
    return photo, clean, idx


class QuiltMemory(nn.Module):
    def __init__(self):
        super().__init__()
        self.coupling = 0.01 * mx.random.normal((D, D))
        self.bias = mx.zeros((D,))

    def sym(self):
        w = 0.5 * (self.coupling + self.coupling.T)
        return w * (1.0 - mx.eye(D))

    def energy(self, u):
        g = mx.tanh(u)
        w = self.sym()
        quad = mx.sum((g @ w) * g, axis=-1)
        return 0.5 * mx.sum(u * u, axis=-1) - 0.5 * quad - g @ self.bias

    def recall(self, u0):
        grad_e = mx.grad(lambda u: mx.sum(self.energy(u)))
        u = u0
        for _ in range(DESCENT_STEPS):
            u = u - ETA * grad_e(u)
        return u


def loss_fn(model, photo, clean):
    u = model.recall(photo)
    return mx.mean(mx.square(mx.tanh(u) - clean))


def evaluate(model, photo, clean, idx):
    u = model.recall(mx.array(photo))
    out = np.sign(np.array(mx.tanh(u)))
    cell_err = float((out != clean).mean())
    exact = float((out == clean).all(axis=1).mean())
    raw_err = float((np.sign(photo) != clean).mean())
    e_start = model.energy(mx.array(photo)).mean().item()
    e_end = model.energy(u).mean().item()
    e_store = model.energy(mx.array(motifs * 2.0)).mean().item()
    return cell_err, exact, raw_err, e_start, e_end, e_store


def make_schedule():
    return optim.join_schedules(
        [optim.cosine_decay(PEAK_LR, CYCLE, 1e-3), optim.cosine_decay(PEAK_LR, CYCLE, 1e-3)],
        [CYCLE],
    )


def build():
    model = QuiltMemory()
    opt = optim.Adam(learning_rate=make_schedule())
    mx.eval(model.parameters())
    return model, opt


def train_steps(model, opt, first, last, val):
    step_fn = nn.value_and_grad(model, loss_fn)
    losses = []
    for step in range(first, last + 1):
        photo, clean, _ = worn_photos(BATCH)
        loss, grads = step_fn(model, mx.array(photo), mx.array(clean))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if step % 50 == 0:
            ce, ex, raw, es, ee, est = evaluate(model, *val)
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.4f}  train_mse {np.mean(losses):.4f}  val_cell_err {ce:.4f} "
                  f"(photo {raw:.4f})  exact {ex:.3f}  E_photo {es:8.2f}  E_recall {ee:8.2f}  E_motif {est:8.2f}")
            losses = []


val = worn_photos(600)
print(f"{N_MOTIFS} motifs of {D} cells, recall = {DESCENT_STEPS} energy-descent steps (eta {ETA})")
t0 = time.time()
model, opt = build()
train_steps(model, opt, 1, CYCLE, val)

with tempfile.TemporaryDirectory(None, "quilt_ckpt_") as ckpt_dir:
    w_path = os.path.join(ckpt_dir, "memory.safetensors")
    o_path = os.path.join(ckpt_dir, "adam.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    before = evaluate(model, *val)
    print(f"checkpoint written to {ckpt_dir} after step {CYCLE}")
    del model, opt

    model, opt = build()
    model.load_weights(w_path)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, *val)
    print(f"resumed at optimizer step {opt.step.item()}  val_cell_err {after[0]:.4f} (before save {before[0]:.4f})")
    train_steps(model, opt, CYCLE + 1, 2 * CYCLE, val)

ce, ex, raw, es, ee, est = evaluate(model, *val)
print(f"final  cell error {ce:.4f} vs worn photo {raw:.4f}  exact motifs {ex:.3f}  "
      f"E_recall {ee:.2f}  E_motif {est:.2f}")
print(f"done in {time.time() - t0:.1f}s")
