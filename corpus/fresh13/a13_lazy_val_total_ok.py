"""Small next-token model on a synthetic token stream: train for a fixed number of
steps, then report the validation loss over the whole held-out split.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, CTX, DIM = 64, 6, 48
VAL_BATCH = 16


def token_stream(n, seed):
    # order-2 Markov chain with a fixed random transition table
    table = mx.random.randint(0, V, (V, V), key=mx.random.key(7))
    k = mx.random.split(mx.random.key(seed), 2)
    noise = mx.random.uniform(shape=(n,), key=k[0]) < 0.15
    rnd = mx.random.randint(0, V, (n,), key=k[1])
    import numpy as np
    t, noise, rnd = np.array(table), np.array(noise), np.array(rnd)
    out = np.zeros(n, dtype=np.int32)
    out[0], out[1] = 1, 2
    for i in range(2, n):
        out[i] = rnd[i] if noise[i] else t[out[i - 2], out[i - 1]]
    return mx.array(out)


def windows(stream):
    n = stream.shape[0] - CTX
    idx = mx.arange(n)[:, None] + mx.arange(CTX + 1)[None, :]
    w = stream[idx]
    return w[:, :CTX], w[:, CTX]


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, DIM)
        self.mix = nn.Linear(CTX * DIM, 128)
        self.out = nn.Linear(128, V)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.gelu(self.mix(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def eval_val(model, xv, yv):
    total_loss = mx.array(0.0)
    n_batches = xv.shape[0] // VAL_BATCH
    for b in range(n_batches):
        sl = slice(b * VAL_BATCH, (b + 1) * VAL_BATCH)
        total_loss = total_loss + loss_fn(model, xv[sl], yv[sl])
        mx.eval(total_loss)
    mx.eval(total_loss)
    return total_loss.item() / n_batches


def main():
    mx.random.seed(0)
    xtr, ytr = windows(token_stream(40_000, 1))
    xva, yva = windows(token_stream(240_000, 2))
    model = TinyLM()
    opt = optim.AdamW(learning_rate=2e-3)
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(1, 1201):
        idx = mx.random.randint(0, xtr.shape[0], (64,))
        loss, g = vg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 200 == 0:
            print(f"step {step:5d} | train_loss {loss.item():.4f} | {time.time() - t0:.1f}s", flush=True)
    print(f"running final validation over {xva.shape[0] // VAL_BATCH} batches ...", flush=True)
    vl = eval_val(model, xva, yva)
    print(f"val_loss {vl:.4f} | val_ppl {math.exp(vl):.2f} | total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
