# Token-sequence VAE, trained in two sessions: session 1 trains a few epochs and
# writes a checkpoint, session 2 ("resume") rebuilds the model, loads the
# checkpoint and keeps training with a higher KL weight.
import os
import json
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEQ, VOCAB, LATENT, HID = 12, 9, 6, 64
rng = np.random.default_rng(3)


def make_corpus(n):
    # strings made of a few repeated motifs, like a tiny molecule alphabet
    motifs = [[1, 2, 3], [4, 4], [5, 6, 7, 8], [2, 5], [3, 3, 3]]
    out = np.zeros((n, SEQ), dtype=np.int32)
    for i in range(n):
        toks = []
        while len(toks) < SEQ:
            toks += motifs[rng.integers(len(motifs))]
        out[i] = toks[:SEQ]
    return out


class SeqVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.enc = nn.Sequential(nn.Linear(SEQ * 16, HID), nn.GELU(), nn.Linear(HID, HID), nn.GELU())
        self.mu = nn.Linear(HID, LATENT)
        self.logvar = nn.Linear(HID, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, HID), nn.GELU(), nn.Linear(HID, SEQ * VOCAB))

    def __call__(self, tokens):
        h = self.embed(tokens).reshape(tokens.shape[0], -1)
        h = self.enc(h)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        logits = self.dec(z).reshape(tokens.shape[0], SEQ, VOCAB)
        return logits, mu, logvar


def vae_loss(model, tokens, beta):
    logits, mu, logvar = model(tokens)
    recon = nn.losses.cross_entropy(logits, tokens, reduction="mean") * SEQ
    kl = -0.5 * mx.mean(mx.sum(1 + logvar - mu**2 - mx.exp(logvar), axis=-1))
    return recon + beta * kl, (recon, kl)


def run_epochs(model, opt, data, epochs, beta, tag):
    step = nn.value_and_grad(model, lambda m, t: vae_loss(m, t, beta))
    for ep in range(epochs):
        perm = rng.permutation(len(data))
        r_sum = k_sum = 0.0
        nb = 0
        for i in range(0, len(data), 64):
            batch = mx.array(data[perm[i:i + 64]])
            (loss, (recon, kl)), grads = step(model, batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            r_sum += recon.item()
            k_sum += kl.item()
            nb += 1
        print(f"[{tag}] epoch {ep + 1:02d}  recon={r_sum / nb:7.3f}  kl={k_sum / nb:6.3f}  beta={beta:.2f}")


def save_checkpoint(model, path, epoch):
    model.save_weights(path)
    with open(path.replace(".npz", "_meta.json"), "w") as f:
        json.dump({"epoch": epoch}, f)


def load_checkpoint(model, path):
    model.load_weights(path)
    with open(path.replace(".npz", "_meta.json")) as f:
        return json.load(f)["epoch"]


def main():
    mx.random.seed(0)
    data = make_corpus(8192)
    workdir = tempfile.mkdtemp(prefix="seqvae_")
    ckpt = os.path.join(workdir, "checkpoint_epoch_6.npz")
    t0 = time.time()

    # ---- session 1 ----
    model = SeqVAE()
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs(model, opt, data, 6, 0.1, "session1")
    save_checkpoint(model, ckpt, 6)
    print(f"saved checkpoint -> {os.path.basename(ckpt)}")

    # ---- session 2: resume ----
    model = SeqVAE()
    start = load_checkpoint(model, ckpt)
    print(f"resumed from epoch {start}")
    opt = optim.Adam(learning_rate=1e-3)
    run_epochs(model, opt, data, 6, 0.5, "session2")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
