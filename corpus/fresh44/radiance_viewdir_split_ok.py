"""Tiny NeRF-style radiance field: fit colour + density of a synthetic scene
from (position, view direction) samples.  Positions and directions are
frequency-encoded and concatenated; the network splits them back apart."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("nerf-toy")

POS_FREQS = 4   # 3 + 3*2*4 = 27 channels
DIR_FREQS = 2   # 3 + 3*2*2 = 15 channels


def encode(x, n_freqs):
    out = [x]
    for k in range(n_freqs):
        f = 2.0 ** k
        out += [mx.sin(f * x), mx.cos(f * x)]
    return mx.concatenate(out, axis=-1)


class RadianceField(nn.Module):
    def __init__(self, ch_pos, ch_dir, width=64, depth=4):
        super().__init__()
        self.ch_pos = ch_pos
        self.ch_dir = ch_dir
        self.trunk = [nn.Linear(ch_pos, width)] + [nn.Linear(width, width) for _ in range(depth - 1)]
        self.sigma_head = nn.Linear(width, 1)
        self.feature = nn.Linear(width, width)
        self.view = nn.Linear(width + ch_dir, width // 2)
        self.rgb_head = nn.Linear(width // 2, 3)

    def __call__(self, x):
        parts = mx.split(x, indices_or_sections=[self.ch_pos], axis=-1)
        x_pos, x_dir = parts[0], parts[1]
        h = x_pos
        for layer in self.trunk:
            h = nn.relu(layer(h))
        sigma = self.sigma_head(h)
        h = mx.concatenate([self.feature(h), x_dir], axis=-1)
        h = nn.relu(self.view(h))
        rgb = mx.sigmoid(self.rgb_head(h))
        return mx.concatenate([rgb, sigma], axis=-1)


def scene(p, d):
    # density: a soft sphere; colour depends on position and (weakly) on the view direction
    r = np.linalg.norm(p, axis=-1, keepdims=True)
    sigma = 4.0 * np.exp(-4.0 * (r - 0.6) ** 2)
    rgb = 0.5 + 0.5 * np.tanh(np.concatenate([p[:, :1] + 0.3 * d[:, :1],
                                               p[:, 1:2] - 0.3 * d[:, 1:2],
                                               p[:, 2:3] * d[:, 2:3]], axis=-1) * 2.0)
    return np.concatenate([rgb, sigma], axis=-1).astype(np.float32)


def main():
    rng = np.random.default_rng(3)
    n = 4096
    pts = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
    dirs = rng.normal(size=(n, 3)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    target = scene(pts, dirs)
    feats = mx.concatenate([encode(mx.array(pts), POS_FREQS), encode(mx.array(dirs), DIR_FREQS)], axis=-1)
    target = mx.array(target)
    n_val = 512
    x_tr, y_tr, x_va, y_va = feats[n_val:], target[n_val:], feats[:n_val], target[:n_val]

    ch_pos = 3 + 6 * POS_FREQS
    ch_dir = 3 + 6 * DIR_FREQS
    mx.random.seed(0)
    model = RadianceField(ch_pos, ch_dir)
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y):
        out = m(x)
        return mx.mean((out[:, :3] - y[:, :3]) ** 2) + 0.1 * mx.mean((out[:, 3:] - y[:, 3:]) ** 2)

    step_fn = nn.value_and_grad(model, loss_fn)
    log.info("training radiance field: %d samples, pos ch=%d, dir ch=%d", n - n_val, ch_pos, ch_dir)
    t0 = time.time()
    bs = 256
    n_tr = x_tr.shape[0]
    step = 0
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(n_tr))
        run = 0.0
        nb = 0
        for s in range(0, n_tr, bs):
            idx = perm[s:s + bs]
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
            step += 1
        if epoch % 4 and epoch != 1:
            continue
        val = loss_fn(model, x_va, y_va).item()
        psnr = -10.0 * math.log10(max(mx.mean((model(x_va)[:, :3] - y_va[:, :3]) ** 2).item(), 1e-12))
        log.info("epoch %02d step %4d train_loss %.5f val_loss %.5f rgb_psnr %.2f dB (%.1fs)",
                 epoch, step, run / nb, val, psnr, time.time() - t0)
    log.info("done")


if __name__ == "__main__":
    main()
