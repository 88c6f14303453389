"""k-winners-take-all sparse autoencoder trained with a compiled step."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_sparsifier(k):
    """Returns a function keeping the k largest activations of each row."""

    def keep_topk(h):
        idx = mx.stop_gradient(mx.argpartition(-h, kth=k - 1, axis=-1)[:, :k])
        mask = mx.zeros_like(h)
        mask = mx.put_along_axis(mask, idx, mx.array(1.0, dtype=h.dtype), axis=-1)
        return h * mask

    return keep_topk


class SparseAE(nn.Module):
    def __init__(self, d, n_latent, k):
        super().__init__()
        self.enc = nn.Linear(d, n_latent)
        self.dec = nn.Linear(n_latent, d)
        self.sparsify = make_sparsifier(k)

    def encode(self, x):
        return self.sparsify(nn.relu(self.enc(x)))

    def __call__(self, x):
        return self.dec(self.encode(x))


def recon(ae, x):
    return mx.mean(mx.sum(mx.square(ae(x) - x), axis=-1))


def main(steps=300):
    mx.random.seed(8)
    dictionary = mx.random.normal((24, 12))
    codes = (mx.random.uniform(shape=(1024, 24)) < 0.1) * mx.random.uniform(0.5, 1.5, (1024, 24))
    data = codes @ dictionary
    ae = SparseAE(12, 32, k=4)
    opt = optim.Adam(learning_rate=2e-3)
    grad_fn = nn.value_and_grad(ae, recon)
    state = [ae.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x):
        loss, grads = grad_fn(ae, x)
        opt.update(ae, grads)
        return loss

    for s in range(steps):
        idx = mx.random.randint(0, 1024, (128,))
        loss = train_step(data[idx])
        mx.eval(state, loss)
        if s % 75 == 0 or s == steps - 1:
            print(f"step {s:3d} recon {loss.item():.4f}")
    active = (ae.encode(data) > 0).sum(axis=-1).astype(mx.float32).mean().item()
    print(f"full recon {recon(ae, data).item():.4f}, mean active units {active:.2f}")


if __name__ == "__main__":
    main()
