# Ported from a PyTorch NeRF toy: learn a 2-D "density" field sigma(x, y) of a
# few soft discs from random point samples, and periodically render the whole
# grid in chunks to check reconstruction quality.
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GRID = 48
CHUNK = 512


def density(p):
    centers = np.array([[-0.4, -0.3], [0.35, 0.2], [0.0, 0.55]])
    radii = np.array([0.25, 0.3, 0.15])
    d = np.linalg.norm(p[:, None, :] - centers[None], axis=-1)
    return (1.0 / (1.0 + np.exp((d - radii) / 0.04))).sum(-1, keepdims=True).astype(np.float32)


def positional_encoding(x, n_freqs=5):
    out = [x]
    for k in range(n_freqs):
        out.append(mx.sin((2.0 ** k) * np.pi * x))
        out.append(mx.cos((2.0 ** k) * np.pi * x))
    return mx.concatenate(out, axis=-1)


class DensityField(nn.Module):
    def __init__(self, d_in=22, width=128):
        super().__init__()
        self.pts_linears = [nn.Linear(d_in, width), nn.Linear(width, width), nn.Linear(width, width)]
        self.sigma_linear = nn.Linear(width, 1)

    def forward(self, x):
        h = x
        for lin in self.pts_linears:
            h = nn.relu(lin(h))
        return nn.softplus(self.sigma_linear(h))


def inference_wrapper_batch(model, chunk):
    def batched(inputs_embedded):
        return mx.concatenate(
            [model.forward(inputs_embedded[i : i + chunk]) for i in range(0, inputs_embedded.shape[0], chunk)],
            axis=0,
        )
    return batched


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    lin = np.linspace(-1, 1, GRID, dtype=np.float32)
    gx, gy = np.meshgrid(lin, lin, indexing="ij")
    grid_pts = np.stack([gx.ravel(), gy.ravel()], -1)
    grid_gt = mx.array(density(grid_pts))
    grid_emb = positional_encoding(mx.array(grid_pts))

    model = DensityField()
    mx.eval(model.parameters())

    def loss_fn(model, x, y):
        return nn.losses.mse_loss(model.forward(positional_encoding(x)), y)

    step_fn = nn.value_and_grad(model, loss_fn)
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    render = inference_wrapper_batch(model, CHUNK)

    t0 = time.time()
    for it in range(1, 1201):
        pts = rng.uniform(-1, 1, size=(256, 2)).astype(np.float32)
        x, y = mx.array(pts), mx.array(density(pts))
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 100 == 0 and it % 200:
            print(json.dumps({"iter": it, "batch_mse": round(loss.item(), 6), "sec": round(time.time() - t0, 2)}))
        if it % 200 == 0:
            pred = render(grid_emb)
            grid_mse = mx.mean((pred - grid_gt) ** 2).item()
            print(json.dumps({"iter": it, "batch_mse": round(loss.item(), 6),
                              "grid_mse": round(grid_mse, 6), "sec": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
