# Tiny completion-only SFT run: prompt tokens are masked out of the loss,
# sequences are right-truncated to MAX_LEN like a real chat fine-tune.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

VOCAB = 40
PAD, BOS, SEP, EOS = 0, 1, 2, 3
MAX_LEN = 24
BATCH = 2
STEPS = 600


def make_example():
    key = [random.randint(10, VOCAB - 1) for _ in range(4)]
    # about one prompt in four carries a long preamble
    n_fill = random.randint(18, 26) if random.random() < 0.25 else random.randint(1, 5)
    filler = [random.randint(4, 9) for _ in range(n_fill)]
    prompt = [BOS] + filler + key + [SEP]
    completion = key[::-1] + [EOS]
    return prompt, completion


def encode(prompt, completion):
    ids = (prompt + completion)[:MAX_LEN]
    labels_on = ([0] * len(prompt) + [1] * len(completion))[:MAX_LEN]
    return ids, labels_on


train_data = [encode(*make_example()) for _ in range(400)]
val_data = [encode(*make_example()) for _ in range(40)]


def batches(data, bs, shuffle=True):
    idx = list(range(len(data)))
    while True:
        if shuffle:
            random.shuffle(idx)
        for i in range(0, len(idx) - bs + 1, bs):
            rows = [data[j] for j in idx[i:i + bs]]
            L = max(len(r[0]) for r in rows)
            ids = [r[0] + [PAD] * (L - len(r[0])) for r in rows]
            lab = [r[1] + [0] * (L - len(r[1])) for r in rows]
            ids = mx.array(ids)
            lab = mx.array(lab, dtype=mx.float32)
            # next-token shift: position t predicts token t+1
            yield ids[:, :-1], ids[:, 1:], lab[:, 1:]
        if not shuffle:
            return


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask=mask)
        h = h + self.ff(self.ln2(h))
        return self.head(self.ln_f(h))


def sft_loss(model, inputs, targets, mask):
    logits = model(inputs).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none") * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


model = TinyLM(VOCAB)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, sft_loss)


def evaluate():
    tot, n = 0.0, 0.0
    for inp, tgt, m in batches(val_data, 4, shuffle=False):
        l, k = sft_loss(model, inp, tgt, m)
        tot += l.item() * k.item()
        n += k.item()
    return tot / max(n, 1.0)


t0 = time.perf_counter()
run_loss, run_tok = 0.0, 0.0
it = batches(train_data, BATCH)
for step in range(1, STEPS + 1):
    inp, tgt, m = next(it)
    (loss, ntoks), grads = loss_and_grad(model, inp, tgt, m)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, ntoks)
    run_loss += loss.item() * ntoks.item()
    run_tok += ntoks.item()
    if step % 50 == 0:
        tl = run_loss / run_tok if run_tok else float("nan")
        print(f"Iter {step}: Train loss {tl:.3f}, Val loss {evaluate():.3f}, "
              f"Trained tokens {int(run_tok)}, {time.perf_counter() - t0:.1f}s")
        run_loss, run_tok = 0.0, 0.0
print(f"done: final val loss {evaluate():.3f} (uniform baseline {math.log(VOCAB):.3f})")
