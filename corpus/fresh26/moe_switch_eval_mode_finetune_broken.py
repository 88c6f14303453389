"""Fine-tune a tiny mixture-of-experts next-token model on a toy corpus.

The expert layer mirrors mlx-lm's SwitchGLU: routing indices are wrapped in
mx.stop_gradient only while the module is in training mode.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("moe-ft")

VOCAB, DIM, HID, N_EXP, TOP_K, CTX = 48, 32, 64, 4, 2, 16


class SwitchMLP(nn.Module):
    """Per-expert weights gathered with mx.gather_mm (SwitchGLU-style)."""

    def __init__(self, dim, hidden, num_experts):
        super().__init__()
        s = 1.0 / math.sqrt(dim)
        self.w_up = mx.random.uniform(-s, s, (num_experts, dim, hidden))
        s2 = 1.0 / math.sqrt(hidden)
        self.w_down = mx.random.uniform(-s2, s2, (num_experts, hidden, dim))

    def __call__(self, x, indices):
        # x: (N, D), indices: (N, k)
        if self.training:
            indices = mx.stop_gradient(indices)
        xe = mx.expand_dims(x, (-2, -3))              # (N, 1, 1, D)
        h = mx.gather_mm(xe, self.w_up, rhs_indices=indices)   # (N, k, 1, H)
        h = nn.silu(h)
        y = mx.gather_mm(h, self.w_down, rhs_indices=indices)  # (N, k, 1, D)
        return y.squeeze(-2)


class MoEBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.router = nn.Linear(DIM, N_EXP, bias=False)
        self.experts = SwitchMLP(DIM, HID, N_EXP)

    def __call__(self, x):
        B, L, D = x.shape
        h = self.norm(x).reshape(-1, D)
        gates = mx.softmax(self.router(h), axis=-1)
        inds = mx.argpartition(-gates, kth=TOP_K - 1, axis=-1)[..., :TOP_K]
        scores = mx.take_along_axis(gates, mx.stop_gradient(inds), axis=-1)
        scores = scores / scores.sum(-1, keepdims=True)
        y = self.experts(h, inds)
        y = (y * scores[..., None]).sum(-2)
        return x + y.reshape(B, L, D)


class TinyMoELM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(CTX, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.moe = MoEBlock()
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.embed(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = x + self.attn(x, x, x, mask)
        x = self.moe(x)
        return self.out(x)


def make_corpus(n_tokens, seed):
    # deterministic-ish grammar: counting sequences with random restarts
    rng = random.Random(seed)
    toks, cur = [], rng.randrange(VOCAB)
    while len(toks) < n_tokens:
        toks.append(cur)
        cur = (cur + 3) % VOCAB if rng.random() > 0.08 else rng.randrange(VOCAB)
    return toks


def batches(tokens, bs, rng):
    while True:
        rows = []
        for _ in range(bs):
            i = rng.randrange(len(tokens) - CTX - 1)
            rows.append(tokens[i:i + CTX + 1])
        arr = mx.array(rows)
        yield arr[:, :-1], arr[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(0)
    rng = random.Random(0)
    train_tokens = make_corpus(20000, 1)
    val_tokens = make_corpus(4000, 2)

    model = TinyMoELM()
    mx.eval(model.parameters())

    # baseline held-out loss of the "pretrained" checkpoint before fine-tuning
    model.eval()
    vx, vy = next(batches(val_tokens, 64, random.Random(5)))
    log.info("baseline val loss %.4f", loss_fn(model, vx, vy).item())

    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    it = batches(train_tokens, 32, rng)
    for step in range(1, 181):
        x, y = next(it)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0:
            log.info("step %d train loss %.4f val loss %.4f", step, loss.item(),
                     loss_fn(model, vx, vy).item())
    log.info("done")


if __name__ == "__main__":
    main()
