# SFT on chat-log chunks: learn to write "my" replies given the other person's message.
# Chunking follows an iMessage-style densify step: sender text is labelled -100.
import random
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

CHARS = "\n abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:!?.,'"
BOS, PAD = 1, 0
stoi = {c: i + 2 for i, c in enumerate(CHARS)}
itos = {i: c for c, i in stoi.items()}
VOCAB = len(CHARS) + 2


def tokenizer(text):
    # behaves like a HF tokenizer call: BOS is prepended on every call
    return {"input_ids": [BOS] + [stoi[c] for c in text]}


def make_pairs(n):
    words = ["lunch", "movie", "train", "late", "park", "coffee", "game", "call", "beach", "dinner"]
    pairs = []
    for _ in range(n):
        w = random.choice(words)
        pairs.append((f"are we still on for {w}?", f"yes, {w} works!" if random.random() < 0.5 else f"no, skip {w}."))
    return pairs


def densify_chat(chat_messages, tokenizer, chunk_length=96, prior_context_length=16):
    chunks = []
    current_chunk = {'input_ids': [], 'labels': []}
    sys_prompt = 'System: '
    masked_out_tokens = np.array(tokenizer(sys_prompt)['input_ids'])
    for sender, me in chat_messages:
        sender_message = f'\nUser: {sender}\n{sys_prompt}'
        me_message = f'{me}'
        sender_tokens = tokenizer(sender_message)['input_ids']
        me_tokens = tokenizer(me_message)['input_ids']

        if len(chunks) > 0 and len(current_chunk['input_ids']) == 0:
            context_tokens = chunks[-1]['input_ids'][-prior_context_length:]
            current_chunk['input_ids'].extend(context_tokens)
            current_chunk['labels'].extend([-100 for _ in context_tokens])

        if (chunk_length - len(current_chunk['input_ids'])) < len(sender_tokens):
            chunks.append(current_chunk)
            current_chunk = {'input_ids': list(sender_tokens), 'labels': [-100 for _ in sender_tokens]}
        else:
            current_chunk['input_ids'].extend(sender_tokens)
            current_chunk['labels'].extend([-100] * len(sender_tokens))

        max_ctx = max(0, chunk_length - len(current_chunk['input_ids']))
        current_chunk['input_ids'].extend(me_tokens[:max_ctx])
        current_chunk['labels'].extend(me_tokens[:max_ctx])

        if len(current_chunk['input_ids']) >= chunk_length:
            current_chunk['labels'] = current_chunk['labels']
            chunks.append(current_chunk)
            current_chunk = {'input_ids': [], 'labels': []}

    if current_chunk['input_ids']:
        current_chunk['labels'] = current_chunk['labels']
        chunks.append(current_chunk)

    return [c for c in chunks if not np.all(np.array(c['labels']) == -100)]


def to_arrays(chunks, length):
    x = np.full((len(chunks), length), PAD, dtype=np.int32)
    y = np.full((len(chunks), length), -100, dtype=np.int32)
    for i, c in enumerate(chunks):
        ids, lab = c['input_ids'][:length], c['labels'][:length]
        x[i, :len(ids)] = ids
        y[i, :len(lab)] = lab
    return mx.array(x), mx.array(y)


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=48, layers=1, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = [nn.TransformerEncoderLayer(dim, 4, 4 * dim) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def loss_fn(model, x, y):
    logits = model(x[:, :-1])
    targets = y[:, 1:]
    valid = targets != -100
    ce = nn.losses.cross_entropy(logits, mx.where(valid, targets, 0), reduction="none")
    return (ce * valid).sum() / mx.maximum(valid.sum(), 1)


def main():
    t0 = time.time()
    SEQ = 64
    train_chunks = densify_chat(make_pairs(300), tokenizer, chunk_length=SEQ, prior_context_length=16)
    val_chunks = densify_chat(make_pairs(60), tokenizer, chunk_length=SEQ, prior_context_length=16)
    xtr, ytr = to_arrays(train_chunks, SEQ)
    xva, yva = to_arrays(val_chunks, SEQ)
    print(f"chunks: train={xtr.shape[0]} val={xva.shape[0]} seq={SEQ} "
          f"label tokens/chunk={float((ytr != -100).sum()) / xtr.shape[0]:.1f}")

    model = TinyLM(VOCAB, max_len=SEQ)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for it in range(1, 121):
        idx = mx.array(np.random.randint(0, n, size=8))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0:
            vl = loss_fn(model, xva, yva)
            print(f"it {it:03d} | masked-xent train {loss.item():.4f} | val {vl.item():.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
