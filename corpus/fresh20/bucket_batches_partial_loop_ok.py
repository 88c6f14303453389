"""Pretrain a tiny next-token model on length-bucketed batches.

Batches are generated up front from length buckets (like a batch-generation
step that writes one file per batch), then the model is trained on them.
"""
import logging
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("pretrain")

BATCH_SIZE = 16
PAD = 0
WORDS = ("the quick brown fox jumps over a lazy dog while seven tiny robots "
         "sing about silicon and unified memory under the bright moon").split()

random.seed(3)
vocab = {w: i + 1 for i, w in enumerate(sorted(set(WORDS)))}
VOCAB_SIZE = len(vocab) + 1


def tokenize_dataset(n_lines):
    data = []
    for _ in range(n_lines):
        k = random.randint(4, 28)
        start = random.randrange(len(WORDS))
        data.append([vocab[WORDS[(start + j) % len(WORDS)]] for j in range(k)])
    return data


def create_buckets(sequences, bucket_width=8):
    buckets = {}
    for seq in sequences:
        key = (len(seq) + bucket_width - 1) // bucket_width * bucket_width
        buckets.setdefault(key, []).append(seq)
    return dict(sorted(buckets.items()))


def get_batch_from_buckets(buckets, max_batch_size):
    """Retrieve a batch from buckets, or a partial batch if necessary."""
    for bucket_key, bucket in list(buckets.items()):
        if len(bucket) >= max_batch_size:
            batch = bucket[:max_batch_size]
            buckets[bucket_key] = bucket[max_batch_size:]
            if not buckets[bucket_key]:
                del buckets[bucket_key]
            return batch
        elif len(bucket) > 0:  # handle partial batch case
            batch = bucket[:]
            del buckets[bucket_key]  # partial bucket used up, remove it
            return batch
    return None


def process_batch(batch):
    width = max(len(s) for s in batch)
    arr = np.full((len(batch), width), PAD, dtype=np.int32)
    for i, s in enumerate(batch):
        arr[i, : len(s)] = s
    return arr


def create_batches(buckets):
    batches = []
    batch = get_batch_from_buckets(buckets, BATCH_SIZE)
    while batch is not None:
        batches.append(process_batch(batch))
        logger.debug("processed batch %d", len(batches))
        batch = get_batch_from_buckets(buckets, BATCH_SIZE)
    return batches


class TinyLM(nn.Module):
    def __init__(self, vocab_size, dims=64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dims)
        self.rnn = nn.GRU(dims, dims)
        self.out = nn.Linear(dims, vocab_size)

    def __call__(self, x):
        return self.out(self.rnn(self.embed(x)))


def loss_fn(model, inputs, targets):
    logits = model(inputs)
    mask = (targets != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    return (ce * mask).sum() / mask.sum()


logger.info("tokenizing dataset")
sequences = tokenize_dataset(1500)
buckets = create_buckets(sequences)
logger.info("bucket sizes: %s", {k: len(v) for k, v in buckets.items()})
t0 = time.time()
batches = create_batches(buckets)
logger.info("generated %d batches in %.2fs", len(batches), time.time() - t0)

mx.random.seed(0)
model = TinyLM(VOCAB_SIZE)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

for epoch in range(4):
    random.shuffle(batches)
    losses = []
    for arr in batches:
        x = mx.array(arr)
        loss, grads = loss_and_grad(model, x[:, :-1], x[:, 1:])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    logger.info("epoch %d  mean loss %.4f  (%d batches)", epoch + 1, sum(losses) / len(losses), len(losses))
