"""Tea withering: grade leaf lots from a 16-band NIR spectrum.

Phase A: pretrain a small autoencoder on many unlabelled spectra.
Phase B: freeze the encoder, train only a classifier head on few labelled lots
         with a hand-written momentum SGD over the trainable tree.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

BANDS, LATENT, GRADES = 16, 6, 4
rng = np.random.default_rng(7)
wl = np.linspace(0.0, 1.0, BANDS)


def make_spectra(n):
    moist = rng.uniform(0.55, 0.80, n)            # leaf moisture fraction
    chloro = rng.uniform(0.0, 1.0, n)
    fibre = rng.uniform(0.0, 1.0, n)
    water_band = np.exp(-((wl - 0.62) / 0.08) ** 2)
    chl_band = np.exp(-((wl - 0.20) / 0.10) ** 2)
    fib_band = np.exp(-((wl - 0.85) / 0.07) ** 2)
    base = 0.6 - 0.25 * wl
    spec = (base[None] - moist[:, None] * 0.5 * water_band[None]
            - chloro[:, None] * 0.3 * chl_band[None]
            - fibre[:, None] * 0.2 * fib_band[None])
    spec += rng.normal(0, 0.01, spec.shape)
    # grade from moisture and fibre (withering degree and leaf quality)
    score = (0.80 - moist) / 0.25 * 3.0 - 0.8 * fibre + rng.normal(0, 0.15, n)
    grade = np.clip(np.floor(score + 0.4), 0, GRADES - 1).astype(np.int32)
    return spec.astype(np.float32), grade


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(BANDS, 48)
        self.l2 = nn.Linear(48, LATENT)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(LATENT, 48)
        self.l2 = nn.Linear(48, BANDS)

    def __call__(self, z):
        return self.l2(nn.tanh(self.l1(z)))


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.head = nn.Linear(LATENT, GRADES)

    def reconstruct(self, x):
        return self.decoder(self.encoder(x))

    def __call__(self, x):
        return self.head(self.encoder(x))


def grad_audit(grads, label):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print("%-8s first-step gradient: %d leaves, zero leaves: %s"
          % (label, len(leaves), zero if zero else "none"))
    assert not zero


def box(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda l, m, r: l + m.join("\u2500" * (w + 2) for w in widths) + r
    fmt = lambda r: "\u2502" + "\u2502".join(" %s " % str(c).rjust(w) for c, w in zip(r, widths)) + "\u2502"
    print(line("\u250c", "\u252c", "\u2510"))
    print(fmt(header))
    print(line("\u251c", "\u253c", "\u2524"))
    for r in rows:
        print(fmt(r))
    print(line("\u2514", "\u2534", "\u2518"))


t0 = time.time()
X_unl, _ = make_spectra(12000)
X_lab, y_lab = make_spectra(600)
X_te, y_te = make_spectra(3000)
mu, sd = X_unl.mean(0), X_unl.std(0) + 1e-6
norm = lambda a: mx.array((a - mu) / sd)
Xu, Xl, Xt = norm(X_unl), norm(X_lab), norm(X_te)
yl, yt = mx.array(y_lab), mx.array(y_te)
print("spectra: %d unlabelled, %d labelled, %d test; grade shares (test) %s"
      % (len(X_unl), len(X_lab), len(X_te),
         " ".join("%.0f%%" % (100 * np.mean(y_te == g)) for g in range(GRADES))))

mx.random.seed(3)
model = Grader()
mx.eval(model.parameters())

# ---------------- phase A: autoencoder pretraining (head unused) -------------
model.head.freeze()
opt_a = optim.Adam(learning_rate=2e-3)


def recon_loss(m, x):
    return nn.losses.mse_loss(m.reconstruct(x), x)


recon_vg = nn.value_and_grad(model, recon_loss)
print("phase A: autoencoder, %d trainable arrays" % len(tree_flatten(model.trainable_parameters())))
rows_a = []
BS = 128
first = True
for epoch in range(1, 9):
    perm = mx.array(rng.permutation(Xu.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, Xu.shape[0] - BS + 1, BS):
        xb = Xu[perm[s:s + BS]]
        loss, g = recon_vg(model, xb)
        if first:
            grad_audit(g, "phaseA")
            first = False
        opt_a.update(model, g)
        mx.eval(model.parameters(), opt_a.state, loss)
        tot += loss.item(); nb += 1
    test_rec = recon_loss(model, Xt).item()
    rows_a.append((epoch, "%.4f" % (tot / nb), "%.4f" % test_rec, "%.1f" % (time.time() - t0)))
box(rows_a, ("epoch", "train mse", "test mse", "secs"))

# ---------------- phase B: frozen encoder, head only, hand-written SGD -------
model.unfreeze()
model.encoder.freeze()
model.decoder.freeze()
enc_before = tree_map(lambda a: mx.array(a), model.encoder.parameters())
mx.eval(enc_before)


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


ce_vg = nn.value_and_grad(model, ce_loss)
lr, beta = 0.05, 0.9
velocity = tree_map(mx.zeros_like, model.trainable_parameters())
print("phase B: head only, %d trainable arrays: %s"
      % (len(tree_flatten(model.trainable_parameters())),
         ", ".join(k for k, _ in tree_flatten(model.trainable_parameters()))))


def miss_rate(x, y):
    return 100.0 * (1.0 - mx.mean(mx.argmax(model(x), axis=1) == y).item())


rows_b = [(0, "-", "%.3f" % ce_loss(model, Xt, yt).item(), "%.1f%%" % miss_rate(Xt, yt))]
first = True
BSB = 32
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(Xl.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, Xl.shape[0] - BSB + 1, BSB):
        idx = perm[s:s + BSB]
        loss, g = ce_vg(model, Xl[idx], yl[idx])
        if first:
            grad_audit(g, "phaseB")
            first = False
        velocity = tree_map(lambda v, gi: beta * v + gi, velocity, g)
        new_params = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)
        tot += loss.item(); nb += 1
    if epoch in (1, 2, 5, 10, 20, 30, 40):
        rows_b.append((epoch, "%.3f" % (tot / nb), "%.3f" % ce_loss(model, Xt, yt).item(),
                       "%.1f%%" % miss_rate(Xt, yt)))
box(rows_b, ("epoch", "train ce", "test ce", "test miss rate"))

drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b)
            in zip(tree_flatten(model.encoder.parameters()), tree_flatten(enc_before)))
print("encoder max change during phase B: %.2e (frozen on purpose)" % drift)
print("done in %.1f s" % (time.time() - t0))
