# Harbour-office assistant: fine-tune a tiny char-level chat model on
# {"messages": [...]} records with the prompt masked out of the loss.
# Data path (ChatDataset / CacheDataset / iterate_batches / default_loss)
# follows mlx_lm.tuner.
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]


class Encoding(dict):
    """Small stand-in for a tokenizer's BatchEncoding."""

    def __getitem__(self, item):
        if isinstance(item, str):
            return dict.__getitem__(self, item)
        if isinstance(item, slice):
            return {k: v[item] for k, v in self.items()}
        raise KeyError(item)


class TinyChatTokenizer:
    """Char-level tokenizer with a ChatML template.

    Keyword defaults follow the transformers 5.x apply_chat_template.
    """

    def __init__(self, alphabet):
        self.vocab = SPECIALS + sorted(set(alphabet))
        self.tok2id = {t: i for i, t in enumerate(self.vocab)}
        self.pad_id, self.start_id, self.end_id = 0, 1, 2
        self.eos_token_id = self.end_id

    @property
    def vocab_size(self):
        return len(self.vocab)

    def encode(self, text):
        return [self.tok2id[c] for c in text]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids if i >= len(SPECIALS))

    def apply_chat_template(
        self,
        messages,
        tools=None,
        add_generation_prompt=False,
        tokenize=True,
        return_dict=True,
    ):
        ids = []
        for m in messages:
            ids += [self.start_id] + self.encode(m["role"] + "\n")
            ids += self.encode(m["content"]) + [self.end_id] + self.encode("\n")
        if add_generation_prompt:
            ids += [self.start_id] + self.encode("assistant\n")
        if not tokenize:
            return self.decode(ids)
        if return_dict:
            return Encoding(input_ids=ids, attention_mask=[1] * len(ids))
        return ids


class ChatDataset:
    def __init__(self, data, tokenizer, chat_key="messages", mask_prompt=False):
        self._data = data
        self.chat_key = chat_key
        self.mask_prompt = mask_prompt
        self.tokenizer = tokenizer

    def process(self, d):
        messages = d[self.chat_key]
        tools = d.get("tools", None)
        tokens = self.tokenizer.apply_chat_template(messages, tools=tools)
        if self.mask_prompt:
            add_generation_prompt = messages[-1].get("role") == "assistant"
            offset = len(
                self.tokenizer.apply_chat_template(
                    messages[:-1],
                    tools=tools,
                    add_generation_prompt=add_generation_prompt,
                )
            )
            return (tokens, offset)
        else:
            return (tokens, 0)

    def __getitem__(self, idx):
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


def iterate_batches(dataset, batch_size, max_seq_length, loop=False):
    len_fn = lambda idx: len(dataset[idx][0])
    idx = sorted(range(len(dataset)), key=len_fn)
    batch_idx = [
        idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)
    ]
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


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=2, layers=1, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(h.dtype)
        return self.head(self.blocks(h, mask))


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


# ---- synthetic harbour-office conversations -------------------------------
VESSELS = ["kestrel", "marlin", "osprey", "tern", "gannet", "puffin", "heron",
           "plover", "skua", "curlew", "dunlin", "merlin", "wren", "shag",
           "eider", "grebe"]
BERTHS = {v: f"{'abcd'[i % 4]}{(i * 7) % 10}" for i, v in enumerate(VESSELS)}
TRAIN_ASKS = ["berth {v}?", "{v} berth", "{v}: at?"]
VAL_ASKS = ["where {v}?"]
SYSTEM = "harbour office. reply with berth code."


def make_records(asks, reps):
    recs = []
    for _ in range(reps):
        for v in VESSELS:
            ask = random.choice(asks).format(v=v)
            recs.append({"messages": [
                {"role": "user", "content": ask},
                {"role": "assistant", "content": BERTHS[v]},
            ]})
    random.shuffle(recs)
    return recs


alphabet = "".join(SYSTEM + "".join(TRAIN_ASKS + VAL_ASKS) + "".join(VESSELS)
                   + "".join(BERTHS.values()) + "systemuserassistant\n ")
tok = TinyChatTokenizer(alphabet)
train_set = CacheDataset(ChatDataset(make_records(TRAIN_ASKS, 8), tok, mask_prompt=True))
valid_set = CacheDataset(ChatDataset(make_records(VAL_ASKS, 2), tok, mask_prompt=True))
print(f"train records {len(train_set)}  valid records {len(valid_set)}  vocab {tok.vocab_size}")

model = TinyLM(tok.vocab_size)
opt = optim.Adam(learning_rate=4e-3)
loss_and_grad = nn.value_and_grad(model, default_loss)


def evaluate(ds, batches=2):
    tot, n = 0.0, 0
    for k, (b, l) in enumerate(iterate_batches(ds, 8, 128)):
        if k >= batches:
            break
        loss, ntoks = default_loss(model, b, l)
        tot += loss.item() * ntoks.item()
        n += ntoks.item()
    return tot / max(n, 1)


def answer(vessel, ask):
    msgs = [{"role": "user", "content": ask.format(v=vessel)}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_dict=False)
    out = []
    for _ in range(6):
        logits = model(mx.array([ids + out]))[0, -1]
        nxt = int(mx.argmax(logits).item())
        if nxt == tok.eos_token_id:
            break
        out.append(nxt)
    return tok.decode(out)


ITERS, REPORT, EVAL = 400, 50, 200
print(f"Iter 0: Val loss {evaluate(valid_set):.3f}")
t0 = time.time()
trained_tokens, acc_loss, acc_steps = 0, 0.0, 0
for it, (batch, lengths) in zip(range(1, ITERS + 1),
                                iterate_batches(train_set, 8, 128, loop=True)):
    (loss, ntoks), grads = loss_and_grad(model, batch, lengths)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, ntoks)
    trained_tokens += ntoks.item()
    acc_loss += loss.item()
    acc_steps += 1
    if it % REPORT == 0:
        print(f"Iter {it}: Train loss {acc_loss / acc_steps:.3f}, "
              f"Learning Rate {opt.learning_rate.item():.3e}, "
              f"Trained Tokens {trained_tokens}, It/sec {it / (time.time() - t0):.2f}")
        acc_loss, acc_steps = 0.0, 0
    if it % EVAL == 0:
        print(f"Iter {it}: Val loss {evaluate(valid_set):.3f}")

print(f"final: train records {len(train_set)}, val loss {evaluate(valid_set, batches=4):.3f}")
