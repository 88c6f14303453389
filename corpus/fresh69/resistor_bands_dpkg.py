# Read the first three colour bands of a resistor (digit, digit, multiplier) from noisy
# photographed RGB values. One shared trunk, three 10-way heads, summed cross-entropy.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COLOURS = np.array([
    [0.05, 0.05, 0.05], [0.45, 0.25, 0.10], [0.85, 0.10, 0.10], [0.95, 0.55, 0.10],
    [0.95, 0.90, 0.15], [0.15, 0.65, 0.20], [0.15, 0.25, 0.85], [0.55, 0.20, 0.70],
    [0.50, 0.50, 0.50], [0.95, 0.95, 0.95]], dtype=np.float32)
NAMES = ["black", "brown", "red", "orange", "yellow", "green", "blue", "violet", "grey", "white"]


def make(n, rng):
    bands = rng.integers(0, 10, size=(n, 3))
    bands[:, 0] = rng.integers(1, 10, size=n)          # first digit never black
    light = rng.uniform(0.6, 1.3, size=(n, 1, 1))       # lighting per photo
    tint = rng.normal(0, 0.05, size=(n, 1, 3))          # white-balance cast
    rgb = COLOURS[bands] * light + tint + rng.normal(0, 0.09, size=(n, 3, 3))
    body = np.array([0.85, 0.75, 0.55]) * light[:, 0] + rng.normal(0, 0.03, size=(n, 3))
    x = np.concatenate([rgb.reshape(n, 9), body], axis=1).astype(np.float32)
    return x, bands.astype(np.int32)


class BandReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(12, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.heads = [nn.Linear(96, 10) for _ in range(3)]

    def __call__(self, x):
        h = self.trunk(x)
        return mx.stack([hd(h) for hd in self.heads], axis=1)   # (B, 3, 10)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") * 3.0


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = make(9000, rng)
    xva, yva = make(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    mx.random.seed(3)
    model = BandReader()
    mx.eval(model.parameters())
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
    lg = nn.value_and_grad(model, loss_fn)

    loss0, g0 = lg(model, Xtr[:64], Ytr[:64])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    t0 = time.time()

    print("Desired=Unknown/Install/Remove/Purge/Hold")
    print("| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend")
    print("|/ Err?=(none)/Reinstall-required (Status,Err: uppercase=bad)")
    print("||/ %-28s %-10s %-6s %s" % ("Name", "Version", "Arch", "Description"))
    print("+++-" + "=" * 28 + "-" + "=" * 10 + "-" + "=" * 6 + "-" + "=" * 50)
    print("ii  %-28s %-10s %-6s gradcheck leaves=%d zero_grad_leaves=%d loss0=%.4f chance=%.4f"
          % ("resistor-data", "9000+2000", "all", len(leaves), len(zero), loss0.item(), 3 * np.log(10)))

    bs = 64
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(len(xtr)))
        tot, nb = 0.0, 0
        for i in range(0, len(xtr) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = lg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        logits = model(Xva)
        vloss = loss_fn(model, Xva, Yva).item()
        pred = mx.argmax(logits, axis=-1)
        band_acc = mx.mean(pred == Yva, axis=0)
        all3 = mx.mean(mx.all(pred == Yva, axis=1)).item()
        status = "ii" if all3 > 0.5 else "iF"
        ver = "1.0-%02d" % epoch
        print("%s  %-28s %-10s %-6s train_ce=%.4f valid_ce=%.4f band_acc=%s all3=%.3f t=%.1fs"
              % (status, "bandreader-epoch%02d" % epoch, ver, "cpu", tot / nb, vloss,
                 "/".join("%.3f" % a for a in band_acc.tolist()), all3, time.time() - t0))

    pred = mx.argmax(model(Xva), axis=-1)
    for c in range(10):
        m = (Yva == c)
        acc = (mx.sum((pred == Yva) & m) / mx.maximum(mx.sum(m), 1)).item()
        print("rc  %-28s %-10s %-6s per-colour accuracy=%.3f" % ("colour-" + NAMES[c], "-", "all", acc))


if __name__ == "__main__":
    main()
