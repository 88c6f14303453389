# Convolutional VAE on little 16x16 "glyph" images (bars, boxes, dots) drawn with numpy.
# Conv encoder with batch norm, nearest-upsample + conv decoder, Adam.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
H = W = 16


def draw(kind):
    img = np.zeros((H, W), np.float32)
    r, c = rng.integers(2, 11, size=2)
    s = int(rng.integers(3, 6))
    if kind == 0:      # horizontal bar
        img[r:r + 2, c - 2:c + s + 2] = 1.0
    elif kind == 1:    # hollow box
        img[r:r + s, c:c + s] = 1.0
        img[r + 1:r + s - 1, c + 1:c + s - 1] = 0.0
    else:              # dot pair
        img[r:r + 2, c:c + 2] = 1.0
        img[min(r + s, 14):min(r + s, 14) + 2, min(c + s, 14):min(c + s, 14) + 2] = 1.0
    return img


X = np.stack([draw(k % 3) for k in range(1536)])[..., None]
train, test = mx.array(X[:1280]), mx.array(X[1280:])


def upsample_nearest(x, scale=2):
    B, h, w, C = x.shape
    x = mx.broadcast_to(x[:, :, None, :, None, :], (B, h, scale, w, scale, C))
    return x.reshape(B, h * scale, w * scale, C)


class UpConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)

    def __call__(self, x):
        return self.conv(upsample_nearest(x))


class Encoder(nn.Module):
    def __init__(self, latent, mf):
        super().__init__()
        self.conv1 = nn.Conv2d(1, mf // 4, kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm(mf // 4)
        self.conv2 = nn.Conv2d(mf // 4, mf // 2, kernel_size=3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm(mf // 2)
        self.conv3 = nn.Conv2d(mf // 2, mf, kernel_size=3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm(mf)
        flat = (H // 8) * (W // 8) * mf
        self.proj_mean = nn.Linear(flat, latent)
        self.proj_logvar = nn.Linear(flat, latent)

    def __call__(self, x):
        x = nn.leaky_relu(self.bn1(self.conv1(x)))
        x = nn.leaky_relu(self.bn2(self.conv2(x)))
        x = nn.leaky_relu(self.bn3(self.conv3(x)))
        x = mx.flatten(x, start_axis=1)
        mean, logvar = self.proj_mean(x), self.proj_logvar(x)
        z = mean + mx.exp(0.5 * logvar) * mx.random.normal(mean.shape)
        return z, mean, logvar


class Decoder(nn.Module):
    def __init__(self, latent, mf):
        super().__init__()
        self.in_shape = (H // 8, W // 8, mf)
        self.proj = nn.Linear(latent, (H // 8) * (W // 8) * mf)
        self.up1 = UpConv(mf, mf // 2)
        self.bn1 = nn.BatchNorm(mf // 2)
        self.up2 = UpConv(mf // 2, mf // 4)
        self.bn2 = nn.BatchNorm(mf // 4)
        self.up3 = UpConv(mf // 4, 1)

    def __call__(self, z):
        x = self.proj(z).reshape(-1, *self.in_shape)
        x = nn.leaky_relu(self.bn1(self.up1(x)))
        x = nn.leaky_relu(self.bn2(self.up2(x)))
        return mx.sigmoid(self.up3(x))


class CVAE(nn.Module):
    def __init__(self, latent=6, mf=32):
        super().__init__()
        self.encoder = Encoder(latent, mf)
        self.decoder = Decoder(latent, mf)

    def __call__(self, x):
        z, mean, logvar = self.encoder(x)
        return self.decoder(z), mean, logvar


def loss_fn(model, x):
    xr, mean, logvar = model(x)
    recon = nn.losses.binary_cross_entropy(xr, x, with_logits=False, reduction="sum") / x.shape[0]
    kl = -0.5 * mx.sum(1 + logvar - mean ** 2 - mx.exp(logvar)) / x.shape[0]
    return recon + kl, (recon, kl)


mx.random.seed(0)
model = CVAE()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, lambda m, x: loss_fn(m, x)[0])

t0 = time.time()
for epoch in range(1, 7):
    model.train()
    perm = np.random.default_rng(epoch).permutation(train.shape[0])
    tot = 0.0
    for i in range(0, train.shape[0], 64):
        xb = train[mx.array(perm[i:i + 64])]
        loss, grads = step(model, xb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * xb.shape[0]
    model.eval()
    _, (rec, kl) = loss_fn(model, test)
    print(f"epoch {epoch}: train -elbo {tot / train.shape[0]:8.2f} | test recon {rec.item():7.2f} kl {kl.item():6.2f} | {time.time() - t0:5.1f}s")
print("done")
