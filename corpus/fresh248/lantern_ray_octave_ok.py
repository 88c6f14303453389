"""Tiny NeRF on a synthetic scene: a coloured sphere seen from random cameras.

Coarse model only, positional encoding for points and view directions,
volume rendering along each ray, photometric MSE / PSNR reporting.
"""
import math
import time
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)


# ---------------------------------------------------------------- embedding
class Embedder:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        funcs = []
        in_dim = kwargs["input_dims"]
        out_dim = 0
        if kwargs["include_input"]:
            funcs.append(lambda x: x)
            out_dim += in_dim
        freq_bands = 2.0 ** mx.linspace(0.0, kwargs["max_freq_log2"], num=kwargs["num_freqs"])
        for freq in freq_bands.tolist():
            for fn in kwargs["periodic_funcs"]:
                funcs.append(lambda x, fn=fn, freq=freq: fn(x * freq))
                out_dim += in_dim
        self.embed_funcs = funcs
        self.out_dim = out_dim

    def embed(self, inputs):
        return mx.concatenate([f(inputs) for f in self.embed_funcs], axis=-1)


def get_embedder(n_freqs, n_input_dims=3):
    if n_freqs == -1:
        return nn.Identity(), n_input_dims
    emb = Embedder(
        include_input=True,
        input_dims=n_input_dims,
        max_freq_log2=n_freqs - 1,
        num_freqs=n_freqs,
        periodic_funcs=[mx.sin, mx.cos],
    )
    return (lambda x, eo=emb: eo.embed(x)), emb.out_dim


def embed(pos, embed_pos, dirs, embed_dir):
    pos_flat = mx.reshape(pos, [-1, pos.shape[-1]])
    embedded = embed_pos(pos_flat)
    if dirs is not None:
        d = mx.broadcast_to(dirs[:, None, :], pos.shape)
        d_flat = mx.reshape(d, [-1, d.shape[-1]])
        embedded = mx.concatenate([embedded, embed_dir(d_flat)], axis=-1)
    return embedded


# ---------------------------------------------------------------- model
class NeRF(nn.Module):
    def __init__(self, n_layers, width_layers, channel_input, channel_output,
                 list_skip_connection_layers, channel_input_views, is_use_view_directions):
        super().__init__()
        self.channel_input = channel_input
        self.channel_input_views = channel_input_views
        self.skips = list_skip_connection_layers
        self.is_use_view_directions = is_use_view_directions
        layers = [nn.Linear(channel_input, width_layers)]
        for i in range(n_layers - 1):
            in_ch = width_layers + channel_input if i in self.skips else width_layers
            layers.append(nn.Linear(in_ch, width_layers))
        self.list_linears_pos = layers
        if is_use_view_directions:
            self.feature_linear = nn.Linear(width_layers, width_layers)
            self.alpha_linear = nn.Linear(width_layers, 1)
            self.list_linears_dir = [nn.Linear(channel_input_views + width_layers, width_layers // 2)]
            self.rgb_linear = nn.Linear(width_layers // 2, 3)
        else:
            self.output_linear = nn.Linear(width_layers, channel_output)

    def __call__(self, x):
        input_pos = x[..., : self.channel_input]
        input_dir = x[..., self.channel_input:]
        h = input_pos
        for idx, layer in enumerate(self.list_linears_pos):
            h = nn.relu(layer(h))
            if idx in self.skips:
                h = mx.concatenate([input_pos, h], axis=-1)
        if self.is_use_view_directions:
            alpha = self.alpha_linear(h)
            h = mx.concatenate([self.feature_linear(h), input_dir], axis=-1)
            for layer in self.list_linears_dir:
                h = nn.relu(layer(h))
            return mx.concatenate([self.rgb_linear(h), alpha], axis=-1)
        return self.output_linear(h)


def run_model(pos, embed_pos, dirs, embed_dir, model):
    flat = embed(pos, embed_pos, dirs, embed_dir)
    out = model(flat)
    return mx.reshape(out, list(pos.shape[:-1]) + [out.shape[-1]])


def create_NeRF(args):
    octave_pos = args.multires
    octave_dir = args.multires_views
    is_use_dir = args.use_viewdirs
    output_ch = 4
    skips = [2]

    embedder_pos, channel_emb_pos = get_embedder(octave_pos) if True else (None, None)
    embedder_dir, channel_emb_dir = get_embedder(octave_dir) if is_use_dir else (None, None)

    network_query_fn = lambda pts, viewdirs, model: run_model(
        pts, embedder_pos, viewdirs, embedder_dir, model
    )
    model = NeRF(
        n_layers=args.netdepth,
        width_layers=args.netwidth,
        channel_input=channel_emb_pos,
        channel_output=output_ch,
        list_skip_connection_layers=skips,
        channel_input_views=channel_emb_dir,
        is_use_view_directions=is_use_dir,
    )
    return model, network_query_fn


# ---------------------------------------------------------------- rendering
def raw2outputs(raw, z_vals, rays_d):
    dists = z_vals[..., 1:] - z_vals[..., :-1]
    dists = mx.concatenate([dists, mx.full(dists[..., :1].shape, 1e10)], axis=-1)
    dists = dists * mx.linalg.norm(rays_d[..., None, :], axis=-1)
    rgb = mx.sigmoid(raw[..., :3])
    sigma_delta = nn.relu(raw[..., 3]) * dists
    alpha = 1.0 - mx.exp(-sigma_delta)
    trans = mx.exp(-mx.cumsum(sigma_delta, axis=-1, inclusive=False))
    weights = alpha * trans
    rgb_map = mx.sum(weights[..., None] * rgb, axis=-2)
    acc = mx.sum(weights, axis=-1)
    rgb_map = rgb_map + (1.0 - acc[..., None])  # white background
    return rgb_map


def render_rays(model, query_fn, rays_o, rays_d, near, far, n_samples, perturb):
    t = mx.linspace(0.0, 1.0, n_samples)
    z_vals = near * (1.0 - t) + far * t
    z_vals = mx.broadcast_to(z_vals, (rays_o.shape[0], n_samples))
    if perturb:
        mids = 0.5 * (z_vals[..., 1:] + z_vals[..., :-1])
        upper = mx.concatenate([mids, z_vals[..., -1:]], axis=-1)
        lower = mx.concatenate([z_vals[..., :1], mids], axis=-1)
        z_vals = lower + (upper - lower) * mx.random.uniform(shape=z_vals.shape)
    pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]
    viewdirs = rays_d / mx.linalg.norm(rays_d, axis=-1, keepdims=True)
    raw = query_fn(pts, viewdirs, model)
    return raw2outputs(raw, z_vals, rays_d)


# ---------------------------------------------------------------- synthetic scene
def scene_color(rays_o, rays_d):
    """Analytic render of a sphere (radius 1 at origin) on a white background."""
    d = rays_d / mx.linalg.norm(rays_d, axis=-1, keepdims=True)
    b = mx.sum(rays_o * d, axis=-1)
    c = mx.sum(rays_o * rays_o, axis=-1) - 1.0
    disc = b * b - c
    hit = disc > 0
    t = -b - mx.sqrt(mx.maximum(disc, 0.0))
    p = rays_o + t[..., None] * d
    col = 0.5 + 0.5 * mx.stack([p[..., 0], p[..., 1], mx.sin(2.0 * p[..., 2])], axis=-1)
    return mx.where(hit[..., None], col, mx.ones_like(col))


def sample_rays(n):
    theta = mx.random.uniform(0, 2 * math.pi, (n,))
    phi = mx.random.uniform(-0.6, 0.6, (n,))
    cam = 3.0 * mx.stack([mx.cos(theta) * mx.cos(phi), mx.sin(theta) * mx.cos(phi), mx.sin(phi)], axis=-1)
    target = mx.random.uniform(-1.1, 1.1, (n, 3))
    d = target - cam
    return cam, d / mx.linalg.norm(d, axis=-1, keepdims=True)


def main():
    args = SimpleNamespace(multires=6, multires_views=2, use_viewdirs=True,
                           netdepth=4, netwidth=64, lrate=5e-3, N_samples=16,
                           N_rand=128, n_iters=120, i_print=20)
    model, query_fn = create_NeRF(args)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=args.lrate)

    def loss_fn(model, rays_o, rays_d, target):
        rgb = render_rays(model, query_fn, rays_o, rays_d, 1.5, 4.5, args.N_samples, True)
        return mx.mean((rgb - target) ** 2)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    val_o, val_d = sample_rays(512)
    val_t = scene_color(val_o, val_d)

    tic = time.time()
    for it in range(1, args.n_iters + 1):
        rays_o, rays_d = sample_rays(args.N_rand)
        target = scene_color(rays_o, rays_d)
        loss, grads = loss_and_grad(model, rays_o, rays_d, target)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % args.i_print == 0 or it == 1:
            psnr = -10.0 * math.log10(max(loss.item(), 1e-10))
            print(f"[TRAIN] Iter: {it} Loss: {loss.item():.5f} PSNR: {psnr:.2f}")
        if it % 40 == 0:
            val_rgb = render_rays(model, query_fn, val_o, val_d, 1.5, 4.5, args.N_samples, False)
            vl = mx.mean((val_rgb - val_t) ** 2).item()
            print(f"[VAL]   Iter: {it} MSE: {vl:.5f} PSNR: {-10.0 * math.log10(max(vl, 1e-10)):.2f}")
    print(f"done in {time.time() - tic:.1f}s")


if __name__ == "__main__":
    main()
