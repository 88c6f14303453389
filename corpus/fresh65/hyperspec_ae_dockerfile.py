"""Unsupervised hyperspectral unmixing autoencoder.

Encoder MLP turns a 48-band pixel spectrum into softmax abundances over 4
materials; the decoder is a learned endmember matrix (softplus of a raw array),
so reconstruction = abundances @ endmembers.  Trained on spectral angle + MSE.
The report is written as a Dockerfile (why not).
"""
import itertools
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BANDS, K = 48, 4
rng = np.random.default_rng(11)
wl = np.linspace(0.4, 2.5, BANDS)


def make_endmembers():
    ems = []
    centres = [(0.55, 1.4), (0.9, 2.1), (1.2, 1.9), (0.7, 2.3)]
    for i, (c1, c2) in enumerate(centres):
        base = 0.25 + 0.1 * i + 0.08 * np.sin(3 * wl + i)
        bands = 0.35 * np.exp(-((wl - c1) / 0.12) ** 2) - 0.2 * np.exp(-((wl - c2) / 0.1) ** 2)
        ems.append(np.clip(base + bands, 0.02, None))
    return np.stack(ems).astype(np.float32)


E_true = make_endmembers()
N = 6000
A_true = rng.dirichlet(np.full(K, 0.6), size=N).astype(np.float32)
scale = rng.uniform(0.85, 1.15, size=(N, 1)).astype(np.float32)   # illumination
X = (A_true @ E_true) * scale + rng.normal(0, 0.004, size=(N, BANDS)).astype(np.float32)
X = X.astype(np.float32)
ntr = 5000
Xtr, Xte = mx.array(X[:ntr]), mx.array(X[ntr:])
Ate = A_true[ntr:]


class UnmixAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(BANDS, 64)
        self.enc2 = nn.Linear(64, 32)
        self.head = nn.Linear(32, K)
        # decoder endmembers initialised from random training pixels (VCA-ish, crude)
        idx = rng.choice(ntr, size=K, replace=False)
        init = np.log(np.expm1(np.clip(X[idx], 0.05, None)))
        self.raw_em = mx.array(init.astype(np.float32))

    def endmembers(self):
        return nn.softplus(self.raw_em)

    def abundances(self, x):
        h = nn.leaky_relu(self.enc1(x), 0.1)
        h = nn.leaky_relu(self.enc2(h), 0.1)
        return mx.softmax(self.head(h) * 2.0, axis=-1)

    def __call__(self, x):
        a = self.abundances(x)
        return a, a @ self.endmembers()


def spectral_angle(x, y):
    cos = mx.sum(x * y, axis=-1) / (mx.linalg.norm(x, axis=-1) * mx.linalg.norm(y, axis=-1) + 1e-8)
    return mx.arccos(mx.clip(cos, -0.999999, 0.999999))


def loss_fn(model, x):
    _, rec = model(x)
    return mx.mean(spectral_angle(rec, x)) + 5.0 * mx.mean((rec - x) ** 2)


def em_match(E_hat):
    """best permutation of learned endmembers against truth by mean spectral angle"""
    E_hat = np.asarray(E_hat)
    def sad(a, b):
        c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        return float(np.degrees(np.arccos(np.clip(c, -1, 1))))
    best = None
    for perm in itertools.permutations(range(K)):
        s = [sad(E_hat[p], E_true[i]) for i, p in enumerate(perm)]
        if best is None or np.mean(s) < np.mean(best[1]):
            best = (perm, s)
    return best


model = UnmixAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 3000, 2e-4), weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

# step-0 gradient audit
l0, g0 = vg(model, Xtr[:128])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]

print("# syntax=docker/dockerfile:1")
print("FROM scratch AS unmix")
print(f'LABEL data.pixels="{N}" data.bands="{BANDS}" data.materials="{K}" data.noise="0.004"')
print(f'LABEL gradcheck.leaves="{len(leaves)}" gradcheck.zero="{len(zero)}" gradcheck.loss0="{float(l0):.4f}"')

BS, EPOCHS = 100, 60
t0 = time.perf_counter()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(ntr))
    tot = 0.0
    for i in range(0, ntr, BS):
        xb = Xtr[perm[i:i + BS]]
        loss, g = vg(model, xb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss) * xb.shape[0]
        step += 1
    if ep == 1 or ep % 6 == 0:
        a_hat, rec = model(Xte)
        rec_sad = float(mx.mean(spectral_angle(rec, Xte))) * 180 / np.pi
        perm_best, sads = em_match(model.endmembers())
        a_np = np.asarray(a_hat)[:, list(perm_best)]
        a_rmse = float(np.sqrt(np.mean((a_np - Ate) ** 2)))
        print(f"RUN --mount=type=cache,id=epoch{ep:02d} train --loss={tot / ntr:.5f} "
              f"--test-rec-sad-deg={rec_sad:.3f} --em-sad-deg={np.mean(sads):.2f} "
              f"--abund-rmse={a_rmse:.4f} --lr={float(opt.learning_rate):.2e} "
              f"--elapsed={time.perf_counter() - t0:.1f}s")

perm_best, sads = em_match(model.endmembers())
print("COPY --from=unmix /endmembers /out/")
for i, p in enumerate(perm_best):
    print(f"# material {i}: learned slot {p}, spectral angle to truth {sads[i]:.2f} deg")
print('CMD ["echo", "unmixing done"]')
