"""Extractive span QA on a toy ledger corpus: a tiny BERT-style encoder
predicts the start and end token of the answer inside the context segment."""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 64
SEQ = 28
PAD, CLS, SEP = 0, 1, 2
OPEN, CLOSE = 3, 4          # tokens that bracket a cargo entry in the ledger
FIRST_WORD = 8


class TinyBertForQA(nn.Module):
    def __init__(self, dims=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.typ = nn.Embedding(2, dims)
        self.norm = nn.LayerNorm(dims)
        self.encoder = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.qa_outputs = nn.Linear(dims, 2)

    def __call__(self, input_ids, token_type_ids, attention_mask):
        pos = mx.arange(input_ids.shape[1])
        x = self.tok(input_ids) + self.pos(pos) + self.typ(token_type_ids)
        x = self.norm(x)
        mask = (1.0 - attention_mask[:, None, None, :].astype(x.dtype)) * -1e9
        h = self.encoder(x, mask)
        logits = self.qa_outputs(h)
        return logits[..., 0], logits[..., 1]


def make_dataset(n, rng):
    """Question: [CLS] q [SEP]; context holds several bracketed entries, the
    answer is the entry whose first word equals q."""
    ids = np.zeros((n, SEQ), dtype=np.int32)
    tt = np.zeros((n, SEQ), dtype=np.int32)
    am = np.zeros((n, SEQ), dtype=np.int32)
    sp = np.zeros((n,), dtype=np.int32)
    ep = np.zeros((n,), dtype=np.int32)
    for i in range(n):
        n_entries = rng.integers(2, 4)
        heads = rng.choice(np.arange(FIRST_WORD, VOCAB), size=n_entries, replace=False)
        target = rng.integers(n_entries)
        seq = [CLS, int(heads[target]), SEP]
        ctx_start = len(seq)
        for k, h in enumerate(heads):
            filler = rng.integers(FIRST_WORD, VOCAB, size=rng.integers(0, 3)).tolist()
            body = rng.integers(FIRST_WORD, VOCAB, size=rng.integers(1, 4)).tolist()
            seq += filler
            s = len(seq) + 1
            seq += [OPEN, int(h)] + body + [CLOSE]
            e = len(seq) - 2
            if k == target:
                sp[i], ep[i] = s, e
        seq += [SEP]
        seq = seq[:SEQ]
        L = len(seq)
        ids[i, :L] = seq
        tt[i, ctx_start:L] = 1
        am[i, :L] = 1
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am,
            "start_positions": sp, "end_positions": ep}


class Split:
    def __init__(self, d):
        self.d = d

    def __len__(self):
        return len(self.d["input_ids"])

    def __getitem__(self, idx):
        return {k: v[idx] for k, v in self.d.items()}


def batch_iterate(dataset, batch_size, seed):
    perm = np.random.default_rng(seed).permutation(len(dataset))
    for s in range(0, len(dataset) - batch_size + 1, batch_size):
        yield dataset[perm[s: s + batch_size]]


def as_arrays(batch):
    return map(mx.array, (batch['input_ids'], batch['token_type_ids'], batch['attention_mask'],
                          batch['start_positions'], batch['end_positions']))


def loss_fn(model, input_ids, token_type_ids, attention_mask, start_positions,
            end_positions, reduction="mean"):
    start_logits, end_logits = model(
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        attention_mask=attention_mask)
    loss = compute_loss(start_logits, end_logits, start_positions, end_positions,
                        reduction=reduction)
    return loss


def compute_loss(start_logits, end_logits, start_positions, end_positions, reduction="mean"):
    slosses = nn.losses.cross_entropy(start_logits, start_positions, reduction=reduction)
    elosses = nn.losses.cross_entropy(end_logits, end_positions, reduction=reduction)
    loss = (slosses + elosses) / 2
    return loss


def eval_fn(dataset, model, batch_size=16):
    loss = 0
    for s in range(0, len(dataset), batch_size):
        batch = dataset[np.arange(s, min(s + batch_size, len(dataset)))]
        input_ids, token_type_ids, attention_mask, start_positions, end_positions = as_arrays(batch)
        losses = loss_fn(model, input_ids, token_type_ids, attention_mask,
                         start_positions, end_positions, reduction="none")
        loss += mx.sum(losses).item()
    return loss / len(dataset)


def exact_match(dataset, model, batch_size=64):
    hits = 0
    for s in range(0, len(dataset), batch_size):
        batch = dataset[np.arange(s, min(s + batch_size, len(dataset)))]
        input_ids, token_type_ids, attention_mask, sp, ep = as_arrays(batch)
        sl, el = model(input_ids, token_type_ids, attention_mask)
        ok = (mx.argmax(sl, axis=-1) == sp) & (mx.argmax(el, axis=-1) == ep)
        hits += ok.sum().item()
    return hits / len(dataset)


def train(model, train_ds, valid_ds, args):
    optimizer = optim.AdamW(learning_rate=args["lr"])
    mx.eval(model.parameters())
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(input_ids, token_type_ids, attention_mask, start_positions, end_positions):
        loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
        loss, grads = loss_and_grad_fn(model, input_ids, token_type_ids, attention_mask,
                                       start_positions, end_positions)
        optimizer.update(model, grads)
        return loss

    losses = []
    it = 0
    tic = time.perf_counter()
    for epoch in range(args["epochs"]):
        model.train()
        for batch in batch_iterate(train_ds, args["batch_size"], seed=epoch):
            loss = step(*as_arrays(batch))
            mx.eval(state)
            losses.append(loss.item())
            it += 1
            if it % args["steps_per_report"] == 0:
                train_loss = np.mean(losses)
                toc = time.perf_counter()
                print(f"Iter {it}: Train loss {train_loss:.3f}, "
                      f"Train ppl {math.exp(train_loss):.3f}, "
                      f"It/sec {args['steps_per_report'] / (toc - tic):.3f}")
                losses = []
                tic = time.perf_counter()
            if it % args["steps_per_eval"] == 0:
                model.eval()
                val_loss = eval_fn(valid_ds, model, batch_size=args["batch_size"])
                print(f"Iter {it}: Val loss {val_loss:.3f}, Val ppl {math.exp(val_loss):.3f}, "
                      f"Val EM {exact_match(valid_ds, model):.3f}")
                model.train()
                tic = time.perf_counter()


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    train_ds = Split(make_dataset(1600, rng))
    valid_ds = Split(make_dataset(256, rng))
    test_ds = Split(make_dataset(256, rng))
    print(f"train {len(train_ds)} / valid {len(valid_ds)} / test {len(test_ds)} questions, "
          f"seq {SEQ}, uniform-guess loss {math.log(SEQ):.3f}")
    model = TinyBertForQA()
    args = dict(lr=2e-3, epochs=4, batch_size=32, steps_per_report=25, steps_per_eval=100)
    model.eval()
    print(f"Untrained: Val loss {eval_fn(valid_ds, model, 32):.3f}")
    train(model, train_ds, valid_ds, args)
    model.eval()
    test_loss = eval_fn(test_ds, model, batch_size=32)
    print(f"Test loss {test_loss:.3f}, Test ppl {math.exp(test_loss):.3f}, "
          f"Test EM {exact_match(test_ds, model):.3f}")


if __name__ == "__main__":
    main()
