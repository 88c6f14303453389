# Tiny text-to-SQL LoRA-style fine-tune (char level), modelled on mlx-examples lora/lora.py + data/wikisql.py.
# The data loader strips <s>/</s> and leaves it to the tokenizer to add them.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAIRS = [
    ("who is ceo of acme", "SELECT ceo FROM t WHERE co=acme"),
    ("age of bob", "SELECT age FROM t WHERE n=bob"),
    ("list all towns", "SELECT town FROM t"),
    ("max score", "SELECT MAX(s) FROM t"),
    ("count rows", "SELECT COUNT(*) FROM t"),
    ("price of tea", "SELECT p FROM t WHERE i=tea"),
    ("min year", "SELECT MIN(y) FROM t"),
    ("team of ann", "SELECT team FROM t WHERE n=ann"),
]


class CharTokenizer:
    """HF-LlamaTokenizer-like: adds BOS by default, EOS only when add_eos_token=True."""

    def __init__(self, text, add_bos_token=True, add_eos_token=False):
        chars = sorted(set(text))
        self.pad_id, self.bos_token_id, self.eos_token_id = 0, 1, 2
        self.stoi = {c: i + 3 for i, c in enumerate(chars)}
        self.itos = {i: c for c, i in self.stoi.items()}
        self.vocab_size = len(chars) + 3
        self.add_bos_token = add_bos_token
        self.add_eos_token = add_eos_token

    def encode(self, s, add_special_tokens=True):
        ids = [self.stoi[c] for c in s]
        if add_special_tokens and self.add_bos_token:
            ids = [self.bos_token_id] + ids
        if add_special_tokens and self.add_eos_token:
            ids = ids + [self.eos_token_id]
        return ids

    def decode(self, ids):
        return "".join(self.itos.get(i, "") for i in ids)


def fmt(q, a=""):
    return f"Q: {q}\nA: {a}"


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=64, h=4, layers=1, max_len=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        z = self.emb(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            z = b(z, mask)
        return self.head(self.ln(z))


def loss_fn(model, inputs, targets, lengths):
    logits = model(inputs)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def iterate_batches(dset, tokenizer, batch_size, rng):
    while True:
        idx = rng.permutation(len(dset))
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            batch = [tokenizer.encode(dset[idx[i + j]]) for j in range(batch_size)]
            lengths = [len(x) for x in batch]
            arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                arr[j, : lengths[j]] = batch[j]
            arr = mx.array(arr)
            yield arr[:, :-1], arr[:, 1:], mx.array(lengths) - 1


def generate(model, tokenizer, prompt, max_tokens=40):
    ids = tokenizer.encode(prompt)
    if ids and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]
    out = []
    for _ in range(max_tokens):
        logits = model(mx.array(ids + out)[None])
        tok = int(mx.argmax(logits[0, -1]).item())
        if tok == tokenizer.eos_token_id:
            return tokenizer.decode(out), True
        out.append(tok)
    return tokenizer.decode(out), False


def main():
    np.random.seed(0)
    mx.random.seed(0)
    texts = [fmt(q, a) for q, a in PAIRS]
    tokenizer = CharTokenizer("".join(texts))
    model = TinyLM(tokenizer.vocab_size)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(0)
    batches = iterate_batches(texts, tokenizer, 4, rng)
    tic, acc_loss = time.perf_counter(), 0.0
    for it in range(1, 161):
        inputs, targets, lengths = next(batches)
        (loss, ntoks), grads = step(model, inputs, targets, lengths)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc_loss += loss.item()
        if it % 20 == 0:
            toc = time.perf_counter()
            print(f"Iter {it}: Train loss {acc_loss / 20:.3f}, It/sec {20 / (toc - tic):.2f}")
            acc_loss, tic = 0.0, time.perf_counter()

    print("Generating on the training questions:")
    stopped = exact = 0
    for q, a in PAIRS:
        text, did_stop = generate(model, tokenizer, fmt(q))
        stopped += did_stop
        exact += did_stop and text == a
        print(f"  {q!r} -> {text!r} stop={did_stop}")
    print(f"stopped {stopped}/{len(PAIRS)}  exact_match {exact}/{len(PAIRS)}")


if __name__ == "__main__":
    main()
