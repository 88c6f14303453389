"""Conditional sequence regressor: a condition encoder turns the side input into a few memory
tokens, the decoder blocks cross-attend to that memory. Blocks use gradient checkpointing
(mlx-lm style patch of the layer class' __call__) to save memory."""
import json
import math

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D_IN, D_COND, DIM, N_MEM, SEQ = 8, 8, 32, 4, 8


def grad_checkpoint(layer):
    fn = type(layer).__call__

    def checkpointed_fn(model, *args, **kwargs):
        def inner_fn(params, *args, **kwargs):
            model.update(params)
            return fn(model, *args, **kwargs)

        return mx.checkpoint(inner_fn)(model.trainable_parameters(), *args, **kwargs)

    type(layer).__call__ = checkpointed_fn


class CondEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D_COND, 64), nn.GELU(), nn.Linear(64, N_MEM * DIM))

    def __call__(self, c):
        return self.net(c).reshape(c.shape[0], N_MEM, DIM)


class SharedContext:
    """Plain holder for per-forward state shared by the decoder blocks."""
    memory = None


class Block(nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.q = nn.Linear(DIM, DIM)
        self.kv = nn.Linear(DIM, 2 * DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.ctx = ctx

    def __call__(self, x, mem):
        q = self.q(self.norm(x))
        k, v = mx.split(self.kv(mem), 2, axis=-1)
        a = mx.softmax(q @ k.transpose(0, 2, 1) / math.sqrt(DIM), axis=-1) @ v
        x = x + a
        return x + self.mlp(x)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, DIM)
        self.cond = CondEncoder()
        self.ctx = SharedContext()
        self.blocks = [Block(self.ctx), Block(self.ctx)]
        self.out = nn.Linear(DIM, 1)

    def __call__(self, x, c):
        mem = self.cond(c)
        h = self.inp(x)
        for blk in self.blocks:
            h = blk(h, mem)
        return self.out(h).squeeze(-1)


def make_data(n, rng, w, u):
    x = rng.normal(size=(n, SEQ, D_IN)).astype(np.float32)
    c = rng.normal(size=(n, D_COND)).astype(np.float32)
    y = np.tanh(x @ w) * np.sign(c @ u)[:, None] + 0.5 * np.sin(3 * (c @ u))[:, None]
    return mx.array(x), mx.array(c), mx.array(y.astype(np.float32))


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    w, u = rng.normal(size=D_IN) / 2, rng.normal(size=D_COND) / 2
    x, c, y = make_data(4096, rng, w, u)
    xv, cv, yv = make_data(512, rng, w, u)

    model = Model()
    grad_checkpoint(model.blocks[0])
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, xb, cb, yb):
        return nn.losses.mse_loss(m(xb, cb), yb)

    vg = nn.value_and_grad(model, loss_fn)
    for step in range(1, 241):
        idx = mx.array(rng.integers(0, x.shape[0], 128))
        loss, grads = vg(model, x[idx], c[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 30 == 0:
            val = loss_fn(model, xv, cv, yv).item()
            print(json.dumps({"step": step, "train_mse": round(loss.item(), 4), "val_mse": round(val, 4)}))


if __name__ == "__main__":
    main()
