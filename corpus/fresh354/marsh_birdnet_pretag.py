"""Wetland bird-call tagging with masked-frame pretraining.

Stage 1 (self-supervised): a GRU encoder over synthetic 20-band log-mel
frames learns to reconstruct frames that were blanked out (MSE on the
masked frames only), using a large unlabelled pool.
Stage 2 (supervised): a multi-label head on the mean+max pooled encoder
states is fitted to 6 species tags of a small labelled set with
binary cross-entropy; the encoder stays frozen for the first 3 epochs
and is then released with a 10x smaller learning rate.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SPECIES = ["bittern", "rail", "reed_warbler", "coot", "grebe", "snipe"]
B, T, S = 20, 32, len(SPECIES)


def synth(n, rng):
    centre = np.array([2, 5, 14, 8, 11, 17])
    width = np.array([1.0, 1.5, 2.0, 1.2, 1.8, 1.0])
    rate = np.array([8, 3, 2, 5, 4, 6])
    bands = np.arange(B)
    x = rng.normal(0, 1.0, (n, T, B)).astype(np.float32) + np.linspace(0.5, -0.5, B)
    y = (rng.random((n, S)) < 0.3).astype(np.float32)
    for i in range(n):
        for s in np.nonzero(y[i])[0]:
            shape = np.exp(-0.5 * ((bands - centre[s]) / width[s]) ** 2)
            phase = rng.integers(0, rate[s])
            on = ((np.arange(T) + phase) % rate[s]) < max(1, rate[s] // 2)
            x[i, on] += rng.uniform(0.4, 0.9) * shape
    return x, y


def lrap(scores, labels):
    vals = []
    for sc, lab in zip(scores, labels):
        pos = np.nonzero(lab)[0]
        if len(pos) == 0:
            continue
        rank = (-sc).argsort().argsort() + 1
        for p in pos:
            vals.append(((lab == 1) & (rank <= rank[p])).sum() / rank[p])
    return float(np.mean(vals))


class Encoder(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.inp = nn.Linear(B, h)
        self.gru = nn.GRU(h, h)

    def __call__(self, x):
        return self.gru(nn.relu(self.inp(x)))


class Net(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.enc = Encoder(h)
        self.recon = nn.Linear(h, B)
        self.tag = nn.Linear(2 * h, S)

    def tags(self, x):
        z = self.enc(x)
        return self.tag(mx.concatenate([z.mean(axis=1), z.max(axis=1)], axis=-1))


def masked_mse(model, x, mask):
    xin = mx.where(mask[..., None], 0.0, x)
    rec = model.recon(model.enc(xin))
    err = ((rec - x) ** 2).mean(axis=-1)
    return (err * mask).sum() / mask.sum()


def tag_bce(model, x, y):
    return nn.losses.binary_cross_entropy(model.tags(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xu, _ = synth(6000, rng)
    xl, yl = synth(300, rng)
    xt, yt = synth(1000, rng)
    mu, sd = xu.reshape(-1, B).mean(0), xu.reshape(-1, B).std(0)
    Xu, Xl, Xt = (mx.array((a - mu) / sd) for a in (xu, xl, xt))
    Yl, Yt = mx.array(yl), mx.array(yt)

    model = Net()
    mx.eval(model.parameters())
    print(f"pool {len(xu)} unlabelled clips, {len(xl)} labelled, {len(xt)} test; "
          f"tags per clip {yl.sum(1).mean():.2f}; LRAP of a random ranking {lrap(rng.random(yt.shape), yt):.3f}")

    # stage 1
    opt1 = optim.Adam(learning_rate=3e-3)
    vg1 = nn.value_and_grad(model, masked_mse)
    t0 = time.perf_counter()
    steps1, bs = 300, 48
    win = []
    for step in range(1, steps1 + 1):
        idx = mx.array(rng.integers(0, len(xu), bs))
        mask = mx.array(rng.random((bs, T)) < 0.25)
        loss, g = vg1(model, Xu[idx], mask)
        if step == 1:
            nz = sum(1 for _, v in tree_flatten(g) if float(mx.abs(v).max()) > 0)
            print(f"[pretrain] step 1 masked-frame mse {loss.item():.3f}; leaves with gradient {nz}/{len(tree_flatten(g))}"
                  " (tag head unused in this stage)")
        opt1.update(model, g)
        mx.eval(model.parameters(), opt1.state, loss)
        win.append(loss.item())
        if step % 60 == 0:
            print(f"[pretrain] step {step:4d} masked-frame mse {np.mean(win):.3f}  ({time.perf_counter() - t0:.1f}s)")
            win = []

    # stage 2
    model.enc.freeze()
    opt2 = optim.Adam(learning_rate=3e-3)
    vg2 = nn.value_and_grad(model, tag_bce)
    enc_before = [np.array(v) for _, v in tree_flatten(model.enc.parameters())]
    for ep in range(1, 13):
        if ep == 4:
            moved = max(float(np.abs(np.array(v) - b).max()) for (_, v), b in zip(tree_flatten(model.enc.parameters()), enc_before))
            model.enc.unfreeze()
            opt2 = optim.Adam(learning_rate=3e-4)
            print(f"[finetune] encoder released after epoch 3 (it moved {moved:.1e} while frozen); lr 3e-4 from here")
        perm = rng.permutation(len(xl))
        tot = 0.0
        for b in range(0, len(xl), 30):
            idx = mx.array(perm[b:b + 30])
            loss, g = vg2(model, Xl[idx], Yl[idx])
            opt2.update(model, g)
            mx.eval(model.parameters(), opt2.state, loss)
            tot += loss.item()
        st = mx.sigmoid(model.tags(Xt))
        tl = tag_bce(model, Xt, Yt).item()
        print(f"[finetune] epoch {ep:2d} train bce {tot / 10:.4f}  test bce {tl:.4f}  test LRAP {lrap(np.array(st), yt):.3f}")
    print("done")


if __name__ == "__main__":
    main()
