# Tiny VQ audio codec: conv encoder -> codebook -> conv decoder, trained on
# synthetic chirps. Segments are encoded frame by frame; the quantizer's
# commitment penalties are collected on the model during the forward pass.
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("vqcodec")

SR = 800
SEG = 64
N_SEG = 4
LENGTH = SEG * N_SEG
rng = np.random.default_rng(7)


def make_batch(bs=16):
    t = np.arange(LENGTH) / SR
    f0 = rng.uniform(20, 60, size=(bs, 1))
    f1 = rng.uniform(60, 120, size=(bs, 1))
    amp = rng.uniform(0.4, 1.0, size=(bs, 1))
    phase = 2 * math.pi * (f0 * t + 0.5 * (f1 - f0) * t * t / t[-1])
    x = amp * np.sin(phase) + 0.02 * rng.standard_normal((bs, LENGTH))
    return mx.array(x[..., None].astype(np.float32))


class Quantizer(nn.Module):
    def __init__(self, dim, bins):
        super().__init__()
        self.bins = bins
        self.codebook = mx.random.normal((bins, dim)) * 0.5

    def __call__(self, z):
        d = (z[..., None, :] - self.codebook).square().sum(-1)
        codes = mx.stop_gradient(mx.argmin(d, axis=-1))
        q = self.codebook[codes]
        penalty = (mx.stop_gradient(q) - z).square().mean() + (q - mx.stop_gradient(z)).square().mean()
        q = z + mx.stop_gradient(q - z)
        return q, codes, penalty


class ConvVQ(nn.Module):
    def __init__(self, ch=16, dim=8, bins=32):
        super().__init__()
        self.enc1 = nn.Conv1d(1, ch, 5, stride=2, padding=2)
        self.enc2 = nn.Conv1d(ch, dim, 5, stride=2, padding=2)
        self.quantizer = Quantizer(dim, bins)
        self.dec1 = nn.ConvTranspose1d(dim, ch, 4, stride=2, padding=1)
        self.dec2 = nn.ConvTranspose1d(ch, 1, 4, stride=2, padding=1)
        self.qt_vals = []
        self.qt_loss = mx.zeros((1,))

    def _encode_frame(self, frame):
        z = self.enc2(nn.gelu(self.enc1(frame)))
        q, codes, penalty = self.quantizer(z)
        if self.training:
            self.qt_vals.append(penalty)
        return q

    def __call__(self, x):
        frames = []
        for off in range(0, x.shape[1], SEG):
            q = self._encode_frame(x[:, off:off + SEG, :])
            frames.append(self.dec2(nn.gelu(self.dec1(q))))
        if self.training:
            self.qt_loss = sum(self.qt_vals) / len(self.qt_vals)
        return mx.concatenate(frames, axis=1)


def spectral_l1(x, y):
    X = mx.abs(mx.fft.rfft(x[..., 0], axis=-1))
    Y = mx.abs(mx.fft.rfft(y[..., 0], axis=-1))
    return mx.abs(X - Y).mean() / LENGTH


mx.random.seed(3)
model = ConvVQ()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
logger.info("trainable params: %d", n_params)
optimizer = optim.AdamW(learning_rate=2e-3, betas=[0.5, 0.9])
state = [model.state, optimizer.state]


def loss_fn(model, x):
    y = model(x)
    rec = nn.losses.mse_loss(y, x)
    return rec + spectral_l1(x, y) + 0.25 * model.qt_loss


loss_and_grad = nn.value_and_grad(model, loss_fn)


def step(x):
    loss, grads = loss_and_grad(model, x)
    optimizer.update(model, grads)
    return loss


test_x = make_batch(64)
for it in range(1, 301):
    model.train()
    tic = time.perf_counter()
    x = make_batch()
    loss = step(x)
    mx.eval(state, loss)
    model.qt_loss = []
    if it % 25 == 0 or it == 1:
        model.eval()
        y = model(test_x)
        snr = 10 * mx.log10((test_x ** 2).sum() / ((test_x - y) ** 2).sum())
        logger.info("iter %d loss %.5f test_snr_db %.2f iter_time %.4fs",
                    it, loss.item(), snr.item(), time.perf_counter() - tic)
logger.info("done")
