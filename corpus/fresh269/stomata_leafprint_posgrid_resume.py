"""Leaf-peel micrographs: regress the number of stomata (0..6) in a crop.

Stage 'low': 12x12 crops (3x3 patch grid). Training is checkpointed half way,
the objects are thrown away and the run resumes from the files.
Stage 'high': 16x16 crops (4x4 grid); the learned position table is resized
from 3x3 to 4x4 by bilinear interpolation and training continues with a new
optimizer (warm-up from lr 0). Gradients are accumulated over 2 micro-batches.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

P = 4


def make_crops(n, side, rng):
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    X = np.zeros((n, side, side, 1), np.float32)
    y = rng.integers(0, 7, size=n)
    for i in range(n):
        img = 0.15 * np.sin(0.9 * xx + rng.uniform(0, 6)) * np.ones_like(yy)   # cell-wall texture
        for _ in range(y[i]):
            cy, cx = rng.uniform(1.5, side - 1.5, size=2)
            img += np.exp(-(((yy - cy) / 0.9) ** 2 + ((xx - cx) / 0.6) ** 2))
        img += rng.normal(0, 0.2, size=img.shape)
        X[i, :, :, 0] = img
    return mx.array(X), mx.array(y.astype(np.float32))


class CountViT(nn.Module):
    def __init__(self, grid, dim=24, heads=4):
        super().__init__()
        self.grid = grid
        self.embed = nn.Linear(P * P, dim)
        self.cls_tok = mx.zeros((1, 1, dim))
        self.pos = 0.02 * mx.random.normal((1, 1 + grid * grid, dim))
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.out = nn.Linear(dim, 1)

    def __call__(self, x):
        B, H, W, _ = x.shape
        t = x.reshape(B, H // P, P, W // P, P).transpose(0, 1, 3, 2, 4).reshape(B, -1, P * P)
        t = self.embed(t)
        t = mx.concatenate([mx.broadcast_to(self.cls_tok, (B, 1, t.shape[-1])), t], axis=1) + self.pos
        h = self.n1(t)
        t = t + self.attn(h, h, h)
        t = t + self.mlp(self.n2(t))
        return 3.0 + 2.0 * self.out(t[:, 0]).squeeze(-1)


def resize_pos(pos, g_old, g_new):
    pos = np.array(pos)
    cls, grid = pos[:, :1], pos[0, 1:].reshape(g_old, g_old, -1)
    src = np.linspace(0, g_old - 1, g_new)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, g_old - 1)
    w = (src - i0)[:, None]
    rows = grid[i0] * (1 - w[:, :, None]) + grid[i1] * w[:, :, None]
    out = rows[:, i0] * (1 - w[None]) + rows[:, i1] * w[None]
    return mx.array(np.concatenate([cls, out.reshape(1, g_new * g_new, -1)], axis=1))


def huber(pred, y):
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


def mae(model, X, Y):
    return mx.abs(model(X) - Y).mean().item()


def run_steps(tag, model, opt, X, Y, Xv, Yv, first, last, rng, base_mae, micro=2, bs=32, every=20):
    grad_fn = nn.value_and_grad(model, lambda m, x, y: huber(m(x), y))
    acc_loss, n = 0.0, 0
    for step in range(first, last):
        lr_now = opt.learning_rate.item()
        g_sum = None
        for _ in range(micro):
            idx = mx.array(rng.integers(0, X.shape[0], bs))
            loss, g = grad_fn(model, X[idx], Y[idx])
            g_sum = g if g_sum is None else tree_map(lambda a, b: a + b, g_sum, g)
            acc_loss += loss.item()
            n += 1
        opt.update(model, tree_map(lambda a: a / micro, g_sum))
        mx.eval(model.parameters(), opt.state)
        if step % every == 0 or step == last - 1:
            print(f"stage={tag} step={step} lr={lr_now:.5f} huber={acc_loss / n:.4f} "
                  f"val_mae={mae(model, Xv, Yv):.3f} mean_guess_mae={base_mae:.3f}")
            acc_loss, n = 0.0, 0


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    Xl, Yl = make_crops(1500, 12, rng)
    Xlv, Ylv = make_crops(300, 12, rng)
    Xh, Yh = make_crops(1500, 16, rng)
    Xhv, Yhv = make_crops(300, 16, rng)
    base_l = mx.abs(Ylv - Yl.mean()).mean().item()
    base_h = mx.abs(Yhv - Yh.mean()).mean().item()
    print(f"data low={Xl.shape} high={Xh.shape} count_range=0..6")

    total, warm = 120, 15
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, total - warm, 2e-4)], [warm])
    model = CountViT(grid=3)
    opt = optim.Adam(learning_rate=sched)
    run_steps("low", model, opt, Xl, Yl, Xlv, Ylv, 0, 60, rng, base_l)

    with tempfile.TemporaryDirectory() as d:
        wpath, opath = os.path.join(d, "w.safetensors"), os.path.join(d, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint saved step=60 files={sorted(os.listdir(d))}")
        del model, opt
        model = CountViT(grid=3)
        model.load_weights(wpath)
        opt = optim.Adam(learning_rate=sched)
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        print(f"resumed opt_step={opt.state['step'].item()} val_mae={mae(model, Xlv, Ylv):.3f}")
    run_steps("low", model, opt, Xl, Yl, Xlv, Ylv, 60, total, rng, base_l)

    big = CountViT(grid=4)
    params = dict(tree_flatten(model.parameters()))
    params["pos"] = resize_pos(params["pos"], 3, 4)
    big.update(tree_unflatten(list(params.items())))
    print(f"pos table resized {model.pos.shape} -> {big.pos.shape}  val_mae_before_tuning={mae(big, Xhv, Yhv):.3f}")
    sched2 = optim.join_schedules([optim.linear_schedule(0.0, 1.5e-3, warm),
                                   optim.cosine_decay(1.5e-3, total - warm, 1e-4)], [warm])
    opt2 = optim.Adam(learning_rate=sched2)
    run_steps("high", big, opt2, Xh, Yh, Xhv, Yhv, 0, total, rng, base_h)
    print(f"finished seconds={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
