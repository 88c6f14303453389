# Pottery kiln log: a 3-block encoder is pretrained on a big cone-bend dataset
# from the old gas kiln, then adapted to a small dataset from the new electric
# kiln with gradual unfreezing (head -> top block -> all blocks), lower step
# sizes for lower blocks, and a checkpoint / resume in the middle of stage 3.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

SEED = 5
D_IN = 9


def kiln_data(rng, n, shift):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    y = (np.tanh(x[:, 0] + 0.5 * x[:, 1]) * 2.0 + 0.6 * x[:, 2] * x[:, 3]
         + shift * np.sin(x[:, 4] * 1.5) + 0.3 * x[:, 5]
         + 0.15 * rng.normal(size=n))
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


class Block(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out)

    def __call__(self, x):
        return nn.silu(self.norm(self.lin(x)))


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block(D_IN, 64), Block(64, 64), Block(64, 64)]
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def n_trainable(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


LAYER_SCALE = {"blocks.0": 0.1, "blocks.1": 0.3, "blocks.2": 1.0, "head": 1.0}


def scale_grads(grads):
    def f(path, g):
        for stem, s in LAYER_SCALE.items():
            if path.startswith(stem):
                return g * s
        return g
    return tree_map_with_path(f, grads)


def fit(model, x, y, steps, lr, rng, tag, log_every, start=0, opt=None, scaled=False):
    opt = opt or optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, mse)
    for step in range(start + 1, start + steps + 1):
        idx = mx.array(rng.integers(0, x.shape[0], size=64))
        loss, g = step_fn(model, x[idx], y[idx])
        if scaled:
            g = scale_grads(g)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if log_every and step % log_every == 0:
            print(f"[{tag}] step {step:4d} loss {loss.item():.4f}", flush=True)
    return opt


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    xs, ys = kiln_data(rng, 20000, shift=0.0)
    xt, yt = kiln_data(rng, 600, shift=1.2)
    xv, yv = kiln_data(rng, 2000, shift=1.2)
    model = KilnNet()
    mx.eval(model.parameters())

    print(f"pretrain on gas kiln: {xs.shape[0]} firings, trainable {n_trainable(model)}")
    fit(model, xs, ys, 1500, 2e-3, rng, "pretrain", log_every=500)
    base_val = mse(model, xv, yv).item()
    print(f"electric kiln val mse with the gas-kiln model as is: {base_val:.4f}")

    # a fresh head for the new kiln
    model.head = nn.Linear(64, 1)
    mx.eval(model.head.parameters())
    print(f"val mse after head reset: {mse(model, xv, yv).item():.4f}")

    # stage 1: head only
    model.freeze()
    model.head.unfreeze()
    snap = np.array(model.blocks[0].lin.weight)
    print(f"stage 1 (head only) trainable {n_trainable(model)}")
    fit(model, xt, yt, 300, 3e-3, rng, "stage1", log_every=100)
    print(f"stage 1 val mse {mse(model, xv, yv).item():.4f}")

    # stage 2: + top block
    model.blocks[2].unfreeze()
    print(f"stage 2 (head + top block) trainable {n_trainable(model)}")
    fit(model, xt, yt, 300, 1e-3, rng, "stage2", log_every=0, scaled=True)
    print(f"stage 2 val mse {mse(model, xv, yv).item():.4f}")

    # stage 3: everything, lower blocks with smaller steps; checkpoint halfway
    model.unfreeze()
    print(f"stage 3 (all blocks) trainable {n_trainable(model)}")
    opt = fit(model, xt, yt, 200, 5e-4, rng, "stage3", log_every=100, scaled=True)
    with tempfile.TemporaryDirectory() as d:
        wpath = os.path.join(d, "kiln.safetensors")
        opath = os.path.join(d, "kiln_opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        val_at_ckpt = mse(model, xv, yv).item()
        print(f"checkpoint at stage 3 step 200, val mse {val_at_ckpt:.4f}")

        model = KilnNet()
        model.load_weights(wpath)
        from mlx.utils import tree_unflatten
        opt = optim.AdamW(learning_rate=5e-4, weight_decay=1e-4)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters())
        print(f"resumed, val mse {mse(model, xv, yv).item():.4f} (same as checkpoint)")
    fit(model, xt, yt, 200, 5e-4, rng, "stage3", log_every=100, start=200, opt=opt,
        scaled=True)
    final = mse(model, xv, yv).item()
    drift = float(np.abs(np.array(model.blocks[0].lin.weight) - snap).mean())
    print(f"final electric kiln val mse {final:.4f} (gas-kiln model as is {base_val:.4f})")
    print(f"mean |change| of block 0 weights since stage 1: {drift:.5f}")
    print(f"noise floor mse about {0.15 ** 2:.4f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
