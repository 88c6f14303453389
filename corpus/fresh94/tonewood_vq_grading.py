"""Sorting spruce billets for violin tops into 16 grading bins.

Each billet gets a 10-channel tap-tone fingerprint (relative levels of the
first plate modes, from density, stiffness along / across the grain and
moisture).  A small vector-quantised autoencoder squeezes every fingerprint
into one of 16 codebook entries: the code is the bin the billet goes in,
the decoder says what a 'typical' billet of that bin sounds like.

Quantisation uses the straight-through estimator (z + stop_gradient(q - z))
plus the usual codebook and commitment terms.  The learning rate warms up
from exactly 0, so step 1 does not move anything.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_CODES = 16
LATENT = 3
STEPS = 2400
BATCH = 256
REPORT_EVERY = 300
BETA_COMMIT = 0.25


def tap_tones(n, rng):
    density = rng.normal(0.0, 1.0, n)
    e_long = rng.normal(0.0, 1.0, n)
    e_cross = 0.5 * e_long + rng.normal(0.0, 0.85, n)
    moisture = rng.normal(0.0, 1.0, n)
    freqs = np.linspace(0.5, 3.0, 10)
    spec = (np.outer(e_long - density, np.cos(freqs))
            + np.outer(e_cross, np.sin(1.7 * freqs))
            + 0.6 * np.outer(moisture, freqs / 3.0)
            + 0.3 * np.outer(np.tanh(e_long * e_cross), np.cos(2.3 * freqs)))
    spec += 0.05 * rng.normal(size=spec.shape)
    return spec.astype(np.float32)


class VQAutoencoder(nn.Module):
    def __init__(self, n_in, latent, n_codes):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, 48), nn.ReLU(), nn.Linear(48, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 48), nn.ReLU(), nn.Linear(48, n_in))
        self.codebook = mx.random.normal((n_codes, latent)) * 0.1

    def assign(self, z):
        d = (mx.sum(z * z, axis=1, keepdims=True)
             - 2.0 * z @ self.codebook.T
             + mx.sum(self.codebook * self.codebook, axis=1)[None, :])
        return mx.argmin(d, axis=1)

    def __call__(self, x):
        z = self.encoder(x)
        codes = mx.stop_gradient(self.assign(mx.stop_gradient(z)))
        q = self.codebook[codes]
        z_st = z + mx.stop_gradient(q - z)          # straight-through
        recon = self.decoder(z_st)
        return recon, z, q, codes


def vq_loss(model, x):
    recon, z, q, codes = model(x)
    rec = mx.mean(mx.square(recon - x))
    book = mx.mean(mx.square(q - mx.stop_gradient(z)))
    commit = mx.mean(mx.square(z - mx.stop_gradient(q)))
    return rec + book + BETA_COMMIT * commit, (rec, codes)


def perplexity(codes, n_codes):
    counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())), int((counts > 0).sum())


def main():
    rng = np.random.default_rng(2024)
    train = tap_tones(24000, rng)
    val = tap_tones(4000, np.random.default_rng(99))
    mu, sd = train.mean(0), train.std(0)
    train = (train - mu) / sd
    val = (val - mu) / sd
    val_m = mx.array(val)

    mx.random.seed(11)
    model = VQAutoencoder(train.shape[1], LATENT, N_CODES)
    # start the codebook on encoded billets so no entry is born dead
    seed_idx = rng.choice(len(train), N_CODES, replace=False)
    model.codebook = model.encoder(mx.array(train[seed_idx]))
    mx.eval(model.parameters())

    warm = optim.linear_schedule(0.0, 2e-3, 200)
    decay = optim.cosine_decay(2e-3, STEPS - 200, 1e-4)
    opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [200]))
    grad_fn = nn.value_and_grad(model, vq_loss)

    def validate():
        recon, _, _, codes = model(val_m)
        rec = mx.mean(mx.square(recon - val_m)).item()
        ppl, used = perplexity(np.array(codes), N_CODES)
        return rec, ppl, used

    print("tonewood VQ grading")
    print(f"  billets: train {len(train)}, val {len(val)}, channels {train.shape[1]}, "
          f"codes {N_CODES}, latent {LATENT}")
    rec0, ppl0, used0 = validate()
    print(f"  before training: val recon mse {rec0:.4f} (1.0 = predicting the mean), "
          f"perplexity {ppl0:.2f} of {N_CODES}, bins used {used0}")

    xb = mx.array(train[:BATCH])
    (_, _), g = grad_fn(model, xb)
    flat = tree_flatten(g)
    print("  first-step |grad| max per leaf:")
    for k, v in flat:
        print(f"    {k:<22s} {float(mx.max(mx.abs(v))):.3e}")

    print()
    print(f"  {'step':>5s} {'lr':>9s} {'train_obj':>10s} {'train_rec':>10s} "
          f"{'val_rec':>8s} {'perplexity':>10s} {'bins':>5s} {'secs':>6s}")
    cursor, order = 0, rng.permutation(len(train))
    acc_obj = acc_rec = 0.0
    n_acc = 0
    t0 = time.time()
    for step in range(1, STEPS + 1):
        if cursor + BATCH > len(order):
            order, cursor = rng.permutation(len(train)), 0
        idx = order[cursor:cursor + BATCH]
        cursor += BATCH
        lr_now = opt.learning_rate.item()
        (obj, (rec, _)), grads = grad_fn(model, mx.array(train[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, rec)
        acc_obj += obj.item()
        acc_rec += rec.item()
        n_acc += 1
        if step == 1 or step % REPORT_EVERY == 0:
            vr, ppl, used = validate()
            print(f"  {step:5d} {lr_now:9.2e} {acc_obj / n_acc:10.4f} {acc_rec / n_acc:10.4f} "
                  f"{vr:8.4f} {ppl:10.2f} {used:5d} {time.time() - t0:6.1f}")
            acc_obj = acc_rec = 0.0
            n_acc = 0

    vr, ppl, used = validate()
    _, _, _, codes = model(val_m)
    counts = np.bincount(np.array(codes), minlength=N_CODES)
    print()
    print(f"  final: val recon mse {vr:.4f}, perplexity {ppl:.2f} (higher = bins used more evenly)")
    print("  billets per bin (val): " + " ".join(str(c) for c in counts))


if __name__ == "__main__":
    main()
