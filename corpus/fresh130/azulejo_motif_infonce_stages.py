# azulejo tile motifs: learn an embedding so that two photos of the same
# painted tile land together (InfoNCE), whatever way the tile was laid.
# tiles are synthetic 8x8 grids over a 4-colour glaze palette (made up here).
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rs = np.random.RandomState(11)
PALETTE = np.array([[0.95, 0.94, 0.88],   # tin-white
                    [0.10, 0.22, 0.60],   # cobalt
                    [0.85, 0.65, 0.15],   # antimony yellow
                    [0.30, 0.55, 0.35]],  # copper green
                   dtype=np.float32)


def make_motifs(n):
    quad = rs.randint(0, 4, size=(n, 4, 4))
    top = np.concatenate([quad, quad[:, :, ::-1]], axis=2)       # mirror left-right
    full = np.concatenate([top, top[:, ::-1, :]], axis=1)        # mirror top-bottom
    # hand-painted asymmetry: repaint a few cells
    for i in range(n):
        cells = rs.randint(0, 8, size=(6, 2))
        full[i, cells[:, 0], cells[:, 1]] = rs.randint(0, 4, size=6)
    return full


def photograph(motifs, hard):
    n = len(motifs)
    g = motifs.copy()
    flip = rs.rand(n) < 0.5
    g[flip] = g[flip][:, :, ::-1]
    if hard:
        turns = rs.randint(0, 4, n)
        for k in range(1, 4):
            sel = turns == k
            g[sel] = np.rot90(g[sel], k, axes=(1, 2))
        pal = PALETTE[None] + rs.normal(0, 0.08, (n, 4, 3)).astype(np.float32)
        img = pal[np.arange(n)[:, None, None], g] * rs.uniform(0.7, 1.2, (n, 1, 1, 1))
        drop = rs.rand(n, 8, 8) < 0.08                            # chipped glaze
        img[drop] = 0.5
        img = img + rs.normal(0, 0.08, img.shape)
    else:
        img = PALETTE[g] + rs.normal(0, 0.03, (n, 8, 8, 3))
    return img.reshape(n, -1).astype(np.float32) - 0.5


class TileEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(192, 128), nn.GELU(),
                                  nn.Linear(128, 96), nn.GELU())
        self.head = nn.Sequential(nn.Linear(96, 64), nn.ReLU(), nn.Linear(64, 32))

    def embed(self, x):
        return self.body(x)

    def __call__(self, x):
        z = self.head(self.body(x))
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


def info_nce(model, a, b, tau):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / tau
    labels = mx.arange(za.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


mx.random.seed(5)
enc = TileEncoder()
sgd = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
lg = nn.value_and_grad(enc, info_nce)
state = [enc.state, sgd.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b, tau):
    loss, grads = lg(enc, a, b, tau)
    sgd.update(enc, grads)
    return loss


bank = make_motifs(4000)
held = make_motifs(300)


def retrieval(hard):
    va, vb = photograph(held, hard), photograph(held, hard)
    ea = enc.embed(mx.array(va)); eb = enc.embed(mx.array(vb))
    ea = ea / mx.linalg.norm(ea, axis=-1, keepdims=True)
    eb = eb / mx.linalg.norm(eb, axis=-1, keepdims=True)
    hit = mx.argmax(ea @ eb.T, axis=1) == mx.arange(len(held))
    return 100.0 * float(mx.mean(hit))


# one-off check that every trainable tensor gets gradient
xa = mx.array(photograph(bank[:64], False)); xb = mx.array(photograph(bank[:64], False))
_, g0 = lg(enc, xa, xb, mx.array(0.5))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, dead={dead}")

STAGES = [("flat-laid", False, 0.3, 150), ("wall-mounted", True, 0.3, 300)]
BATCH = 64
chance = 100.0 / len(held)
t0 = time.time()
for name, hard, tau, n_steps in STAGES:
    tau_a = mx.array(tau)
    run = 0.0
    print(f"stage {name}: tau={tau} augment={'hard' if hard else 'mild'} "
          f"top1 before {retrieval(hard):.1f}% (chance {chance:.2f}%)")
    for it in range(1, n_steps + 1):
        pick = rs.randint(0, len(bank), BATCH)
        a = mx.array(photograph(bank[pick], hard))
        b = mx.array(photograph(bank[pick], hard))
        loss = step(a, b, tau_a)
        mx.eval(loss, state)
        run = 0.9 * run + 0.1 * loss.item() if it > 1 else loss.item()
        if it % 50 == 0 or it == n_steps:
            done = int(20 * it / n_steps)
            bar = "#" * done + "." * (20 - done)
            el = time.time() - t0
            sys.stdout.write(f"{name[:4]} |{bar}| {it}/{n_steps} [{el:5.1f}s, nce={run:.3f}, "
                             f"ln(B)={np.log(BATCH):.3f}]\n")
    print(f"stage {name} done: top1 {retrieval(hard):.1f}% (chance {chance:.2f}%)")

print(f"final held-out tile retrieval, hard photos: {retrieval(True):.1f}%  "
      f"mild photos: {retrieval(False):.1f}%")
