"""Pollen assay verdicts: fine-tune a tiny causal LM to answer yes / no / maybe.

Each record is a prompt of grain tokens followed by an answer marker and a
one-token verdict. Loss is taken on the response tokens only (chat-style SFT).
"""

import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.optimizers import Adam

PAD, BOS, ANS, EOS = 0, 1, 2, 3
YES, NO, MAYBE = 4, 5, 6
VERDICTS = [YES, NO, MAYBE]
FIRST_GRAIN = 7
N_GRAIN = 32
VOCAB = FIRST_GRAIN + N_GRAIN
SEQ_LEN = 14
BATCH_SIZE = 32
EPOCHS = 4
LR = 2e-3
SEED = 7


# ---- data ---------------------------------------------------------------

def make_records(n, rng):
    """Prompt = BOS + grains + ANS; the lead grain's family decides the verdict."""
    items = []
    for _ in range(n):
        k = int(rng.integers(4, 10))
        grains = rng.integers(FIRST_GRAIN, VOCAB, size=k).tolist()
        verdict = VERDICTS[(grains[0] - FIRST_GRAIN) % 3]
        items.append((grains, verdict))
    return items


def format_and_tokenize(items, seq_len):
    """Returns x (N, seq_len), y (N, 2, seq_len): targets and response mask."""
    all_x, all_y, starts, labels = [], [], [], []
    for grains, verdict in items:
        prompt = [BOS] + grains + [ANS]
        ids = prompt + [verdict, EOS]
        resp_start = len(prompt)
        orig_len = len(ids)
        if orig_len < seq_len + 1:
            ids = ids + [PAD] * (seq_len + 1 - orig_len)
        ids = ids[: seq_len + 1]

        targets = ids[1 : seq_len + 1]
        mask = [0] * seq_len
        for j in range(max(0, resp_start - 1), min(orig_len - 1, seq_len)):
            mask[j] = 1

        all_x.append(ids[:seq_len])
        all_y.append([targets, mask])
        starts.append(resp_start)
        labels.append(verdict)
    return mx.array(all_x), mx.array(all_y), np.array(starts), np.array(labels)


# ---- model ---------------------------------------------------------------

class TinyLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=4, layers=1, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = [
            nn.TransformerEncoderLayer(dims, heads, mlp_dims=4 * dims, norm_first=True)
            for _ in range(layers)
        ]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for blk in self.blocks:
            h = blk(h, causal)
        return self.head(self.norm(h))


def _masked_loss(per_tok, mask):
    numer = (per_tok * mask).sum()
    denom = mx.maximum(mask.sum(), mx.array(1.0))
    return numer / denom


def batch_loss(model, x, y):
    targets = y[:, 0, :]
    mask = y[:, 1, :].astype(mx.float32)
    logits = model(x)
    per_tok = nn.losses.cross_entropy(logits, targets, reduction="none")
    return _masked_loss(per_tok, mask)


def verdict_accuracy(model, x, starts, labels):
    logits = model(x)
    rows = mx.arange(x.shape[0])
    at_answer = logits[rows, mx.array(starts - 1)]
    pred = np.array(mx.argmax(at_answer, axis=-1))
    return float((pred == labels).mean())


# ---- training ------------------------------------------------------------

def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    train_x, train_y, _, _ = format_and_tokenize(make_records(1600, rng), SEQ_LEN)
    test_x, test_y, test_starts, test_labels = format_and_tokenize(
        make_records(400, rng), SEQ_LEN
    )
    counts = np.bincount(test_labels, minlength=VOCAB)[VERDICTS]
    majority = counts.max() / counts.sum()
    print(f"train {train_x.shape[0]}  test {test_x.shape[0]}  "
          f"majority baseline {majority:.3f}")

    model = TinyLM(VOCAB)
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, batch_loss)
    optimizer = Adam(learning_rate=LR)

    N = int(train_x.shape[0])
    steps_per_epoch = N // BATCH_SIZE
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        perm = np.random.default_rng(SEED + epoch).permutation(N)
        epoch_losses = []
        for step in range(steps_per_epoch):
            idx = mx.array(perm[step * BATCH_SIZE : (step + 1) * BATCH_SIZE])
            xb, yb = train_x[idx], train_y[idx]
            loss, grads = loss_and_grad(model, xb, yb)
            optimizer.update(model, grads)
            mx.eval(loss, model.parameters(), optimizer.state)
            epoch_losses.append(loss.item())
            if step % 25 == 0:
                print(f"  e{epoch + 1} step {step}/{steps_per_epoch}  "
                      f"loss={np.mean(epoch_losses[-25:]):.4f}  "
                      f"[{time.perf_counter() - t0:.0f}s]")
        val_loss = batch_loss(model, test_x, test_y).item()
        acc = verdict_accuracy(model, test_x, test_starts, test_labels)
        print(f"epoch {epoch + 1}/{EPOCHS}  train_loss={np.mean(epoch_losses):.4f}  "
              f"val_loss={val_loss:.4f}  verdict_acc={acc:.3f}")

    acc = verdict_accuracy(model, test_x, test_starts, test_labels)
    print(f"final verdict accuracy {acc:.3f} (majority baseline {majority:.3f})")


if __name__ == "__main__":
    main()
