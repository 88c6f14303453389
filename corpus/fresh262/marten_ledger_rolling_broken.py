"""Tiny character LM on synthetic fur-trade ledger lines, then a rolling
log-likelihood report on held-out ledger pages (lm-eval style scorer)."""
import math
import random
import time
from types import SimpleNamespace

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

POSTS = ["york", "moose", "albany", "severn", "churchill"]
PELTS = ["marten", "beaver", "otter", "lynx", "mink", "fox"]


def ledger_line():
    post = random.choice(POSTS)
    pelt = random.choice(PELTS)
    n = random.randint(1, 40)
    price = {"marten": 3, "beaver": 2, "otter": 5, "lynx": 4, "mink": 1, "fox": 6}[pelt]
    return f"{post}:{n} {pelt} @{price}={n * price};"


def ledger_page(n_chars):
    s = ""
    while len(s) < n_chars:
        s += ledger_line() + " "
    return s[:n_chars]


train_corpus = "".join(ledger_page(3000) for _ in range(4))
held_out_pages = [ledger_page(48) for _ in range(16)]

chars = sorted(set(train_corpus) | set("".join(held_out_pages)))
PAD = 0
stoi = {c: i + 1 for i, c in enumerate(chars)}
VOCAB = len(chars) + 1


class CharTokenizer:
    def encode(self, s, add_special_tokens=True):
        return [stoi[c] for c in s]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=32, heads=2, layers=1, ctx=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.tok(x) + self.pos(mx.arange(T))
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln(h))


def _pad_inputs(inputs):
    lengths = np.array([len(x) for x in inputs])
    maxlen = lengths.max()
    padded = np.stack(
        [np.pad(x, (0, maxlen - len(x))) for x in inputs],
        axis=0,
    )
    return mx.array(padded), mx.array(lengths)


class LedgerScorer:
    def __init__(self, model, tokenizer, batch_size=8):
        self._model = model
        self.tokenizer = tokenizer
        self._batch_size = batch_size
        self.use_chat_template = False

    def _score_fn(self, inputs):
        inputs, lengths = _pad_inputs(inputs)
        inputs, targets = inputs[..., :-1], inputs[..., 1:]
        T = inputs.shape[1]
        logits = self._model(inputs)
        log_probs = nn.log_softmax(logits.astype(mx.float32))
        scores = mx.take_along_axis(log_probs, targets[..., mx.newaxis], axis=-1)[..., 0]
        is_greedy = targets == mx.argmax(logits, axis=-1)
        is_greedy = mx.where(mx.arange(T) < lengths[:, None], is_greedy, False)
        mx.eval(scores, is_greedy)
        return scores, lengths, is_greedy

    def _tokenize(self, texts):
        return [
            tuple(
                self.tokenizer.encode(t, add_special_tokens=not self.use_chat_template)
            )
            for t in texts
        ]

    def loglikelihood_rolling(self, requests):
        inputs = self._tokenize([req.args[0] for req in requests])
        all_scores = []
        for i in range(0, len(texts), self._batch_size):
            batch = texts[i : i + self._batch_size]
            scores, lengths, _ = self._score_fn(batch)
            mask = mx.arange(scores.shape[-1]) < lengths[:, None]
            all_scores.extend((mask * scores).sum(axis=-1).tolist())

        return all_scores


tokenizer = CharTokenizer()
data = np.array(tokenizer.encode(train_corpus), dtype=np.int32)
CTX, BATCH, STEPS = 32, 16, 150


def get_batch():
    idx = np.random.randint(0, len(data) - CTX - 1, size=BATCH)
    x = np.stack([data[i : i + CTX] for i in idx])
    y = np.stack([data[i + 1 : i + CTX + 1] for i in idx])
    return mx.array(x), mx.array(y)


model = TinyLM(VOCAB)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, STEPS, 2e-4), weight_decay=0.01)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
print(f"vocab {VOCAB}  train chars {len(data)}  held-out pages {len(held_out_pages)}")
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = get_batch()
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 25 == 0:
        print(f"step {step:4d}  train loss {loss.item():.4f}  ({time.time() - t0:.1f}s)")

model.eval()
requests = [SimpleNamespace(args=(page,)) for page in held_out_pages]
scorer = LedgerScorer(model, tokenizer, batch_size=8)
page_logprobs = scorer.loglikelihood_rolling(requests)
n_pred = sum(len(p) - 1 for p in held_out_pages)
nll = -sum(page_logprobs) / n_pred
counts = np.bincount(data, minlength=VOCAB).astype(np.float64) + 1.0
unigram = -np.mean([math.log(counts[stoi[c]] / counts.sum()) for p in held_out_pages for c in p[1:]])
print(f"held-out pages scored: {len(page_logprobs)}")
print(f"first page log-likelihood {page_logprobs[0]:.2f} nats over {len(held_out_pages[0]) - 1} chars")
print(f"held-out nll/char {nll:.4f}  bits/char {nll / math.log(2):.3f}  perplexity {math.exp(nll):.3f}")
print(f"unigram baseline nll/char {unigram:.4f}  perplexity {math.exp(unigram):.3f}")
