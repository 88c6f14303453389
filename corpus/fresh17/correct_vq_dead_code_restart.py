"""VQ autoencoder (straight-through estimator) on a 16-component Gaussian mixture.
Codebook rows that nobody picks get exactly zero gradient, so they sit still
until the every-250-steps dead-code restart re-seeds them from encoder outputs.
Logs JSON lines."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

K, D_LAT = 48, 4


def sample(n):
    centers = mx.array([[3.0 * (i % 4) - 4.5, 3.0 * (i // 4) - 4.5] for i in range(16)])
    idx = mx.random.randint(0, 16, (n,))
    pts = centers[idx] + 0.3 * mx.random.normal((n, 2))
    # embed into 8-D with a fixed random rotation so the AE has something to do
    return pts @ ROT


mx.random.seed(11)
ROT = mx.random.normal((2, 8)) / 2.0


class VQAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, D_LAT))
        self.dec = nn.Sequential(nn.Linear(D_LAT, 64), nn.ReLU(), nn.Linear(64, 8))
        # codebook initialised far from where the encoder lands -> many dead codes
        self.codebook = 3.0 + 0.5 * mx.random.normal((K, D_LAT))

    def quantize(self, z):
        d = (z[:, None, :] - self.codebook[None, :, :]) ** 2
        codes = mx.argmin(mx.stop_gradient(d.sum(-1)), axis=1)
        return codes, self.codebook[codes]

    def __call__(self, x):
        z = self.enc(x)
        codes, zq = self.quantize(z)
        zq_st = z + mx.stop_gradient(zq - z)
        return self.dec(zq_st), z, zq, codes


def loss_fn(model, x):
    xh, z, zq, codes = model(x)
    recon = ((xh - x) ** 2).mean()
    vq = ((mx.stop_gradient(z) - zq) ** 2).mean()
    commit = ((z - mx.stop_gradient(zq)) ** 2).mean()
    return recon + vq + 0.25 * commit, (recon, vq, codes)


def main():
    model = VQAE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step = nn.value_and_grad(model, lambda m, x: loss_fn(m, x)[0])
    usage = mx.zeros((K,))
    t0 = time.time()
    for it in range(1, 1501):
        x = sample(256)
        loss, grads = step(model, x)
        opt.update(model, grads)
        _, (recon, vq, codes) = loss_fn(model, x)
        usage = usage + mx.zeros((K,)).at[codes].add(1.0)
        mx.eval(model.parameters(), opt.state, loss, recon, vq, usage)
        n_reset = 0
        if it % 250 == 0:
            dead = usage == 0
            n_reset = int(dead.sum().item())
            if n_reset:
                z = model.enc(sample(K))
                model.codebook = mx.where(dead[:, None], z + 0.01 * mx.random.normal(z.shape), model.codebook)
                mx.eval(model.codebook)
            usage = mx.zeros((K,))
        if it % 50 == 0 or n_reset:
            p = mx.zeros((K,)).at[codes].add(1.0) / codes.shape[0]
            ppl = mx.exp(-(p * mx.log(p + 1e-10)).sum()).item()
            print(json.dumps({"step": it, "loss": round(loss.item(), 5), "recon": round(recon.item(), 5),
                              "vq": round(vq.item(), 5), "code_ppl": round(ppl, 2), "dead_reset": n_reset,
                              "t": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
