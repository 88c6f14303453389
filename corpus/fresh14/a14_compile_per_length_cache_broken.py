"""Next-token model on synthetic variable-length sequences (copy-shift task)."""
import logging
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("seqtrain")

VOCAB, DIM = 32, 32


class TinySeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(DIM, DIM)
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        pos = mx.arange(L)[:, None] * mx.arange(DIM)[None, :] * 0.01
        h = self.emb(x) + mx.sin(pos)
        return self.out(nn.gelu(self.mix(h)))


def masked_ce(model, x, y, mask):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * mask).sum() / mask.sum()


def sample_batch(rng, bs=4):
    L = rng.randint(4, 1500)
    x = mx.random.randint(0, VOCAB, (bs, L))
    y = (x + 1) % VOCAB
    mask = mx.ones((bs, L))
    return x, y, mask


class Trainer:
    def __init__(self):
        self.model = TinySeq()
        self.opt = optim.Adam(learning_rate=1e-3)
        self.state = [self.model.state, self.opt.state]
        self._step = partial(mx.compile, inputs=self.state, outputs=self.state)(self._raw_step)

    def _raw_step(self, x, y, mask):
        loss, grads = nn.value_and_grad(self.model, masked_ce)(self.model, x, y, mask)
        self.opt.update(self.model, grads)
        return loss

    def train_step(self, x, y, mask):
        loss = self._step(x, y, mask)
        mx.eval(self.state, loss)
        return loss.item()


def main():
    mx.random.seed(0)
    rng = random.Random(0)
    tr = Trainer()
    run = 0.0
    for it in range(1, 1301):
        x, y, mask = sample_batch(rng)
        loss = tr.train_step(x, y, mask)
        run = 0.9 * run + 0.1 * loss if it > 1 else loss
        if it % 100 == 0:
            log.info("iter %d  loss %.4f  (seq len %d)", it, run, x.shape[1])
    log.info("finished")


if __name__ == "__main__":
    main()
