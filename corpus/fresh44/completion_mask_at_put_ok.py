"""SFT of a tiny chat model on a toy "shift every digit by one" task.

Chat layout per example:
    <bos> <user> d1 d2 d3 d4 <assistant> e1 e2 e3 e4 <eos> <pad>...
Only tokens from the assistant turn on are trained (train_on_completions).
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sft")

PAD, BOS, USER, ASSISTANT, EOS = 10, 11, 12, 13, 14
VOCAB = 15
N_DIGITS = 4
SEQ = 1 + 1 + N_DIGITS + 1 + N_DIGITS + 1 + 2  # two trailing pads


def make_batch(rng, n):
    q = rng.integers(0, 10, size=(n, N_DIGITS))
    a = (q + 1) % 10
    rows = []
    for qi, ai in zip(q, a):
        row = [BOS, USER, *qi.tolist(), ASSISTANT, *ai.tolist(), EOS]
        row += [PAD] * (SEQ - len(row))
        rows.append(row)
    return mx.array(np.array(rows, dtype=np.int32))


class TinyChatLM(nn.Module):
    def __init__(self, dims=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.blocks = [nn.TransformerEncoderLayer(dims, heads, mlp_dims=2 * dims,
                                                  norm_first=True)
                       for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, VOCAB)

    def __call__(self, ids):
        L = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.norm(h))


class CompletionTrainer:
    def __init__(self, model, assistant_id, train_on_completions=True):
        self.model = model
        self.assistant_id = assistant_id
        self.train_on_completions = train_on_completions

    def loss_fn(self, model, ids):
        logits = model(ids)[:, :-1]
        shift_labels = ids[:, 1:]
        loss = nn.losses.cross_entropy(logits, shift_labels, reduction="none")
        loss_mask = (shift_labels != PAD).astype(loss.dtype)

        # Mask prompt tokens (train on completions only)
        if self.train_on_completions and self.assistant_id is not None:
            mask_rows = []
            for i in range(shift_labels.shape[0]):
                labels_list = shift_labels[i].tolist()
                in_completion = False
                mask_row = []
                for tok in labels_list:
                    if tok == self.assistant_id:
                        in_completion = True
                    mask_row.append(1.0 if in_completion else 0.0)
                mask_rows.append(mask_row)
            completion_mask = mx.array(mask_rows, dtype=loss.dtype)
            loss_mask = loss_mask * completion_mask

        return (loss * loss_mask).sum() / mx.maximum(loss_mask.sum(), 1)


def answer_accuracy(model, ids):
    logits = model(ids)[:, :-1]
    pred = mx.argmax(logits, axis=-1)
    start = 2 + N_DIGITS  # position of <assistant> in the inputs
    sl = slice(start, start + N_DIGITS)
    tok_acc = mx.mean(pred[:, sl] == ids[:, 1:][:, sl]).item()
    seq_acc = mx.mean(mx.all(pred[:, sl] == ids[:, 1:][:, sl], axis=1)).item()
    return tok_acc, seq_acc


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = TinyChatLM()
    trainer = CompletionTrainer(model, ASSISTANT)
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, trainer.loss_fn)
    val = make_batch(rng, 256)

    steps, log_every = 240, 30
    acc = 0.0
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        batch = make_batch(rng, 32)
        loss, grads = grad_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        if step % log_every == 0:
            tok_acc, seq_acc = answer_accuracy(model, val)
            log.info("step=%d loss=%.4f answer_tok_acc=%.3f answer_seq_acc=%.3f "
                     "sec=%.1f", step, acc / log_every, tok_acc, seq_acc,
                     time.perf_counter() - t0)
            acc = 0.0
    log.info("done")


if __name__ == "__main__":
    main()
