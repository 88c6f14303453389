"""Masked-LM pretraining of a tiny ModernBERT-style encoder on synthetic
'quire' sequences (arithmetic runs over a small vocabulary)."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

PAD, CLS, SEP, MASK = 0, 1, 2, 3
N_SPECIAL = 4
N_WORDS = 24
VOCAB = N_SPECIAL + N_WORDS
SEQ = 20


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, bias=False)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.mlp_norm = nn.LayerNorm(dim, bias=False)
        self.wi = nn.Linear(dim, 2 * 2 * dim, bias=False)
        self.wo = nn.Linear(2 * dim, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def __call__(self, x, mask):
        h = self.attn_norm(x)
        x = x + self.drop(self.attn(h, h, h, mask=mask))
        a, g = mx.split(self.wi(self.mlp_norm(x)), 2, axis=-1)
        return x + self.drop(self.wo(nn.gelu(a) * g))


class TinyModernBertForMaskedLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=64, heads=4, layers=2, max_len=64, dropout=0.1):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.pos_embeddings = nn.Embedding(max_len, dim)
        self.emb_norm = nn.LayerNorm(dim, bias=False)
        self.emb_drop = nn.Dropout(dropout)
        self.layers = [EncoderLayer(dim, heads, dropout) for _ in range(layers)]
        self.final_norm = nn.LayerNorm(dim, bias=False)
        self.head_dense = nn.Linear(dim, dim, bias=False)
        self.head_norm = nn.LayerNorm(dim, bias=False)
        self.decoder_bias = mx.zeros((vocab,))

    def __call__(self, input_ids, attention_mask=None, labels=None):
        B, L = input_ids.shape
        x = self.tok_embeddings(input_ids) + self.pos_embeddings(mx.arange(L))
        x = self.emb_drop(self.emb_norm(x))
        mask = None
        if attention_mask is not None:
            mask = mx.where(attention_mask[:, None, None, :] > 0, 0.0, -1e9).astype(x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        h = self.head_norm(nn.gelu(self.head_dense(self.final_norm(x))))
        logits = self.tok_embeddings.as_linear(h) + self.decoder_bias
        out = {"logits": logits}
        if labels is not None:
            valid = labels != -100
            safe = mx.where(valid, labels, 0)
            ce = nn.losses.cross_entropy(logits, safe, reduction="none")
            out["loss"] = (ce * valid).sum() / mx.maximum(valid.sum(), 1)
        return out


def make_corpus(n, rng):
    rows = []
    for _ in range(n):
        start = rng.integers(0, N_WORDS)
        step = rng.integers(1, 4)
        length = rng.integers(SEQ - 8, SEQ - 1)
        body = [(start + step * i) % N_WORDS + N_SPECIAL for i in range(length)]
        rows.append([CLS] + body + [SEP])
    return rows


class DataCollatorForMaskedLanguageModeling:
    def __init__(self, max_length=SEQ, mlm_probability=0.15, seed=0):
        self.max_length = max_length
        self.p = mlm_probability
        self.rng = np.random.default_rng(seed)

    def __call__(self, rows):
        L = self.max_length
        ids = np.full((len(rows), L), PAD, dtype=np.int32)
        att = np.zeros((len(rows), L), dtype=np.int32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            att[i, : len(r)] = 1
        labels = ids.copy()
        special = ids < N_SPECIAL
        chosen = (self.rng.random(ids.shape) < self.p) & ~special
        labels[~chosen] = -100
        roll = self.rng.random(ids.shape)
        ids = ids.copy()
        ids[chosen & (roll < 0.8)] = MASK
        rand_pos = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[rand_pos] = self.rng.integers(N_SPECIAL, VOCAB, size=int(rand_pos.sum()))
        return {"input_ids": mx.array(ids), "attention_mask": mx.array(att), "labels": mx.array(labels)}


class Trainer:
    def __init__(self, model, optimizer, train_rows, eval_rows, batch_size=32,
                 grad_accum=2, epochs=4, logging_steps=5):
        self.model = model
        self.optimizer = optimizer
        self.train_rows = train_rows
        self.eval_rows = eval_rows
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.epochs = epochs
        self.logging_steps = logging_steps
        self.collator = DataCollatorForMaskedLanguageModeling()
        self.global_step = 0

        def loss_fn(model, batch):
            outputs = model(**batch)
            return mx.mean(outputs["loss"])

        self.loss_and_grad_fn = nn.value_and_grad(self.model, loss_fn)

        self.step_calc = mx.compile(self.loss_and_grad_fn)

        def update_fn(model, optimizer, grads):
            optimizer.update(model, grads)

        self.step_update = mx.compile(update_fn)

    def _batches(self, rows, shuffle, seed):
        order = np.arange(len(rows))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for s in range(0, len(order) - self.batch_size + 1, self.batch_size):
            yield self.collator([rows[i] for i in order[s:s + self.batch_size]])

    def evaluate(self):
        self.model.eval()
        ev = DataCollatorForMaskedLanguageModeling(seed=1234)
        tot, n, correct, count = 0.0, 0, 0, 0
        for s in range(0, len(self.eval_rows), 64):
            batch = ev(self.eval_rows[s:s + 64])
            out = self.model(**batch)
            valid = batch["labels"] != -100
            pred = out["logits"].argmax(-1)
            correct += ((pred == batch["labels"]) & valid).sum().item()
            count += valid.sum().item()
            tot += out["loss"].item()
            n += 1
        self.model.train()
        return tot / n, correct / max(count, 1)

    def train(self):
        self.model.train()
        for epoch in range(self.epochs):
            t0 = time.time()
            running, n_steps = 0.0, 0
            acc = None
            scale = 1.0 / self.grad_accum
            for batch in self._batches(self.train_rows, True, 42 + epoch):
                loss, grads = self.step_calc(self.model, batch)
                acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
                running += loss.item()
                n_steps += 1
                if n_steps % self.grad_accum == 0:
                    acc = tree_map(lambda g: g * scale, acc)
                    self.step_update(self.model, self.optimizer, acc)
                    acc = None
                    mx.eval(self.model.state, self.optimizer.state)
                    self.global_step += 1
                    if self.global_step % self.logging_steps == 0:
                        print(f"step {self.global_step:4d}  loss {running / n_steps:.4f}  "
                              f"lr {self.optimizer.learning_rate.item():.2e}")
            ev_loss, ev_acc = self.evaluate()
            print(f"epoch {epoch + 1}  train_loss {running / n_steps:.4f}  eval_loss {ev_loss:.4f}  "
                  f"masked_acc {ev_acc:.3f}  ({time.time() - t0:.1f}s)")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    train_rows = make_corpus(960, rng)
    eval_rows = make_corpus(128, rng)
    model = TinyModernBertForMaskedLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=optim.linear_schedule(1e-4, 3e-3, 10), weight_decay=0.01)
    print(f"masked-lm  vocab {VOCAB}  train {len(train_rows)}  eval {len(eval_rows)}  "
          f"chance acc {1 / N_WORDS:.3f}")
    Trainer(model, opt, train_rows, eval_rows).train()


if __name__ == "__main__":
    main()
