"""Tiny character-level next-token model trained with two optimizers:
AdamW for the embedding + output head, SGD with momentum for the hidden blocks."""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("charlm")

TEXT = ("the quick brown fox jumps over the lazy dog. " * 40 +
        "pack my box with five dozen liquor jugs. " * 40)
VOCAB = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(VOCAB)}
DATA = mx.array([stoi[c] for c in TEXT], dtype=mx.int32)
CTX, BATCH = 16, 32


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.RMSNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class CharLM(nn.Module):
    def __init__(self, vocab, d=48, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.h = [Block(d) for _ in range(n_layer)]
        self.lm_head = nn.Linear(d, vocab)

    def __call__(self, idx):
        x = self.wte(idx)
        for blk in self.h:
            x = blk(x)
        return self.lm_head(x)


def get_batch():
    ix = mx.random.randint(0, DATA.size - CTX - 1, (BATCH,))
    offs = ix[:, None] + mx.arange(CTX)[None, :]
    return DATA[offs], DATA[offs + 1]


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def main():
    mx.random.seed(0)
    model = CharLM(len(VOCAB))
    mx.eval(model.parameters())
    adam_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    sgd_opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    t0 = time.time()
    for step in range(1, 301):
        x, y = get_batch()
        loss, grads = loss_and_grad(model, x, y)
        adam_grads = {k: grads[k] for k in ("wte", "lm_head")}
        block_grads = {"h": grads["h"]}

        # each optimizer only gets its own gradient group
        adam_opt.update(model, adam_grads)
        mx.eval(model.parameters(), adam_opt.state)

        sgd_opt.update(model, block_grads)
        mx.eval(model.parameters(), sgd_opt.state)

        if step % 25 == 0 or step == 1:
            log.info("step %4d | nll %.4f | %.1fs", step, loss.item(), time.time() - t0)

    x, y = get_batch()
    log.info("final nll %.4f", loss_fn(model, x, y).item())


if __name__ == "__main__":
    main()
