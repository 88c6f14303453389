"""Top-k sparse autoencoder on synthetic 'activations' (k active latents per example)."""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Lion


class TopKSAE(nn.Module):
    def __init__(self, d_model, n_latents, k):
        super().__init__()
        self.k = k
        self.enc = nn.Linear(d_model, n_latents)
        self.dec = nn.Linear(n_latents, d_model)

    def encode(self, x):
        pre = nn.relu(self.enc(x))
        top = mx.stop_gradient(mx.argpartition(-pre, kth=self.k - 1, axis=-1)[:, : self.k])
        rows = mx.arange(pre.shape[0])[:, None]
        vals = mx.take_along_axis(pre, top, axis=-1)
        return mx.zeros_like(pre).at[rows, top].add(vals)

    def __call__(self, x):
        return self.dec(self.encode(x))


def recon_loss(sae, x, l1=0.0):
    z = sae.encode(x)
    err = ((sae.dec(z) - x) ** 2).sum(-1).mean()
    return err + l1 * mx.abs(z).sum(-1).mean()


def synthetic_acts(n, d, n_feat, active, key):
    k1, k2, k3 = mx.random.split(key, 3)
    dictionary = mx.random.normal((n_feat, d), key=k1)
    dictionary = dictionary / mx.linalg.norm(dictionary, axis=-1, keepdims=True)
    which = mx.argsort(mx.random.uniform(shape=(n, n_feat), key=k2), axis=-1)[:, :active]
    coef = mx.random.uniform(0.5, 2.0, (n, active), key=k3)
    codes = mx.put_along_axis(mx.zeros((n, n_feat)), which, coef, axis=-1)
    return codes @ dictionary


def main():
    mx.random.seed(0)
    acts = synthetic_acts(1024, 24, 48, 3, mx.random.key(3))
    sae = TopKSAE(24, 64, k=4)
    opt = Lion(learning_rate=3e-4)
    loss_and_grad = nn.value_and_grad(sae, partial(recon_loss, sae))
    baseline = ((acts - acts.mean(0)) ** 2).sum(-1).mean().item()
    print(f"variance baseline {baseline:.4f}")
    t0 = time.time()
    for it in range(400):
        batch = acts[mx.random.randint(0, acts.shape[0], (128,))]
        loss, grads = loss_and_grad(batch)
        opt.update(sae, grads)
        mx.eval(sae.parameters(), opt.state)
        if it % 100 == 0 or it == 399:
            print(f"it {it:3d}  recon {loss.item():.4f}")
    print(f"fraction of variance unexplained {recon_loss(sae, acts).item() / baseline:.3f}"
          f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
