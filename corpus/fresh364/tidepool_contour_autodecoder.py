"""Auto-decoder for 2-D signed-distance outlines of tide-pool basins.

Each basin outline is a rounded box or an ellipse-like blob with its own
size, aspect and offset.  A shared decoder f(xy, code) -> sdf is trained
jointly with one learnable code per basin (no encoder).  Afterwards the
decoder is frozen and codes are fitted for basins it has never seen.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
CODE = 8
N_TRAIN, N_NEW = 12, 3
PTS = 256
CLAMP = 0.1


def make_shape():
    kind = rng.integers(0, 2)
    cx, cy = rng.uniform(-0.25, 0.25, 2)
    a, b = rng.uniform(0.25, 0.6, 2)
    r = rng.uniform(0.03, 0.15)

    def sdf(p):
        q = p - np.array([cx, cy], dtype=np.float32)
        if kind == 0:
            d = np.abs(q) - np.array([a, b], dtype=np.float32) + r
            return (np.linalg.norm(np.maximum(d, 0), axis=-1)
                    + np.minimum(np.max(d, axis=-1), 0) - r)
        k = np.sqrt((q[:, 0] / a) ** 2 + (q[:, 1] / b) ** 2)
        return (k - 1.0) * min(a, b)
    return sdf


def sample(sdf, n):
    near = rng.uniform(-1, 1, (n // 2, 2)).astype(np.float32)
    near = near[np.argsort(np.abs(sdf(near)))][: n // 4]
    jit = near + 0.03 * rng.standard_normal(near.shape).astype(np.float32)
    far = rng.uniform(-1, 1, (n - 2 * len(near), 2)).astype(np.float32)
    p = np.concatenate([near, jit, far]).astype(np.float32)
    return p, sdf(p).astype(np.float32)


def build(n):
    shapes = [make_shape() for _ in range(n)]
    P, D, S = [], [], []
    for i, f in enumerate(shapes):
        p, d = sample(f, PTS)
        P.append(p); D.append(d); S.append(np.full(len(p), i))
    return mx.array(np.concatenate(P)), mx.array(np.concatenate(D)), mx.array(np.concatenate(S))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2 + CODE, 64), nn.Linear(64, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, 1)

    def __call__(self, p, z):
        h = mx.concatenate([p, z], axis=-1)
        for lin in self.layers:
            h = nn.softplus(lin(h) * 4.0) / 4.0
        return self.head(h).squeeze(-1)


class Bank(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.codes = nn.Embedding(n, CODE)
        self.codes.weight = 0.01 * mx.random.normal((n, CODE))


def clamped_l1(pred, d):
    # targets are truncated at +-CLAMP; the prediction is left free so far-field points keep a gradient
    return mx.mean(mx.abs(pred - mx.clip(d, -CLAMP, CLAMP)))


def report(tag, dec, bank, P, D, S):
    pred = dec(P, bank.codes(S))
    l1 = float(clamped_l1(pred, D))
    sign = float(mx.mean((pred > 0) == (D > 0)))
    zero = dec(P, mx.zeros((P.shape[0], CODE)))
    l1z = float(clamped_l1(zero, D))
    print(f"{tag}: clamped L1 {l1:.4f} (zero-code baseline {l1z:.4f}), inside/outside agreement {sign:.3f}")


mx.random.seed(5)
P, D, S = build(N_TRAIN)
Pn, Dn, Sn = build(N_NEW)
dec, bank = Decoder(), Bank(N_TRAIN)


class Joint(nn.Module):
    def __init__(self, dec, bank):
        super().__init__()
        self.dec, self.bank = dec, bank


joint = Joint(dec, bank)


def joint_loss(m, P, D, S):
    z = m.bank.codes(S)
    return clamped_l1(m.dec(P, z), D) + 1e-3 * mx.mean(mx.sum(mx.square(m.bank.codes.weight), axis=-1))


opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 300, 2e-4))
step = nn.value_and_grad(joint, joint_loss)
print(f"stage 1: decoder + {N_TRAIN} codes on {P.shape[0]} points")
for it in range(300):
    loss, g = step(joint, P, D, S)
    opt.update(joint, g)
    mx.eval(joint.parameters(), opt.state)
    if it % 100 == 0 or it == 299:
        print(f"  it {it:3d}  loss {float(loss):.4f}")
report("train basins", dec, bank, P, D, S)

print(f"stage 2: decoder frozen, fitting codes for {N_NEW} unseen basins")
dec.freeze()
new_bank = Bank(N_NEW)
report("unseen basins before fitting", dec, new_bank, Pn, Dn, Sn)


def code_loss(b, P, D, S):
    return clamped_l1(dec(P, b.codes(S)), D) + 1e-3 * mx.mean(mx.sum(mx.square(b.codes.weight), axis=-1))


opt2 = optim.Adam(learning_rate=1e-2)
step2 = nn.value_and_grad(new_bank, code_loss)
w_before = np.array(dec.head.weight)
for it in range(200):
    loss, g = step2(new_bank, Pn, Dn, Sn)
    opt2.update(new_bank, g)
    mx.eval(new_bank.parameters(), opt2.state)
    if it % 50 == 0 or it == 199:
        print(f"  it {it:3d}  loss {float(loss):.4f}")
print(f"decoder head unchanged in stage 2: {bool(np.allclose(w_before, np.array(dec.head.weight)))}")
report("unseen basins after fitting", dec, new_bank, Pn, Dn, Sn)
