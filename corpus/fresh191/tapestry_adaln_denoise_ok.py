# Tiny conditional denoiser for tapestry weft-colour rows, with adaptive LayerNorm
# modulation (DiT / MMDiT style). Noise level conditions each block via shift/scale.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
T, D, B = 12, 32, 16


def make_rows(n):
    # synthetic weft rows: a few repeating colour motifs (3 channels -> projected later)
    k = mx.random.randint(1, 4, (n, 1)).astype(mx.float32)
    ph = mx.random.uniform(0, 2 * math.pi, (n, 1))
    t = mx.arange(T, dtype=mx.float32)[None, :]
    r = mx.sin(k * t * 0.5 + ph)
    g = mx.cos(k * t * 0.25 + ph)
    b = mx.sign(mx.sin(t * 0.8 + ph)) * 0.5
    return mx.stack([r, g, b], axis=-1)  # (n, T, 3)


def affine_transform(x, shift, residual_scale, norm_module=None):
    """Affine transformation (Used for Adaptive LayerNorm Modulation)"""
    if x.shape[0] == 1:
        if norm_module is not None:
            return mx.fast.layer_norm(
                x, 1.0 + residual_scale.squeeze(), shift.squeeze(), norm_module.eps
            )
    return norm_module(x) * (1.0 + residual_scale) + shift


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6, affine=False)
        self.norm2 = nn.LayerNorm(d, eps=1e-6, affine=False)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.ada = nn.Linear(d, 6 * d)

    def __call__(self, x, c):
        mod = self.ada(nn.silu(c))[:, None, :]  # (B, 1, 6D)
        s1, sc1, g1, s2, sc2, g2 = mx.split(mod, 6, axis=-1)
        h = affine_transform(x, s1, sc1, self.norm1)
        x = x + g1 * self.attn(h, h, h)
        h = affine_transform(x, s2, sc2, self.norm2)
        return x + g2 * self.mlp(h)


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, D)
        self.pos = mx.random.normal((T, D)) * 0.02
        self.temb = nn.Sequential(nn.Linear(1, D), nn.SiLU(), nn.Linear(D, D))
        self.blocks = [Block(D) for _ in range(2)]
        self.out = nn.Linear(D, 3)

    def __call__(self, xt, sigma):
        c = self.temb(sigma[:, None])
        h = self.inp(xt) + self.pos
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(h)


model = Denoiser()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def loss_fn(m, x0, sigma, eps):
    xt = x0 + sigma[:, None, None] * eps
    return mx.mean((m(xt, sigma) - eps) ** 2)


vg = nn.value_and_grad(model, loss_fn)
val_x = make_rows(128)
val_s = mx.linspace(0.2, 1.5, 128)
val_e = mx.random.normal(val_x.shape)

t0 = time.time()
for step in range(1, 401):
    x0 = make_rows(B)
    sigma = mx.random.uniform(0.1, 1.6, (B,))
    eps = mx.random.normal(x0.shape)
    loss, grads = vg(model, x0, sigma, eps)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 50 == 0:
        v = loss_fn(model, val_x, val_s, val_e)
        print(f"step {step:4d} | eps-mse {loss.item():.4f} | val {v.item():.4f} | {time.time()-t0:.1f}s")
print("done")
