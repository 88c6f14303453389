# Kiln glaze labels: fine-tune a tiny causal transformer on prompt/completion
# records ("glaze code" -> "shelf label") with the prompt tokens masked out.
import math
import time
from functools import partial
from typing import Dict, List

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

LETTERS = "abcdefgh"


class CharChatTokenizer:
    """Character tokenizer with a minimal chat template."""

    def __init__(self):
        self.pad_token_id = 0
        self.bos_token_id = 1
        self.eos_token_id = 2
        self.user_id = 3
        self.asst_id = 4
        self.vocab = {c: i + 5 for i, c in enumerate(LETTERS + " ")}
        self.inv = {v: k for k, v in self.vocab.items()}
        self.vocab_size = 5 + len(self.vocab)

    def encode(self, text):
        return [self.vocab[c] for c in text]

    def decode(self, ids):
        return "".join(self.inv.get(i, "") for i in ids)

    def apply_chat_template(self, messages, tools=None, add_generation_prompt=False):
        if isinstance(messages, dict):
            messages = [messages]
        ids = [self.bos_token_id]
        for m in messages:
            if m["role"] == "user":
                ids += [self.user_id] + self.encode(m["content"])
            else:
                ids += [self.asst_id] + self.encode(m["content"]) + [self.eos_token_id]
        if add_generation_prompt:
            ids.append(self.asst_id)
        return ids


class CompletionsDataset:
    """
    A dataset for prompt-completion data in the format of {"prompt": ..., "completion": ...}
    """

    def __init__(
        self,
        data: List[Dict[str, str]],
        tokenizer,
        prompt_key: str,
        completion_key: str,
        mask_prompt: bool,
    ):
        self._data = data
        self.prompt_key = prompt_key
        self.completion_key = completion_key
        self.mask_prompt = mask_prompt
        self.tokenizer = tokenizer

    def process(self, d):
        tools = d.get("tools", None)
        messages = [
            {"role": "user", "content": d[self.prompt_key]},
            {"role": "assistant", "content": d[self.completion_key]},
        ]
        tokens = _apply_chat_template_safe(self.tokenizer, messages, tools=tools)
        if self.mask_prompt:
            offset = len(
                self.tokenizer.apply_chat_template(
                    messages[0], tools=tools, add_generation_prompt=True
                )
            )
            return (tokens, offset)

        return (tokens, 0)

    def __getitem__(self, idx: int):
        return self._data[idx]

    def __len__(self):
        return len(self._data)


class CacheDataset:
    def __init__(self, data):
        self._data = data
        self._proc_data = [None] * len(data)

    def itemlen(self, idx):
        return len(self._data[idx])

    def __getitem__(self, idx):
        if self._proc_data[idx] is None:
            self._proc_data[idx] = self._data.process(self._data[idx])
        return self._proc_data[idx]

    def __len__(self):
        return len(self._data)


def iterate_batches(dataset, batch_size, rng, train=True):
    idx = np.arange(len(dataset))
    while True:
        order = rng.permutation(idx) if train else idx
        for s in range(0, len(order) - batch_size + 1, batch_size):
            items = [dataset[int(j)] for j in order[s : s + batch_size]]
            lengths = [len(t) for t, _ in items]
            width = 16
            arr = np.zeros((batch_size, width), np.int32)
            for r, (t, _) in enumerate(items):
                arr[r, : len(t)] = t
            offs = [(o, l) for (_, o), l in zip(items, lengths)]
            yield mx.array(arr), mx.array(offs)
        if not train:
            return


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=48, heads=4, layers=2, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.ln(h))


def default_loss(model, batch, lengths):
    inputs = batch[:, :-1]
    targets = batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps < lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.astype(mx.float32).sum() / ntoks, ntoks


def make_records(rng, n):
    recs = []
    for _ in range(n):
        k = int(rng.integers(4, 7))
        code = "".join(rng.choice(list(LETTERS), size=k))
        recs.append({"prompt": code, "completion": code[::-1]})
    return recs


def greedy(model, tok, prompt, max_new=8):
    ids = tok.apply_chat_template({"role": "user", "content": prompt}, add_generation_prompt=True)
    out = []
    for _ in range(max_new):
        logits = model(mx.array([ids]))[0, -1]
        nxt = int(mx.argmax(logits).item())
        if nxt == tok.eos_token_id:
            break
        out.append(nxt)
        ids.append(nxt)
    return tok.decode(out)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    tok = CharChatTokenizer()
    train_recs = make_records(rng, 4000)
    valid_recs = make_records(rng, 128)
    train_set = CacheDataset(CompletionsDataset(train_recs, tok, "prompt", "completion", True))
    valid_set = CacheDataset(CompletionsDataset(valid_recs, tok, "prompt", "completion", True))

    model = TinyLM(tok.vocab_size)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, default_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(batch, lengths):
        (loss, nt), grads = loss_and_grad(model, batch, lengths)
        opt.update(model, grads)
        return loss, nt

    def evaluate():
        tot, n = 0.0, 0
        for b, l in iterate_batches(valid_set, 64, rng, train=False):
            loss, nt = default_loss(model, b, l)
            tot += loss.item() * nt.item()
            n += nt.item()
        return tot / n

    iters = 200
    print(f"Training: {len(train_recs)} records, {len(valid_recs)} valid, vocab {tok.vocab_size}")
    print(f"Iter 0: Val loss {evaluate():.3f}")
    t0 = time.time()
    losses, ntoks = 0.0, 0
    for it, (batch, lengths) in zip(range(1, iters + 1), iterate_batches(train_set, 32, rng)):
        loss, nt = step(batch, lengths)
        mx.eval(state, loss)
        losses += loss.item()
        ntoks += nt.item()
        if it % 40 == 0:
            print(f"Iter {it}: Train loss {losses / 40:.3f}, Trained tokens {ntoks}, It/sec {40 / (time.time() - t0):.1f}")
            losses = 0.0
            t0 = time.time()
        if it % 80 == 0:
            print(f"Iter {it}: Val loss {evaluate():.3f}")

    hits = sum(greedy(model, tok, r["prompt"]) == r["completion"] for r in valid_recs[:50])
    print(f"Exact match on 50 valid prompts: {hits} of 50")
    print(f"Sample: {valid_recs[0]['prompt']} -> {greedy(model, tok, valid_recs[0]['prompt'])}")


if __name__ == "__main__":
    main()
