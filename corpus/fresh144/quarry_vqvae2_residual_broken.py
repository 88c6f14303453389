# Tiny two-level-style VQ-VAE on synthetic 12x12 "quarry stone" textures.
# Encoder -> residual stack -> vector quantizer -> decoder (with residual stack).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
rng = np.random.default_rng(7)


def make_textures(n):
    yy, xx = np.mgrid[0:12, 0:12].astype(np.float32) / 11.0
    out = np.empty((n, 12, 12, 3), np.float32)
    for k in range(n):
        fx, fy = rng.uniform(1, 4, size=2)
        ph = rng.uniform(0, 2 * np.pi)
        base = np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        tint = rng.uniform(0.3, 1.0, size=3)
        img = 0.5 * base[..., None] * tint + blob[..., None] * (1 - tint)
        out[k] = img + 0.05 * rng.standard_normal((12, 12, 3))
    return out


train_x = make_textures(512)
test_x = make_textures(64)
x_train_var = float(train_x.var())


class ResidualLayer(nn.Module):
    def __init__(self, in_dim, out_dim, h_dim):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_dim, h_dim, kernel_size=3, stride=1, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(h_dim, out_dim, kernel_size=1, stride=1, bias=False),
            nn.ReLU(),
        )

    def __call__(self, x):
        return x + self.layers(x)


class ResidualStack:
    def __init__(self, in_dim, out_dim, h_dim, num_layers):
        self.stack = nn.Sequential(*[ResidualLayer(in_dim, out_dim, h_dim)] * num_layers)
        self.final = nn.ReLU()

    def __call__(self, x):
        return self.final(self.stack(x))


class Encoder(nn.Module):
    def __init__(self, h_dim, res_h, n_res):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, h_dim // 2, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(h_dim // 2, h_dim, kernel_size=3, stride=1, padding=1),
            ResidualStack(h_dim, h_dim, res_h, n_res),
        )

    def __call__(self, x):
        return self.layers(x)


class Decoder(nn.Module):
    def __init__(self, e_dim, h_dim, res_h, n_res):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(e_dim, h_dim, kernel_size=3, stride=1, padding=1),
            ResidualStack(h_dim, h_dim, res_h, n_res),
            nn.ConvTranspose2d(h_dim, h_dim // 2, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(h_dim // 2, 3, kernel_size=3, stride=1, padding=1),
        )

    def __call__(self, x):
        return self.layers(x)


class Quantizer(nn.Module):
    def __init__(self, n_e, e_dim, beta):
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(n_e, e_dim)
        self.embedding.weight = mx.random.uniform(-1.0 / n_e, 1.0 / n_e, (n_e, e_dim))

    def __call__(self, z):
        flat = z.reshape(-1, z.shape[-1])
        w = self.embedding.weight
        d = (flat ** 2).sum(1, keepdims=True) + (w ** 2).sum(1) - 2 * flat @ w.T
        idx = mx.stop_gradient(mx.argmin(d, axis=1))
        zq = w[idx].reshape(z.shape)
        codebook_loss = ((zq - mx.stop_gradient(z)) ** 2).mean()
        commit_loss = ((mx.stop_gradient(zq) - z) ** 2).mean()
        zq = z + mx.stop_gradient(zq - z)
        onehot = (idx[:, None] == mx.arange(w.shape[0])).astype(mx.float32)
        p = onehot.mean(0)
        perplexity = mx.exp(-(p * mx.log(p + 1e-10)).sum())
        return zq, codebook_loss + self.beta * commit_loss, perplexity


class VQVAE(nn.Module):
    def __init__(self, h_dim=32, res_h=16, n_res=2, n_e=64, e_dim=16, beta=0.25):
        super().__init__()
        self.encoder = Encoder(h_dim, res_h, n_res)
        self.pre_q = nn.Conv2d(h_dim, e_dim, kernel_size=1)
        self.vq = Quantizer(n_e, e_dim, beta)
        self.decoder = Decoder(e_dim, h_dim, res_h, n_res)

    def __call__(self, x):
        z = self.pre_q(self.encoder(x))
        zq, vq_loss, perplexity = self.vq(z)
        return self.decoder(zq), vq_loss, perplexity


def loss_fn(net, X):
    x_hat, vq_loss, perplexity = net(X)
    recon = ((x_hat - X) ** 2).mean() / x_train_var
    return recon + vq_loss, (recon, perplexity)


def evaluate(net):
    net.train(False)
    x_hat, _, _ = net(mx.array(test_x))
    r = ((x_hat - mx.array(test_x)) ** 2).mean() / x_train_var
    net.train(True)
    return r.item()


net = VQVAE()
mx.eval(net.parameters())
n_params = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
print(f"trainable parameters: {n_params}")
optimizer = optim.Adam(learning_rate=2e-3)
loss_and_grad_fn = nn.value_and_grad(net, loss_fn)

batch_size, epochs, log_every = 32, 6, 8
s = time.perf_counter()
for epoch in range(epochs):
    metrics = {"total_loss": [], "recon_loss": [], "perplexity": []}
    perm = rng.permutation(len(train_x))
    for i in range(len(train_x) // batch_size):
        X = mx.array(train_x[perm[i * batch_size:(i + 1) * batch_size]])
        (loss, (recon, perplexity)), grads = loss_and_grad_fn(net, X)
        optimizer.update(net, grads)
        mx.eval(net.parameters(), optimizer.state, loss, recon, perplexity)
        metrics["total_loss"].append(loss.item())
        metrics["recon_loss"].append(recon.item())
        metrics["perplexity"].append(perplexity.item())
        if i % log_every == 0 and i > 0:
            took = time.perf_counter() - s
            print(
                f"Epoch {epoch}, step {i}/{len(train_x) // batch_size} - "
                f"loss: {np.mean(metrics['total_loss'][-log_every:]):.5f}, "
                f"recon_loss: {np.mean(metrics['recon_loss'][-log_every:]):.5f}, "
                f"perplexity: {np.mean(metrics['perplexity'][-log_every:]):.3f}. Took {took:.3f}s"
            )
            s = time.perf_counter()
    print(f"Epoch {epoch} test recon_loss: {evaluate(net):.5f}")

model_path = "quarry_vqvae2_checkpoint.npz"
mx.savez(model_path, **dict(tree_flatten(net.parameters())))
print(f"Saving model in {model_path}")

fresh = VQVAE()
fresh.load_weights(model_path, strict=False)
mx.eval(fresh.parameters())
print(f"in-memory test recon_loss: {evaluate(net):.5f}  reloaded checkpoint test recon_loss: {evaluate(fresh):.5f}")
