"""Denoising autoencoder on synthetic 16-d signals; the noisy copies for each
epoch are generated in a small multiprocessing pool (2 workers) so the main
process can keep training."""
import multiprocessing as mp
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, N_SHARDS, SHARD = 16, 4, 128


def make_shard(seed):
    """Build one shard of clean/noisy pairs (runs in a worker)."""
    mx.random.seed(seed)
    t = mx.random.uniform(shape=(SHARD, 1)) * 6.28
    freqs = mx.arange(1, D + 1).reshape(1, D) / D
    clean = mx.sin(t * freqs * 4.0)
    noisy = clean + 0.3 * mx.random.normal(clean.shape)
    return np.array(clean), np.array(noisy)


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, 8)
        self.dec = nn.Linear(8, D)

    def __call__(self, x):
        return self.dec(nn.tanh(self.enc(x)))


def loss_fn(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean)


def main():
    model = DAE()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)

    pool = mp.get_context("spawn").Pool(2)
    for epoch in range(10):
        t0 = time.time()
        shards = pool.map(make_shard, [epoch * 100 + k for k in range(N_SHARDS)])
        clean = mx.array(np.concatenate([c for c, _ in shards]))
        noisy = mx.array(np.concatenate([n for _, n in shards]))
        for i in range(0, clean.shape[0], 64):
            loss, grads = vg(model, noisy[i:i + 64], clean[i:i + 64])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        val = loss_fn(model, noisy, clean).item()
        print(f"epoch={epoch} recon_mse={val:.5f} time={time.time() - t0:.2f}s", flush=True)
    pool.close()
    pool.join()


if __name__ == "__main__":
    main()
