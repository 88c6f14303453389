"""Tiny image-captioning VLM: patch encoder -> projector -> decoder with 3-axis MRoPE.

Synthetic 'mosaic' images (2x2 grid of coloured tiles, one colour dominant, one odd
tile); the caption names the dominant colour, then the odd one. Image tokens get (t, h, w) positions, text tokens run on after.
"""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

_HALF_SPLIT = "half_split"


def rotate_half(x):
    h = x.shape[-1] // 2
    return mx.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def _mrope_apply_cos_sin(q, position_ids, inv_freq, position_selector, pairing):
    positions = mx.take(position_ids, position_selector, axis=0)  # (half, b, t)
    angle = positions.transpose(1, 2, 0).astype(mx.float32) * inv_freq
    cos = mx.cos(angle)[:, None, :, :]
    sin = mx.sin(angle)[:, None, :, :]
    cos = mx.concatenate([cos, cos], axis=-1)
    sin = mx.concatenate([sin, sin], axis=-1)
    return cos, sin


def _mrope_apply(q, k, position_ids, inv_freq, position_selector, pairing):
    cos, sin = _mrope_apply_cos_sin(q, position_ids, inv_freq, position_selector, pairing)
    qf, kf = q.astype(mx.float32), k.astype(mx.float32)
    qo = qf * cos + rotate_half(qf) * sin
    ko = kf * cos + rotate_half(kf) * sin
    return qo.astype(q.dtype), ko.astype(k.dtype)


def _fast_mrope_apply(q, k, position_ids, inv_freq, position_selector, pairing=_HALF_SPLIT):
    # forward path computed outside the autodiff graph (stands in for the fused kernel)
    def apply_one(x):
        cos, sin = _mrope_apply_cos_sin(x, position_ids, inv_freq, position_selector, pairing)
        cos, sin = mx.stop_gradient(cos), mx.stop_gradient(sin)
        xf = x.astype(mx.float32)
        return (xf * cos + rotate_half(xf) * sin).astype(x.dtype)

    @mx.custom_function
    def apply(q, k, position_ids, inv_freq, position_selector):
        return apply_one(q), apply_one(k)

    @apply.vjp
    def apply_vjp(primals, cotangents, _output):
        q, k, position_ids, inv_freq, position_selector = primals
        _, (dq, dk) = mx.vjp(
            lambda q, k: list(
                _mrope_apply_mlx(
                    q, k, position_ids, inv_freq, position_selector, pairing
                )
            ),
            [q, k],
            list(cotangents),
        )
        return (
            dq,
            dk,
            mx.zeros_like(position_ids),
            mx.zeros_like(inv_freq),
            mx.zeros_like(position_selector),
        )

    return apply(q, k, position_ids, inv_freq, position_selector)


class Attention(nn.Module):
    def __init__(self, dim, heads, sections=(4, 2, 2)):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        half = self.hd // 2
        self.inv_freq = 1.0 / (10000 ** (mx.arange(half, dtype=mx.float32) / half))
        sel = []
        for axis, n in enumerate(sections):
            sel += [axis] * n
        self.selector = mx.array(sel, dtype=mx.int32)
        self.freeze(keys=["inv_freq", "selector"], recurse=False)

    def __call__(self, x, pos, mask):
        B, T, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (a.reshape(B, T, self.heads, self.hd).transpose(0, 2, 1, 3) for a in (q, k, v))
        q, k = _fast_mrope_apply(q, k, pos, self.inv_freq, self.selector)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask=mask)
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(dim), nn.RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, pos, mask):
        x = x + self.attn(self.n1(x), pos, mask)
        return x + self.mlp(self.n2(x))


class MosaicCaptioner(nn.Module):
    def __init__(self, patch_dim, vision_dim, dim, vocab, heads=4, layers=2):
        super().__init__()
        self.vision = nn.Sequential(nn.Linear(patch_dim, vision_dim), nn.GELU(), nn.Linear(vision_dim, vision_dim))
        self.projector = nn.Sequential(nn.Linear(vision_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def __call__(self, patches, tokens, pos):
        img = self.projector(self.vision(patches))
        x = mx.concatenate([img, self.embed(tokens)], axis=1)
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, pos, mask)
        return self.head(self.norm(x))[:, img.shape[1]:, :]


GRID, TILE, NCOL = 2, 4, 6
PALETTE = np.random.default_rng(7).uniform(0, 1, size=(NCOL, 3)).astype(np.float32)
BOS, VOCAB, CAP = NCOL, NCOL + 1, 2


def make_batch(rng, n):
    major = rng.integers(0, NCOL, size=n)
    minor = (major + rng.integers(1, NCOL, size=n)) % NCOL
    cols = major[:, None].repeat(GRID * GRID, axis=1)
    cols[np.arange(n), rng.integers(0, GRID * GRID, size=n)] = minor
    patches = PALETTE[cols][:, :, None, :].repeat(TILE * TILE, axis=2)
    patches = patches + rng.normal(0, 0.08, size=patches.shape).astype(np.float32)
    patches = patches.reshape(n, GRID * GRID, TILE * TILE * 3)
    caption = np.stack([major, minor], axis=1)
    inp = np.concatenate([np.full((n, 1), BOS), caption[:, :-1]], axis=1)
    return mx.array(patches), mx.array(inp), mx.array(caption)


def positions(n):
    hh, ww = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    img = np.stack([np.zeros(GRID * GRID), hh.ravel(), ww.ravel()])
    start = GRID
    txt = np.arange(start, start + CAP)[None].repeat(3, axis=0)
    p = np.concatenate([img, txt], axis=1).astype(np.int32)  # (3, T)
    return mx.array(np.broadcast_to(p[:, None, :], (3, n, p.shape[1])).copy())


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = MosaicCaptioner(TILE * TILE * 3, 48, 64, VOCAB)
    model.vision.freeze()
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)

    def loss_fn(m, patches, inp, tgt, pos):
        logits = m(patches, inp, pos)
        return nn.losses.cross_entropy(logits, tgt, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    bs = 32
    pos = positions(bs)
    vp, vi, vt = make_batch(np.random.default_rng(123), bs)
    t0 = time.time()
    for it in range(1, 201):
        p, i, t = make_batch(rng, bs)
        loss, grads = step(model, p, i, t, pos)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 25 == 0:
            logits = model(vp, vi, pos)
            acc = (mx.argmax(logits, axis=-1) == vt).mean().item()
            print(f"step {it:4d} | loss {loss.item():.4f} | val caption acc {acc*100:5.1f}% | {time.time()-t0:.1f}s", flush=True)
    print("done")


if __name__ == "__main__":
    main()
