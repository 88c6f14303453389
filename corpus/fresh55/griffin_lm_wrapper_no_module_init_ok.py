"""Tiny Griffin-style recurrent LM (gated linear recurrence + MLP), next-token
training on a synthetic 'counting with skips' language.  Top-level wrapper
mirrors recurrent_gemma's LanguageModel(config) layout."""
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("griffin-tiny")


@dataclass
class ModelArgs:
    model_type: str = "recurrent_gemma"
    vocab_size: int = 24
    hidden_size: int = 48
    num_layers: int = 2
    mlp_mult: int = 2


class RGLRU(nn.Module):
    """Real-gated linear recurrent unit, sequential scan over time."""

    def __init__(self, d):
        super().__init__()
        self.input_gate = nn.Linear(d, d)
        self.a_gate = nn.Linear(d, d)
        self.a_param = mx.full((d,), 2.0)

    def __call__(self, x):
        B, T, D = x.shape
        i_t = mx.sigmoid(self.input_gate(x))
        r_t = mx.sigmoid(self.a_gate(x))
        log_a = -8.0 * r_t * nn.softplus(self.a_param)
        a = mx.exp(log_a)
        gated = x * i_t * mx.sqrt(mx.maximum(1 - a * a, 1e-6))
        h = mx.zeros((B, D))
        outs = []
        for t in range(T):
            h = a[:, t] * h + gated[:, t]
            outs.append(h)
        return mx.stack(outs, axis=1)


class ResidualBlock(nn.Module):
    def __init__(self, args):
        super().__init__()
        d = args.hidden_size
        self.norm1 = nn.RMSNorm(d)
        self.rec = RGLRU(d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.RMSNorm(d)
        self.up = nn.Linear(d, d * args.mlp_mult)
        self.down = nn.Linear(d * args.mlp_mult, d)

    def __call__(self, x):
        x = x + self.out(self.rec(self.norm1(x)))
        return x + self.down(nn.gelu(self.up(self.norm2(x))))


class Griffin(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [ResidualBlock(args) for _ in range(args.num_layers)]
        self.final_norm = nn.RMSNorm(args.hidden_size)

    def __call__(self, tokens):
        x = self.embed_tokens(tokens) * math.sqrt(self.embed_tokens.weight.shape[1])
        for layer in self.layers:
            x = layer(x)
        return self.final_norm(x)


class LanguageModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.args = config
        self.model = Griffin(config)
        self.model_type = config.model_type
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def __call__(self, tokens):
        return self.lm_head(self.model(tokens))


def make_corpus(rng, n, T, V):
    # each sequence counts upward mod V with a per-sequence stride in {1,2,3}
    starts = rng.integers(0, V, size=n)
    strides = rng.integers(1, 4, size=n)
    seq = (starts[:, None] + strides[:, None] * np.arange(T + 1)[None, :]) % V
    return seq.astype(np.int32)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    args = ModelArgs()
    T = 12
    data = make_corpus(rng, 768, T, args.vocab_size)
    val = make_corpus(rng, 128, T, args.vocab_size)

    model = LanguageModel(args)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        logits = m(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    bs = 32
    steps_per_epoch = len(data) // bs
    t0 = time.time()
    for epoch in range(6):
        perm = rng.permutation(len(data))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            batch = mx.array(data[idx])
            loss, grads = step_fn(model, batch[:, :-1], batch[:, 1:])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vb = mx.array(val)
        vlogits = model(vb[:, :-1])
        vloss = nn.losses.cross_entropy(vlogits, vb[:, 1:], reduction="mean").item()
        # accuracy on the last 6 positions (stride is identifiable by then)
        acc = (mx.argmax(vlogits[:, 6:], axis=-1) == vb[:, 7:]).astype(mx.float32).mean().item()
        log.info("epoch=%d train_ce=%.4f val_ce=%.4f val_tail_acc=%.3f elapsed=%.1fs",
                 epoch, tot / steps_per_epoch, vloss, acc, time.time() - t0)


if __name__ == "__main__":
    main()
