"""Fragment-sequence VAE, trained in two launches (the second one resumes
from the epoch checkpoint of the first), with a step-based KL anneal."""

import argparse
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEQ_LEN = 10
VOCAB = 16
N_A, N_B = 6, 6


def make_fragments(n, rng, noise=0.05):
    a = rng.integers(0, N_A, n)
    b = rng.integers(0, N_B, n)
    pos = np.arange(SEQ_LEN)
    seq = (a[:, None] * (pos[None, :] + 1) + 3 * b[:, None]) % VOCAB
    flip = rng.random(seq.shape) < noise
    seq = np.where(flip, rng.integers(0, VOCAB, seq.shape), seq)
    return seq.astype(np.int32)


PATTERNS = np.stack([
    (a * (np.arange(SEQ_LEN) + 1) + 3 * b) % VOCAB
    for a in range(N_A) for b in range(N_B)
])


def valid_fraction(seqs):
    d = (seqs[:, None, :] != PATTERNS[None, :, :]).sum(-1).min(1)
    return float((d <= 1).mean())


class FragmentVAE(nn.Module):
    def __init__(self, hidden_size, latent_size):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, hidden_size)
        self.enc = nn.Sequential(
            nn.Linear(SEQ_LEN * hidden_size, 4 * hidden_size), nn.ReLU(),
            nn.Linear(4 * hidden_size, 4 * hidden_size), nn.ReLU(),
        )
        self.mean = nn.Linear(4 * hidden_size, latent_size)
        self.var = nn.Linear(4 * hidden_size, latent_size)
        self.dec = nn.Sequential(
            nn.Linear(latent_size, 4 * hidden_size), nn.ReLU(),
            nn.Linear(4 * hidden_size, 4 * hidden_size), nn.ReLU(),
            nn.Linear(4 * hidden_size, SEQ_LEN * VOCAB),
        )
        self.latent_size = latent_size

    def encode(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        h = self.enc(h)
        return self.mean(h), -mx.abs(self.var(h))

    def decode(self, z):
        return self.dec(z).reshape(z.shape[0], SEQ_LEN, VOCAB)

    def __call__(self, x, beta):
        z_mean, z_log_var = self.encode(x)
        eps = mx.random.normal(z_mean.shape)
        z = z_mean + mx.exp(z_log_var / 2) * eps
        logits = self.decode(z)
        word_loss = nn.losses.cross_entropy(logits, x, reduction="sum") / x.shape[0]
        kl = -0.5 * mx.sum(1.0 + z_log_var - z_mean * z_mean - mx.exp(z_log_var)) / x.shape[0]
        wacc = mx.mean((mx.argmax(logits, -1) == x).astype(mx.float32))
        return word_loss + beta * kl, kl, wacc


def loss_fn(model, batch, beta_val):
    loss, kl_div, wacc = model(batch, beta_val)
    return loss, (kl_div, wacc)


def run(args, train_x):
    mx.random.seed(args.seed)
    model = FragmentVAE(args.hidden_size, args.latent_size)
    mx.eval(model.parameters())

    start_epoch = 0
    if args.load_epoch > 0:
        ckpt = os.path.join(args.save_dir, f"model.epoch-{args.load_epoch}.npz")
        model.load_weights(ckpt)
        start_epoch = args.load_epoch
        print(f"Loaded checkpoint {os.path.basename(ckpt)}, resuming from epoch {start_epoch}")

    optimizer = optim.Adam(learning_rate=args.lr)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    batches_per_epoch = len(train_x) // args.batch_size

    total_step = start_epoch * batches_per_epoch
    beta = args.beta

    rng = np.random.default_rng(args.seed + start_epoch)
    meters = np.zeros(3)
    for epoch in range(start_epoch, args.epoch):
        t0 = time.time()
        perm = rng.permutation(len(train_x))
        for i in range(batches_per_epoch):
            total_step += 1
            batch = mx.array(train_x[perm[i * args.batch_size:(i + 1) * args.batch_size]])
            (loss, (kl_div, wacc)), grads = loss_and_grad_fn(model, batch, beta)
            grads, gnorm = optim.clip_grad_norm(grads, args.clip_norm)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss, kl_div, wacc)
            meters += np.array([loss.item(), kl_div.item(), wacc.item() * 100])

            if total_step % args.print_iter == 0:
                meters /= args.print_iter
                print("[%d] Beta: %.3f, Loss: %.3f, KL: %.2f, Word: %.2f, GNorm: %.2f" % (
                    total_step, beta, meters[0], meters[1], meters[2], gnorm.item()))
                meters *= 0

            if total_step % args.kl_anneal_iter == 0 and total_step >= args.warmup:
                beta = min(args.max_beta, beta + args.step_beta)

        print(f"Epoch {epoch + 1}/{args.epoch} complete ({time.time() - t0:.1f}s)")
        path = os.path.join(args.save_dir, f"model.epoch-{epoch + 1}.npz")
        model.save_weights(path)
        if epoch + 1 == args.stop_after:
            print(f"Stopping this launch after epoch {epoch + 1}")
            return model
    return model


def evaluate(model, val_x):
    z_mean, z_log_var = model.encode(mx.array(val_x))
    kl = -0.5 * mx.sum(1.0 + z_log_var - z_mean ** 2 - mx.exp(z_log_var)) / len(val_x)
    recon = mx.argmax(model.decode(z_mean), -1)
    wacc = mx.mean((recon == mx.array(val_x)).astype(mx.float32))
    z = mx.random.normal((2000, model.latent_size))
    samples = np.array(mx.argmax(model.decode(z), -1))
    return kl.item(), wacc.item(), valid_fraction(samples)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hidden_size", type=int, default=16)
    p.add_argument("--latent_size", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip_norm", type=float, default=50.0)
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--step_beta", type=float, default=0.125)
    p.add_argument("--max_beta", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--kl_anneal_iter", type=int, default=100)
    p.add_argument("--epoch", type=int, default=12)
    p.add_argument("--print_iter", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args([])

    rng = np.random.default_rng(7)
    train_x = make_fragments(6400, rng)
    val_x = make_fragments(1000, rng)

    with tempfile.TemporaryDirectory() as d:
        args.save_dir = d
        print("=== launch 1 ===")
        args.load_epoch, args.stop_after = 0, 9
        model = run(args, train_x)
        kl, acc, valid = evaluate(model, val_x)
        print(f"launch 1 eval: KL={kl:.2f} recon_acc={acc:.3f} prior_valid={valid:.3f}")

        print("=== launch 2 (resume) ===")
        args.load_epoch, args.stop_after = 9, -1
        model = run(args, train_x)
        kl, acc, valid = evaluate(model, val_x)
        print(f"final eval: KL={kl:.2f} recon_acc={acc:.3f} prior_valid={valid:.3f}")


if __name__ == "__main__":
    main()
