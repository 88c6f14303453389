"""E(n)-equivariant message passing on small synthetic conformers.

Each molecule has 5..9 atoms of 3 kinds placed in 3-D; its energy is a made-up sum of
Morse pair terms (well depth and bond length depend on the pair of kinds) plus noise.
An EGNN (edge MLP on squared distances, coordinate updates, node updates, sum readout)
learns the energy. The learning rate ramps up linearly from exactly 0, then follows a
cosine decay. Halfway through, the run writes a checkpoint, builds a fresh model and
optimizer, loads the checkpoint and carries on.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

MAX_ATOMS = 9
KINDS = 3
D0 = np.array([[0.9, 1.2, 0.7], [1.2, 1.6, 1.0], [0.7, 1.0, 0.5]])
R0 = np.array([[1.1, 1.3, 1.0], [1.3, 1.5, 1.2], [1.0, 1.2, 0.9]])
ALPHA = 1.8


def make_set(n, rng):
    kinds = np.zeros((n, MAX_ATOMS), np.int32)
    pos = np.zeros((n, MAX_ATOMS, 3), np.float32)
    mask = np.zeros((n, MAX_ATOMS), np.float32)
    energy = np.zeros((n,), np.float32)
    for m in range(n):
        k = rng.integers(5, MAX_ATOMS + 1)
        z = rng.integers(0, KINDS, size=k)
        # a loose random walk so that neighbours sit near bonding distance
        p = [np.zeros(3)]
        for _ in range(k - 1):
            step = rng.normal(size=3)
            step /= np.linalg.norm(step)
            for _ in range(50):
                anchor = p[rng.integers(0, len(p))]
                cand = anchor + step * rng.uniform(1.0, 1.7)
                if min(np.linalg.norm(cand - q) for q in p) > 0.95:
                    break
                step = rng.normal(size=3)
                step /= np.linalg.norm(step)
            p.append(cand)
        p = np.array(p)
        p -= p.mean(0)
        e = 0.0
        for i in range(k):
            for j in range(i + 1, k):
                r = np.linalg.norm(p[i] - p[j])
                d0, r0 = D0[z[i], z[j]], R0[z[i], z[j]]
                e += d0 * ((1 - np.exp(-ALPHA * (r - r0))) ** 2 - 1)
        kinds[m, :k] = z
        pos[m, :k] = p
        mask[m, :k] = 1.0
        energy[m] = e + rng.normal(scale=0.05)
    return kinds, pos, mask, energy


class EGNNLayer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.edge = nn.Sequential(nn.Linear(2 * dim + 1, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())
        self.coord = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 1))
        self.node = nn.Sequential(nn.Linear(2 * dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def __call__(self, h, x, mask):
        n = h.shape[1]
        diff = x[:, :, None, :] - x[:, None, :, :]
        d2 = (diff * diff).sum(-1, keepdims=True)
        hi = mx.broadcast_to(h[:, :, None, :], (h.shape[0], n, n, h.shape[-1]))
        hj = mx.broadcast_to(h[:, None, :, :], (h.shape[0], n, n, h.shape[-1]))
        m = self.edge(mx.concatenate([hi, hj, d2], axis=-1))
        pair = mask[:, :, None] * mask[:, None, :] * (1.0 - mx.eye(n))[None]
        m = m * pair[..., None]
        count = mx.maximum(pair.sum(-1, keepdims=True), 1.0)
        x = x + (diff * self.coord(m) * pair[..., None]).sum(2) / count
        h = h + self.node(mx.concatenate([h, m.sum(2)], axis=-1))
        return h * mask[..., None], x * mask[..., None]


class ConformerEGNN(nn.Module):
    def __init__(self, dim=24, layers=2):
        super().__init__()
        self.embed = nn.Embedding(KINDS, dim)
        self.layers = [EGNNLayer(dim) for _ in range(layers)]
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 1))

    def __call__(self, kinds, pos, mask):
        h = self.embed(kinds) * mask[..., None]
        x = pos
        for layer in self.layers:
            h, x = layer(h, x, mask)
        return (self.head(h).squeeze(-1) * mask).sum(-1)


def lr_at(step, total, warm, peak):
    if step < warm:
        return peak * step / warm
    t = (step - warm) / max(1, total - warm)
    return 0.5 * peak * (1 + math.cos(math.pi * t))


def random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q.astype(np.float32)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tr = make_set(1600, rng)
    va = make_set(400, rng)
    tr = [mx.array(a) for a in tr]
    va = [mx.array(a) for a in va]
    e_mean = float(tr[3].mean())
    e_std = float(mx.sqrt(((tr[3] - e_mean) ** 2).mean()))
    base_mae = float(mx.abs(va[3] - e_mean).mean())
    print(f"train 1600 / val 400 conformers, energy mean {e_mean:.3f} std {e_std:.3f}")
    print(f"baseline (predict train mean) val MAE {base_mae:.4f}")

    total, warm, peak, bs = 480, 60, 3e-3, 48
    half = total // 2

    def build():
        model = ConformerEGNN()
        opt = optim.Adam(learning_rate=0.0)
        return model, opt

    def loss_fn(model, k, p, m, e):
        pred = model(k, p, m)
        return nn.losses.huber_loss(pred, (e - e_mean) / e_std, delta=1.0, reduction="mean")

    def evaluate(model):
        pred = model(*va[:3]) * e_std + e_mean
        return float(mx.abs(pred - va[3]).mean())

    model, opt = build()
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    ckpt_dir = tempfile.mkdtemp()
    n = tr[0].shape[0]
    perm = np.arange(n)
    step = 0
    running = []
    while step < total:
        rng.shuffle(perm)
        for s in range(0, n - bs + 1, bs):
            if step == total:
                break
            idx = mx.array(perm[s:s + bs])
            opt.learning_rate = lr_at(step, total, warm, peak)
            loss, grads = vg(model, *(a[idx] for a in tr))
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            running.append(loss.item())
            step += 1
            if step % 60 == 0:
                lr_now = lr_at(step - 1, total, warm, peak)
                print(f"step {step:4d}  lr {lr_now:.2e}  huber {np.mean(running):.4f}  val MAE {evaluate(model):.4f}")
                running = []
            if step == half:
                wpath = os.path.join(ckpt_dir, "model.safetensors")
                opath = os.path.join(ckpt_dir, "opt.safetensors")
                model.save_weights(wpath)
                mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
                before = evaluate(model)
                model, opt = build()
                model.load_weights(wpath)
                opt.state = tree_unflatten(list(mx.load(opath).items()))
                mx.eval(model.parameters())
                vg = nn.value_and_grad(model, loss_fn)
                after = evaluate(model)
                print(f"checkpoint at step {step}: val MAE before save {before:.4f}, after reload {after:.4f}")

    final = evaluate(model)
    rot = random_rotation(np.random.default_rng(3))
    shift = mx.array(np.array([0.7, -1.1, 0.4], np.float32))
    k, p, m = va[:3]
    p2 = (p @ mx.array(rot).T + shift) * m[..., None]
    e1 = model(k, p, m)
    e2 = model(k, p2, m)
    drift = float(mx.abs(e1 - e2).max()) * e_std
    print(f"final val MAE {final:.4f}  (baseline {base_mae:.4f}, ratio {final / base_mae:.3f})")
    print(f"energy change under rotation + shift of the val set: max {drift:.2e}")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
