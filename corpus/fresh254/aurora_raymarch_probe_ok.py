"""Tiny radiance-field fit on a synthetic glowing orb.

Rays are cast from cameras on a ring toward the origin; the target pixel
colours are rendered from an analytic density/colour field with the same
quadrature that the network uses, so a perfect field gives PSNR -> inf.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
rng = np.random.default_rng(3)

N_SAMPLES = 16
NEAR, FAR = 1.0, 5.0
RAYS_PER_BATCH = 256
STEPS = 240


# ---------------------------------------------------------------- embedding
class Embedder:
    def __init__(self, multires, input_dims=3):
        self.freqs = [2.0 ** i for i in range(multires)]
        self.out_dim = input_dims + input_dims * 2 * multires

    def __call__(self, x):
        parts = [x]
        for f in self.freqs:
            parts.append(mx.sin(x * f))
            parts.append(mx.cos(x * f))
        return mx.concatenate(parts, axis=-1)


def embed(pos, embed_pos, dir, embed_dir):
    pos_flat = mx.reshape(pos, [-1, pos.shape[-1]])
    embedded_pos = embed_pos(pos_flat)
    if dir is None:
        return embedded_pos
    dirs = mx.repeat(dir[:, None, :], repeats=pos.shape[1], axis=1)
    dir_flat = mx.reshape(dirs, [-1, dirs.shape[-1]])
    embedded_dir = embed_dir(dir_flat)
    return mx.concatenate([embedded_pos, embedded_dir], axis=-1)


# ---------------------------------------------------------------- model
class NeRF(nn.Module):
    def __init__(self, ch_pos, ch_dir, width=32, depth=3):
        super().__init__()
        self.pts = [nn.Linear(ch_pos, width)] + [
            nn.Linear(width, width) for _ in range(depth - 1)
        ]
        self.alpha_linear = nn.Linear(width, 1)
        self.feature_linear = nn.Linear(width, width)
        self.dir_linear = nn.Linear(width + ch_dir, width // 2)
        self.rgb_linear = nn.Linear(width // 2, 3)
        self.ch_pos = ch_pos

    def forward(self, x):
        h_pos, h_dir = x[:, : self.ch_pos], x[:, self.ch_pos:]
        h = h_pos
        for layer in self.pts:
            h = nn.relu(layer(h))
        sigma = self.alpha_linear(h)
        feat = self.feature_linear(h)
        h = nn.relu(self.dir_linear(mx.concatenate([feat, h_dir], axis=-1)))
        rgb = self.rgb_linear(h)
        return mx.concatenate([rgb, sigma], axis=-1)


def inference_wrapper_batch(model, chunk):
    def batched(inputs_embedded):
        return mx.concatenate(
            [model.forward(inputs_embedded[i:i + chunk])
             for i in range(0, inputs_embedded.shape[0], chunk)],
            axis=0,
        )
    return batched


def run_model(pos, embed_pos, dir, embed_dir, model, netchunk=4096):
    B = pos.shape[0]; n = pos.shape[1]
    inputs_embedded = embed(pos, embed_pos, dir, embed_dir)
    outputs_flat = inference_wrapper_batch(model, netchunk)(inputs_embedded)
    return mx.reshape(outputs_flat, [B, n, outputs_flat.shape[-1]])


# ---------------------------------------------------------------- rendering
def composite(rgb, sigma, z_vals):
    dists = z_vals[:, 1:] - z_vals[:, :-1]
    dists = mx.concatenate([dists, mx.full((dists.shape[0], 1), 1e3)], axis=-1)
    alpha = 1.0 - mx.exp(-sigma * dists)
    trans = mx.cumprod(1.0 - alpha + 1e-10, axis=-1)
    trans = mx.concatenate([mx.ones((alpha.shape[0], 1)), trans[:, :-1]], axis=-1)
    weights = alpha * trans
    return mx.sum(weights[..., None] * rgb, axis=1)


def render_rays(model, rays_o, rays_d, z_vals, embed_pos, embed_dir):
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z_vals[..., None]
    raw = run_model(pts, embed_pos, rays_d, embed_dir, model)
    rgb = mx.sigmoid(raw[..., :3])
    sigma = nn.softplus(raw[..., 3] - 1.0)
    return composite(rgb, sigma, z_vals)


# ---------------------------------------------------------------- synthetic scene
def make_rays(n_cams=16, res=20):
    o_list, d_list = [], []
    for k in range(n_cams):
        th = 2 * math.pi * k / n_cams
        el = 0.35 * math.sin(3 * th)
        cam = np.array([3.0 * math.cos(th) * math.cos(el), 3.0 * math.sin(th) * math.cos(el), 3.0 * math.sin(el)])
        fwd = -cam / np.linalg.norm(cam)
        right = np.cross(fwd, [0, 0, 1.0]); right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        u, v = np.meshgrid(np.linspace(-0.45, 0.45, res), np.linspace(-0.45, 0.45, res))
        d = fwd[None] + u.reshape(-1, 1) * right[None] + v.reshape(-1, 1) * up[None]
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        o_list.append(np.repeat(cam[None], d.shape[0], 0)); d_list.append(d)
    return np.concatenate(o_list).astype(np.float32), np.concatenate(d_list).astype(np.float32)


def true_field(p):
    r = np.linalg.norm(p, axis=-1)
    sigma = 8.0 / (1.0 + np.exp((r - 0.8) * 12.0))
    rgb = np.stack([0.5 + 0.4 * np.tanh(2 * p[..., 0]),
                    0.5 + 0.4 * np.tanh(2 * p[..., 1]),
                    0.5 + 0.4 * np.tanh(2 * p[..., 2])], axis=-1)
    return rgb, sigma


def true_colour(o, d, z):
    pts = o[:, None, :] + d[:, None, :] * z[..., None]
    rgb, sigma = true_field(pts)
    out = composite(mx.array(rgb.astype(np.float32)), mx.array(sigma.astype(np.float32)), mx.array(z))
    return np.array(out)


rays_o, rays_d = make_rays()
z_base = np.linspace(NEAR, FAR, N_SAMPLES, dtype=np.float32)
z_all = np.repeat(z_base[None], rays_o.shape[0], 0)
target = true_colour(rays_o, rays_d, z_all)
perm = rng.permutation(rays_o.shape[0])
n_val = 512
val_idx, tr_idx = perm[:n_val], perm[n_val:]
print(f"rays: {len(tr_idx)} train / {len(val_idx)} held-out, {N_SAMPLES} samples per ray")
print(f"mean target colour {target.mean(0).round(3).tolist()}")

embed_pos = Embedder(6)
embed_dir = Embedder(2)
model = NeRF(embed_pos.out_dim, embed_dir.out_dim)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=optim.cosine_decay(1e-2, STEPS, 1e-3))

O = mx.array(rays_o); D = mx.array(rays_d); T = mx.array(target)


def loss_fn(model, o, d, z, t):
    pred = render_rays(model, o, d, z, embed_pos, embed_dir)
    return mx.mean((pred - t) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def psnr(mse):
    return -10.0 * math.log10(max(mse, 1e-12))


def evaluate():
    idx = mx.array(val_idx)
    z = mx.array(z_all[:n_val])
    pred = render_rays(model, O[idx], D[idx], z, embed_pos, embed_dir)
    return mx.mean((pred - T[idx]) ** 2).item()


print(f"untrained held-out PSNR {psnr(evaluate()):.2f} dB")
t0 = time.time()
for step in range(1, STEPS + 1):
    b = mx.array(rng.choice(tr_idx, RAYS_PER_BATCH, replace=False))
    z = mx.array(z_all[:RAYS_PER_BATCH])
    t = T[b]
    loss, grads = loss_and_grad(model, O[b], D[b], z, t)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0 or step == 1:
        v = evaluate()
        print(f"iter {step:4d} | train mse {loss.item():.5f} | psnr {psnr(loss.item()):5.2f} dB"
              f" | held-out psnr {psnr(v):5.2f} dB | {time.time() - t0:5.1f}s")

print(f"final held-out PSNR {psnr(evaluate()):.2f} dB")
