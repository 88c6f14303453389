"""Functional (no nn.Module) character bigram language model in MLX.

Parameters live in a plain dict; the loss takes the token ids, the targets and
the parameter dict; updates use AdamW.apply_gradients.  Reports perplexity.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim

text = ("the quick brown fox jumps over the lazy dog. " * 40 +
        "a stitch in time saves nine. " * 40 +
        "all that glitters is not gold. " * 40)
vocab = sorted(set(text))
stoi = {c: i for i, c in enumerate(vocab)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
V, D = len(vocab), 24

rng = np.random.default_rng(8)
mx.random.seed(8)
params = {
    "emb": mx.random.normal((V, D)) * 0.1,
    "w": mx.random.normal((D, V)) * (1 / math.sqrt(D)),
    "b": mx.zeros((V,)),
}


def loss_fn(tokens, targets, params):
    h = mx.tanh(params["emb"][tokens])
    logits = h @ params["w"] + params["b"]
    lse = mx.logsumexp(logits, axis=-1)
    picked = mx.take_along_axis(logits, targets[:, None], axis=-1).squeeze(-1)
    return (lse - picked).mean()


grad_fn = mx.value_and_grad(loss_fn)
opt = optim.AdamW(learning_rate=3e-2, weight_decay=0.0)

for step in range(1, 601):
    idx = rng.integers(0, len(data) - 1, 256)
    tokens, targets = mx.array(data[idx]), mx.array(data[idx + 1])
    loss, grads = grad_fn(tokens, targets, params)
    params = opt.apply_gradients(grads, params)
    mx.eval(params, opt.state, loss)
    if step % 100 == 0:
        print(f"step {step:4d} | nll {loss.item():.4f} | ppl {math.exp(loss.item()):7.3f}")
