"""Per-sample next-token loss smoke + a short LoRA-free fine-tune of a tiny char LM.

The loss helper mirrors the one in our eval script: per-token cross entropy on
[B, T, V] logits, averaged. Progress goes out as JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
    "where there is smoke there is fire. "
) * 40
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int32)
V, CTX, B = len(chars), 32, 32
rng = np.random.default_rng(5)


class TinyLM(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.emb = nn.Embedding(V, dims)
        self.pos = nn.Embedding(CTX, dims)
        self.block = nn.TransformerEncoderLayer(dims, num_heads=4, mlp_dims=128)
        self.out = nn.Linear(dims, V)
        self._mask = nn.MultiHeadAttention.create_additive_causal_mask(CTX)

    def __call__(self, x):
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))
        h = self.block(h, self._mask)
        return self.out(h)


def get_batch():
    idx = rng.integers(0, len(data) - CTX - 1, size=B)
    x = np.stack([data[i:i + CTX] for i in idx])
    y = np.stack([data[i + 1:i + CTX + 1] for i in idx])
    return mx.array(x), mx.array(y)


def lm_loss(model, x, y):
    logits = model(x)
    # logits: [B, T, vocab], y: [B, T]
    loss_tokens = mx.losses.cross_entropy(logits, y)
    return mx.mean(loss_tokens)


def main():
    mx.random.seed(5)
    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    vg = nn.value_and_grad(model, lm_loss)
    xv, yv = get_batch()
    t0 = time.perf_counter()
    for step in range(1, 401):
        x, y = get_batch()
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0:
            val = lm_loss(model, xv, yv).item()
            print(json.dumps({"step": step, "train_loss": round(loss.item(), 4),
                              "val_loss": round(val, 4), "val_ppl": round(math.exp(val), 2),
                              "elapsed_s": round(time.perf_counter() - t0, 1)}))
    print(json.dumps({"done": True, "uniform_ppl": V}))


if __name__ == "__main__":
    main()
