"""Courier-office rail-fence deciphering with a tiny encoder-decoder transformer.

Source = [rails token] + ciphertext letters, target = plaintext letters + EOS.
Two curriculum stages: two-rail messages only, then a mix of two- and
three-rail messages. Each stage restarts the learning rate from exactly 0
with a linear warm-up and a cosine tail.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, EOS, R2, R3 = 0, 1, 2, 3, 4
N_LETTERS = 12
FIRST = 5
VOCAB = FIRST + N_LETTERS
MIN_LEN, MAX_LEN = 6, 10
SRC_LEN = MAX_LEN + 1
TGT_LEN = MAX_LEN + 1

rng = np.random.default_rng(7)
mx.random.seed(7)


def rail_encode(msg, rails):
    rows = [[] for _ in range(rails)]
    r, step = 0, 1
    for ch in msg:
        rows[r].append(ch)
        if rails > 1:
            if r == 0:
                step = 1
            elif r == rails - 1:
                step = -1
            r += step
    return [c for row in rows for c in row]


def make_batch(n, rail_choices):
    src = np.zeros((n, SRC_LEN), np.int32)
    dec_in = np.zeros((n, TGT_LEN), np.int32)
    tgt = np.zeros((n, TGT_LEN), np.int32)
    cipher_copy = np.zeros((n, TGT_LEN), np.int32)
    for i in range(n):
        L = rng.integers(MIN_LEN, MAX_LEN + 1)
        msg = list(rng.integers(FIRST, VOCAB, size=L))
        rails = int(rng.choice(rail_choices))
        ct = rail_encode(msg, rails)
        src[i, 0] = R2 if rails == 2 else R3
        src[i, 1:1 + L] = ct
        dec_in[i, 0] = BOS
        dec_in[i, 1:1 + L] = msg
        tgt[i, :L] = msg
        tgt[i, L] = EOS
        cipher_copy[i, :L] = ct
        cipher_copy[i, L] = EOS
    return src, dec_in, tgt, cipher_copy


class Decipherer(nn.Module):
    def __init__(self, dims=32, heads=4, layers=1):
        super().__init__()
        self.src_emb = nn.Embedding(VOCAB, dims)
        self.tgt_emb = nn.Embedding(VOCAB, dims)
        self.src_pos = nn.Embedding(SRC_LEN, dims)
        self.tgt_pos = nn.Embedding(TGT_LEN, dims)
        self.encoder = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.decoder = nn.TransformerDecoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, VOCAB)

    def encode(self, src):
        key_mask = mx.where(src == PAD, -1e9, 0.0)[:, None, None, :]
        x = self.src_emb(src) + self.src_pos(mx.arange(src.shape[1]))
        return self.encoder(x, key_mask), key_mask

    def decode(self, dec_in, memory, key_mask):
        T = dec_in.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        y = self.tgt_emb(dec_in) + self.tgt_pos(mx.arange(T))
        return self.head(self.decoder(y, memory, causal, key_mask))

    def __call__(self, src, dec_in):
        memory, key_mask = self.encode(src)
        return self.decode(dec_in, memory, key_mask)


def loss_fn(model, src, dec_in, tgt):
    logits = model(src, dec_in)
    mask = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt) * mask
    return ce.sum() / mask.sum()


def greedy(model, src):
    memory, key_mask = model.encode(src)
    out = mx.full((src.shape[0], 1), BOS, dtype=mx.int32)
    for _ in range(TGT_LEN):
        logits = model.decode(out, memory, key_mask)
        nxt = mx.argmax(logits[:, -1, :], axis=-1).astype(mx.int32)
        out = mx.concatenate([out, nxt[:, None]], axis=1)
    return np.array(out[:, 1:])


def score(pred, tgt):
    mask = tgt != PAD
    tok = ((pred == tgt) & mask).sum() / mask.sum()
    exact = np.mean([np.array_equal(p[m], t[m]) for p, t, m in zip(pred, tgt, mask)])
    return float(tok), float(exact)


def copy_baseline(cipher_copy, tgt):
    mask = tgt != PAD
    return float(((cipher_copy == tgt) & mask).sum() / mask.sum())


val2 = make_batch(100, [2])
val3 = make_batch(100, [3])

model = Decipherer()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
print(f"decipherer params={n_params}")

stages = [("two-rail", [2], 220, 3e-3), ("mixed", [2, 3], 330, 3e-3)]
warm = 30
batch = 32
grad_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
global_step = 0
for name, rails, steps, peak in stages:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    print(f"== stage {name}: rails={rails} steps={steps} lr 0 -> {peak} over {warm} steps, cosine after")
    run = 0.0
    for s in range(1, steps + 1):
        src, dec_in, tgt, _ = make_batch(batch, rails)
        model.train()
        loss, grads = grad_fn(model, mx.array(src), mx.array(dec_in), mx.array(tgt))
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        global_step += 1
        run = 0.9 * run + 0.1 * loss.item() if s > 1 else loss.item()
        if s == 1 or s % 55 == 0:
            model.eval()
            p2 = greedy(model, mx.array(val2[0]))
            p3 = greedy(model, mx.array(val3[0]))
            t2, e2 = score(p2, val2[2])
            t3, e3 = score(p3, val3[2])
            lr_now = opt.learning_rate.item()
            print(
                f"step {global_step:4d} [{name}] lr {lr_now:.2e} loss {run:.3f} gnorm {gnorm.item():.2f} | "
                f"2-rail tok {t2:.3f} exact {e2:.3f} | 3-rail tok {t3:.3f} exact {e3:.3f}"
            )

b2 = copy_baseline(val2[3], val2[2])
b3 = copy_baseline(val3[3], val3[2])
model.eval()
t2, e2 = score(greedy(model, mx.array(val2[0])), val2[2])
t3, e3 = score(greedy(model, mx.array(val3[0])), val3[2])
print(f"final 2-rail: tok_acc {t2:.3f} exact {e2:.3f} (copy-the-cipher baseline tok_acc {b2:.3f})")
print(f"final 3-rail: tok_acc {t3:.3f} exact {e3:.3f} (copy-the-cipher baseline tok_acc {b3:.3f})")
print(f"done in {time.time() - t0:.1f}s")
