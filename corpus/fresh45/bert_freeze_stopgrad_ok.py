"""Tiny BERT-style sequence classifier: freeze embeddings + lower encoder layers,
fine-tune the upper layer and the classification head.

Task: a sequence of 16 tokens (vocab 24) is positive if token 5 appears more often
than token 9.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("finetune")

VOCAB, SEQ, DIM, LAYERS = 24, 16, 64, 3


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.norm = nn.LayerNorm(DIM)

    def __call__(self, ids):
        return self.norm(self.tok(ids) + self.pos(mx.arange(ids.shape[1])))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.TransformerEncoderLayer(DIM, 4, 2 * DIM) for _ in range(LAYERS)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x, None)
        return x


class BertCore(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()

    def __call__(self, ids):
        return self.encoder(self.embeddings(ids))


class BertWithHead(nn.Module):
    def __init__(self, num_labels=2):
        super().__init__()
        self.bert = BertCore()
        self.head = nn.Sequential(nn.Linear(DIM, DIM), nn.GELU(), nn.Linear(DIM, num_labels))

    def __call__(self, ids):
        h = self.bert(ids)
        return self.head(mx.mean(h, axis=1))

    def freeze_bert(self, num_layers=None):
        """Freeze BERT parameters (embeddings + the lowest `num_layers` encoder layers)."""
        if num_layers is None:
            self.bert.freeze()
        else:
            self.bert.embeddings.freeze()
            for i in range(num_layers):
                if i < len(self.bert.encoder.layers):
                    self.bert.encoder.layers[i].freeze()


def make_batch(rng, n):
    ids = rng.integers(0, VOCAB, size=(n, SEQ))
    y = ((ids == 5).sum(1) > (ids == 9).sum(1)).astype(np.int32)
    return mx.array(ids), mx.array(y)


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    model = BertWithHead()
    model.freeze_bert(num_layers=1)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("trainable params %d / %d", n_train, n_all)

    def loss_fn(model, ids, y):
        return nn.losses.cross_entropy(model(ids), y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
    val_ids, val_y = make_batch(rng, 1024)
    t0 = time.time()
    running = []
    for step in range(1, 151):
        ids, y = make_batch(rng, 64)
        loss, grads = step_fn(model, ids, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if step % 15 == 0:
            acc = mx.mean(mx.argmax(model(val_ids), axis=-1) == val_y).item()
            log.info("step %4d | train_ce %.4f | val_acc %.3f | %.1fs", step, np.mean(running[-15:]), acc, time.time() - t0)
    log.info("finished: majority-class val acc %.3f", max(val_y.mean().item(), 1 - val_y.mean().item()))


if __name__ == "__main__":
    main()
