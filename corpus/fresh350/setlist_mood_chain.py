"""Radio setlist curation: predict the mood tags of a track from 12 audio descriptors.

Tags are correlated (dance -> energetic, calm excludes energetic, ...), so the
model is a classifier chain: tag k's head sees the shared track embedding plus
the tags 0..k-1 (true tags while training, its own hard decisions when scoring).
Loss is the summed binary cross-entropy over the six tags, in nats per track.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

TAGS = ["energetic", "dance", "calm", "melancholy", "uplifting", "acoustic"]
D = 12


def sigm(z):
    return 1.0 / (1.0 + np.exp(-z))


def make_tracks(n, rng):
    x = rng.standard_normal((n, D)).astype(np.float32)
    tempo, loud, mode, bright, perc, strings = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4], x[:, 5]
    y = np.zeros((n, 6), np.float32)
    y[:, 0] = rng.random(n) < sigm(1.6 * tempo + 1.2 * loud + 0.4 * x[:, 6] - 0.3)
    y[:, 1] = rng.random(n) < sigm(2.5 * y[:, 0] + 1.3 * perc - 2.2)
    y[:, 2] = rng.random(n) < sigm(-3.0 * y[:, 0] - 0.8 * loud + 0.6 * strings + 0.5)
    y[:, 3] = rng.random(n) < sigm(-1.5 * mode - 0.7 * bright + 1.0 * y[:, 2] - 1.2)
    y[:, 4] = rng.random(n) < sigm(1.4 * mode - 2.5 * y[:, 3] + 0.8 * y[:, 1] - 0.4)
    y[:, 5] = rng.random(n) < sigm(1.8 * strings - 1.2 * perc + 0.5 * x[:, 7] * x[:, 8] - 1.0)
    return x, y


class ChainTagger(nn.Module):
    def __init__(self, d, hidden, n_tags):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.heads = [nn.Linear(hidden + k, 1) for k in range(n_tags)]

    def logits_forced(self, x, y):
        h = self.trunk(x)
        outs = [head(mx.concatenate([h, y[:, :k]], axis=-1)) for k, head in enumerate(self.heads)]
        return mx.concatenate(outs, axis=-1)

    def decide(self, x, cut=0.5):
        h = self.trunk(x)
        prev = mx.zeros((x.shape[0], 0))
        probs = []
        for head in self.heads:
            p = mx.sigmoid(head(mx.concatenate([h, prev], axis=-1)))
            probs.append(p)
            prev = mx.concatenate([prev, (p > cut).astype(mx.float32)], axis=-1)
        return mx.concatenate(probs, axis=-1), prev


def nats(model, x, y):
    z = model.logits_forced(x, y)
    return nn.losses.binary_cross_entropy(z, y, reduction="none").sum(axis=-1).mean()


def fmt_row(cols):
    return " | ".join(f"{c:>9}" for c in cols)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_tracks(6000, rng)
    xva, yva = make_tracks(1500, rng)
    xte, yte = make_tracks(1500, rng)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    # references: independent label priors, and the most common tag set
    prior = ytr.mean(axis=0)
    prior_nats = float(-(yva * np.log(prior) + (1 - yva) * np.log(1 - prior)).sum(axis=1).mean())
    sets, counts = np.unique(ytr, axis=0, return_counts=True)
    top_set = sets[counts.argmax()]
    top_set_exact = float((yte == top_set).all(axis=1).mean())
    print(f"tags {TAGS}")
    print(f"train prevalence {[round(float(v), 3) for v in prior]}")
    print(f"reference: label-prior val nats {prior_nats:.4f}; most-common-set exact match {top_set_exact:.3f}")

    model = ChainTagger(D, 48, len(TAGS))
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params {n_params}")
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
    lossgrad = nn.value_and_grad(model, nats)

    best = (float("inf"), None, -1)
    patience, bad = 4, 0
    header = ["epoch", "steps", "train", "val", "val_dec", "exact", "hamming", "gnorm"]
    bs = 50
    step = 0
    for epoch in range(1, 41):
        perm = rng.permutation(len(xtr))
        tot, nb, gn = 0.0, 0, 0.0
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = lossgrad(model, Xtr[idx], Ytr[idx])
            g, norm = optim.clip_grad_norm(g, 5.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss, norm)
            tot += loss.item()
            gn += norm.item()
            nb += 1
            step += 1
        val = nats(model, Xva, Yva).item()
        probs, dec = model.decide(Xva)
        p = np.clip(np.array(probs), 1e-7, 1 - 1e-7)
        val_dec = float(-(yva * np.log(p) + (1 - yva) * np.log(1 - p)).sum(axis=1).mean())
        d = np.array(dec)
        exact = float((d == yva).all(axis=1).mean())
        ham = float((d != yva).mean())
        if epoch == 1 or epoch % 3 == 0:
            if epoch == 1 or epoch % 12 == 0:
                print(fmt_row(header))
            print(fmt_row([epoch, step, f"{tot / nb:.4f}", f"{val:.4f}", f"{val_dec:.4f}",
                           f"{exact:.3f}", f"{ham:.4f}", f"{gn / nb:.3f}"]))
        if val < best[0] - 1e-4:
            best = (val, tree_map(lambda a: mx.array(a), model.parameters()), epoch)
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                print(f"stopping after epoch {epoch}: val nats has not improved for {patience} epochs")
                break

    model.update(best[1])
    mx.eval(model.parameters())
    probs, dec = model.decide(mx.array(xte))
    d = np.array(dec)
    print(f"restored weights from epoch {best[2]} (val nats {best[0]:.4f})")
    print(f"test exact match {float((d == yte).all(axis=1).mean()):.3f} "
          f"(most-common-set {top_set_exact:.3f}); test hamming {float((d != yte).mean()):.4f}")
    for k, t in enumerate(TAGS):
        tp = float((d[:, k] * yte[:, k]).sum())
        f1 = 2 * tp / max(float(d[:, k].sum() + yte[:, k].sum()), 1.0)
        print(f"  {t:<11} f1 {f1:.3f}  predicted rate {d[:, k].mean():.3f}  true rate {yte[:, k].mean():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
