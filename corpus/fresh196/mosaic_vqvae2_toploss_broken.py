# Two-level VQ-VAE-2 on tiny synthetic "mosaic tile" images (8x8 RGB).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def create_one_hot(inp: mx.array, num_labels: int):
    return (inp[:, None] == mx.arange(num_labels)[None, :]).astype(mx.float32)


class Quantizer(nn.Module):
    def __init__(self, k, d, beta):
        super().__init__()
        self.k = k
        self.d = d
        self.beta = beta
        self.e = nn.Embedding(k, d)
        init_fn = nn.init.uniform(low=-1.0 / self.k, high=1.0 / self.k)
        self.e.apply(init_fn)

    def __call__(self, z):
        z = mx.contiguous(z)
        z_flat = z.reshape(-1, self.d)
        dists = (
            (z_flat**2).sum(axis=1, keepdims=True)
            + (self.e.weight**2).sum(axis=1, keepdims=True).T
            - 2 * mx.matmul(z_flat, self.e.weight.T)
        )
        closest_indices = mx.stop_gradient(dists.argmin(axis=1))
        one_hot = create_one_hot(closest_indices, self.k)
        z_q = self.e(closest_indices).reshape(*z.shape)

        loss_term_1 = ((mx.stop_gradient(z_q) - z) ** 2).mean()
        loss_term_2 = self.beta * ((z_q - mx.stop_gradient(z)) ** 2).mean()
        # loss = loss_term_1 + loss_term_2

        e_mean = one_hot.mean(0)
        eps = 1e-10
        perplexity = (-(e_mean + eps) * (e_mean + eps).log()).sum().exp()

        z_q = z + mx.stop_gradient(z_q - z)
        return loss_term_1, loss_term_2, z_q, perplexity


class VQVAE2(nn.Module):
    def __init__(self, h, k, d, beta):
        super().__init__()
        self.encoder_btm = nn.Sequential(nn.Conv2d(3, h, 4, stride=2, padding=1), nn.ReLU(),
                                         nn.Conv2d(h, h, 3, padding=1), nn.ReLU())
        self.encoder_top = nn.Sequential(nn.Conv2d(h, h, 4, stride=2, padding=1), nn.ReLU())
        self.pre_quantization_conv_top = nn.Conv2d(h, d, kernel_size=1)
        self.quantizer_top = Quantizer(k, d, beta)
        self.decoder_top = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.top_upscale = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.pre_quantization_conv_btm = nn.Conv2d(h + d, d, kernel_size=1)
        self.quantizer_btm = Quantizer(k, d, beta)
        self.decoder = nn.Sequential(nn.Conv2d(2 * d, h, 3, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(h, 3, 4, stride=2, padding=1))

    def __call__(self, x):
        h_btm = self.encoder_btm(x)
        h_top = self.encoder_top(h_btm)

        h_top = self.pre_quantization_conv_top(h_top)
        loss_term_1, loss_term_2, e_top, perplexity = self.quantizer_top(h_top)
        dec_top = self.decoder_top(h_top)

        h_btm = self.pre_quantization_conv_btm(mx.concatenate((h_btm, dec_top), axis=-1))
        loss_term_1, loss_term_2, e_btm, perplexity = self.quantizer_btm(h_btm)

        e_top = self.top_upscale(e_top)
        x_hat = self.decoder(mx.concatenate((e_btm, e_top), axis=-1))
        return x_hat, loss_term_1, loss_term_2, perplexity


def make_tiles(n, rng):
    palette = rng.uniform(-1, 1, size=(6, 3)).astype(np.float32)
    yy, xx = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    out = np.zeros((n, 8, 8, 3), np.float32)
    for i in range(n):
        a, b = rng.choice(6, 2, replace=False)
        kind = i % 3
        mask = (xx < 4) if kind == 0 else ((yy + xx) % 2 == 0) if kind == 1 else ((yy - 3.5) ** 2 + (xx - 3.5) ** 2 < 9)
        out[i] = np.where(mask[..., None], palette[a], palette[b])
    return out + 0.05 * rng.standard_normal(out.shape).astype(np.float32)


rng = np.random.default_rng(3)
x_train = make_tiles(384, rng)
x_train_var = float(x_train.var())
metrics = {"total_loss": [], "recon_loss": [], "top_loss": [], "btm_loss": [], "perplexity": []}


def loss_fn(net, X):
    x_hat, loss_term_1, loss_term_2, perplexity = net(X)
    recon_loss = ((x_hat - X) ** 2).mean() / x_train_var
    loss = recon_loss + loss_term_1 + loss_term_2
    return loss, (recon_loss, perplexity)


def train(epochs, net, optimizer, data, batch_size=32, log_every=12):
    loss_and_grad_fn = nn.value_and_grad(net, loss_fn)
    n_steps = len(data) // batch_size
    s = time.perf_counter()
    for epoch in range(epochs):
        perm = np.random.default_rng(epoch).permutation(len(data))
        for i in range(n_steps):
            X = mx.array(data[perm[i * batch_size:(i + 1) * batch_size]])
            (loss, (recon, ppl)), grads = loss_and_grad_fn(net, X)
            optimizer.update(net, grads)
            mx.eval(net.parameters(), optimizer.state, loss, recon, ppl)
            metrics["total_loss"].append(loss.item())
            metrics["recon_loss"].append(recon.item())
            metrics["perplexity"].append(ppl.item())
            if (i + 1) % log_every == 0:
                took = time.perf_counter() - s
                w = log_every
                print(f"Epoch {epoch}, step {i + 1}/{n_steps} - loss: {np.mean(metrics['total_loss'][-w:]):.5f}, "
                      f"recon_loss: {np.mean(metrics['recon_loss'][-w:]):.5f}, "
                      f"perplexity: {np.mean(metrics['perplexity'][-w:]):.5f}. Took {took:.3f}s")
                s = time.perf_counter()


if __name__ == "__main__":
    mx.random.seed(0)
    net = VQVAE2(32, 16, 8, 0.25)
    top_cb0 = mx.array(net.quantizer_top.e.weight)
    btm_cb0 = mx.array(net.quantizer_btm.e.weight)
    optimizer = optim.Adam(learning_rate=2e-3)
    train(12, net, optimizer, x_train)
    d_top = mx.linalg.norm(net.quantizer_top.e.weight - top_cb0).item()
    d_btm = mx.linalg.norm(net.quantizer_btm.e.weight - btm_cb0).item()
    print(f"codebook drift  top: {d_top:.5f}  btm: {d_btm:.5f}")
