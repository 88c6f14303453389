"""Chat SFT of a tiny char-level LM on stockroom bin questions.

Batching follows mlx_lm.tuner.trainer.iterate_batches / default_loss.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

ITEMS = ["bolts", "nuts", "washers", "hinges", "rivets", "springs", "clamps", "gaskets"]


class CharTokenizer:
    def __init__(self):
        chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789 ?.:|"))
        self.bos, self.eos = 1, 2
        self.stoi = {c: i + 3 for i, c in enumerate(chars)}
        self.vocab_size = len(chars) + 3

    def encode(self, s):
        return [self.stoi[c] for c in s]

    def apply_chat_template(self, messages):
        ids = [self.bos]
        for m in messages:
            ids += self.encode(f"{m['role'][0]}:{m['content']}|")
        return ids + [self.eos]


class ChatDataset:
    def __init__(self, data, tokenizer, chat_key="messages", mask_prompt=True):
        self._data = data
        self.chat_key = chat_key
        self.mask_prompt = mask_prompt
        self.tokenizer = tokenizer

    def process(self, d):
        messages = d[self.chat_key]
        tokens = self.tokenizer.apply_chat_template(messages)
        if self.mask_prompt:
            offset = len(self.tokenizer.apply_chat_template(messages[:-1])) - 1
            return (tokens, offset)
        return (tokens, 0)

    def __getitem__(self, idx: int):
        return self._data[idx]

    def __len__(self):
        return len(self._data)


def make_records(n, rng):
    recs = []
    for _ in range(n):
        b = int(rng.integers(1, 40))
        item = ITEMS[int(rng.integers(len(ITEMS)))]
        qty = (b * 7 + 3 * len(item)) % 90 + 5
        recs.append({"messages": [
            {"role": "user", "content": f"how many {item} in bin {b}?"},
            {"role": "assistant", "content": f"bin {b} holds {qty} {item}."},
        ]})
    return recs


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=4, layers=2, max_len=160):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = [nn.TransformerEncoderLayer(dims, heads, 4 * dims, norm_first=True) for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def default_loss(model, batch, lengths):
    inputs = batch[:, :-1]
    targets = batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    ce = ce.astype(mx.float32).sum() / ntoks
    return ce, ntoks


def iterate_batches(dataset, batch_size, max_seq_length, loop=False, seed=None):
    # Sort by length:
    len_fn = lambda idx: len(dataset[idx][0])
    idx = sorted(range(len(dataset)), key=len_fn)
    if len(dataset) < batch_size:
        raise ValueError(f"Dataset must have at least batch_size={batch_size} examples")
    batch_idx = [idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    if seed:
        np.random.seed(seed)
    while True:
        indices = np.random.permutation(len(batch_idx))
        for i in indices:
            batch = [dataset[j] for j in batch_idx[i]]
            if len(batch[0]) == 2:
                batch, offsets = zip(*batch)
            else:
                offsets = [0] * len(batch)
            lengths = [len(x) for x in batch]
            pad_to = 32
            max_length_in_batch = 1 + pad_to * ((max(lengths) + pad_to - 1) // pad_to)
            max_length_in_batch = min(max_length_in_batch, max_seq_length)
            batch_arr = np.zeros((batch_size, max_length_in_batch), np.int32)
            for j in range(batch_size):
                truncated_length = min(lengths[j], max_seq_length)
                batch_arr[j, :truncated_length] = batch[j][:truncated_length]
                lengths[j] = truncated_length
            yield mx.array(batch_arr), mx.array(list(zip(offsets, lengths)))
        if not loop:
            break


def evaluate(model, dataset, batch_size, max_seq_length):
    total, ntok = 0.0, 0
    for batch, lengths in iterate_batches(dataset, batch_size, max_seq_length):
        loss, n = default_loss(model, batch, lengths)
        total += loss.item() * n.item()
        ntok += n.item()
    return total / ntok


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tok = CharTokenizer()
    train_set = ChatDataset(make_records(1200, rng), tok)
    valid_set = ChatDataset(make_records(64, rng), tok)
    model = TinyLM(tok.vocab_size)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, default_loss)

    iters, batch_size, max_seq = 160, 8, 128
    print(f"Training: {len(train_set)} train / {len(valid_set)} valid chats, {iters} iters")
    print(f"Iter 0: Val loss {evaluate(model, valid_set, batch_size, max_seq):.3f}")
    losses, ntoks, tic = 0.0, 0, time.perf_counter()
    for it, (batch, lengths) in zip(
        range(1, iters + 1), iterate_batches(train_set, batch_size, max_seq, loop=True, seed=3)
    ):
        (lvalue, toks), grad = loss_and_grad(model, batch, lengths)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue)
        losses += lvalue.item()
        ntoks += toks.item()
        if it % 20 == 0:
            dt = time.perf_counter() - tic
            print(f"Iter {it}: Train loss {losses / 20:.3f}, Learning Rate {opt.learning_rate.item():.3e}, "
                  f"It/sec {20 / dt:.3f}, Tokens/sec {ntoks / dt:.1f}")
            losses, ntoks, tic = 0.0, 0, time.perf_counter()
        if it % 80 == 0:
            print(f"Iter {it}: Val loss {evaluate(model, valid_set, batch_size, max_seq):.3f}")


if __name__ == "__main__":
    main()
