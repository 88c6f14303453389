"""Tiny next-token finetune with padded variable-length batches (chuk-style loop)."""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("finetune")

VOCAB = 24          # 0 is the pad token, 1..23 are real tokens
PAD_ID = 0
MAX_LEN = 20
BATCH = 16


def make_batches(n_batches, rng):
    """Arithmetic progressions mod 23 of random length, right-padded with PAD_ID."""
    batches = []
    for _ in range(n_batches):
        inputs = np.full((BATCH, MAX_LEN), PAD_ID, dtype=np.int32)
        targets = np.full((BATCH, MAX_LEN), PAD_ID, dtype=np.int32)
        lengths = np.zeros((BATCH,), dtype=np.int32)
        for b in range(BATCH):
            n = int(rng.integers(6, MAX_LEN + 2))
            start, step = int(rng.integers(0, 23)), int(rng.integers(1, 4))
            seq = [(start + k * step) % 23 + 1 for k in range(n)]
            inputs[b, : n - 1] = seq[:-1]
            targets[b, : n - 1] = seq[1:]
            lengths[b] = n - 1
        batches.append((inputs, targets, lengths))
    return batches


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=32, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.rnn(self.embed(x))
        return self.head(h), None


def chukloss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    # mask out the padding positions
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets)
    ce = ce * length_mask
    ntoks = length_mask.sum().item()
    ce = ce.sum() / ntoks
    return ce, ntoks


class BatchProcessor:
    def __init__(self, model, optimizer, loss_function):
        self.model = model
        self.optimizer = optimizer
        self.loss_and_grad = nn.value_and_grad(model, loss_function)
        self.loss_function = loss_function

    def _prepare(self, batch):
        input_tensor, target_tensor, lengths = batch
        lengths = mx.array(lengths)
        return mx.array(input_tensor), mx.array(target_tensor), lengths

    def process_batch(self, batch):
        t0 = time.time()
        input_tensor, target_tensor, lengths = self._prepare(batch)
        (lvalue, ntoks), grad = self.loss_and_grad(self.model, input_tensor, target_tensor, lengths)
        self.optimizer.update(self.model, grad)
        mx.eval(self.model.parameters(), self.optimizer.state, lvalue)
        return {"loss": lvalue.item(), "ntoks": ntoks, "batch_time": time.time() - t0}

    def evaluate(self, batches):
        tot, toks, correct = 0.0, 0, 0
        for batch in batches:
            input_tensor, target_tensor, lengths = self._prepare(batch)
            lvalue, ntoks = self.loss_function(self.model, input_tensor, target_tensor, lengths)
            logits, _ = self.model(input_tensor)
            real = np.arange(MAX_LEN)[None, :] < batch[2][:, None]
            pred = np.array(mx.argmax(logits, axis=-1))
            correct += int(((pred == batch[1]) & real).sum())
            tot += lvalue.item() * ntoks
            toks += ntoks
        return tot / toks, correct / toks


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    train = make_batches(40, rng)
    val = make_batches(6, rng)

    model = TinyLM(VOCAB)
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    proc = BatchProcessor(model, optimizer, chukloss)

    init_loss, _ = proc.evaluate(val)
    logger.info("init val loss %.4f (a fresh model should sit near ln(V)=%.4f)", init_loss, math.log(VOCAB))

    iteration = 0
    for epoch in range(8):
        losses = []
        for batch in train:
            stats = proc.process_batch(batch)
            losses.append(stats["loss"])
            iteration += 1
        val_loss, val_acc = proc.evaluate(val)
        logger.info(
            "epoch %d iter %d train_loss %.4f val_loss %.4f val_ppl %.3f val_token_acc %.3f",
            epoch + 1, iteration, float(np.mean(losses)), val_loss, math.exp(min(val_loss, 50.0)), val_acc,
        )
    logger.info("done: final val ppl %.3f (vocab %d), token accuracy %.3f",
                math.exp(min(val_loss, 50.0)), VOCAB, val_acc)


if __name__ == "__main__":
    main()
