# Tiny SFT-style fine-tune of a decoder LM on padded "step sequences".
# Each row: BOS, a, a+d, a+2d, ... (mod 16), EOS, then right padding (0).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, EOS, OFF = 0, 1, 2, 3
VOCAB = OFF + 16
MAXLEN = 20


def make_rows(n, rng):
    rows = np.zeros((n, MAXLEN), dtype=np.int32)
    lens = np.zeros(n, dtype=np.int32)
    for i in range(n):
        a, d = rng.integers(0, 16), rng.integers(1, 6)
        k = rng.integers(6, MAXLEN - 2)
        seq = [BOS] + [OFF + (a + j * d) % 16 for j in range(k)] + [EOS]
        rows[i, : len(seq)] = seq
        lens[i] = len(seq)
    return rows, lens


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, h, D // h).transpose(0, 2, 1, 3) for t in (q, k, v))
        s = (q @ k.transpose(0, 1, 3, 2)) * (D // h) ** -0.5
        s = mx.where(mask, s, mx.array(-1e9, dtype=s.dtype))
        a = (mx.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + self.proj(a)
        return x + self.mlp(self.n2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, ids, mask=None):
        # Like many LM ports: a mask that is passed in is used as the full
        # attention mask; the causal mask is built only when mask is None.
        L = ids.shape[1]
        if mask is None:
            mask = mx.tril(mx.ones((L, L), dtype=mx.bool_))[None, None]
        else:
            mask = mask.astype(mx.bool_)[:, None, None, :]
        x = self.tok(ids) + self.pos(mx.arange(L))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def loss_fn(model, ids, attn):
    inp, tgt = ids[:, :-1], ids[:, 1:]
    attn_in = attn[:, :-1]
    logits = model(inp)  # padding is handled by the loss mask; keep the causal mask
    ce = nn.losses.cross_entropy(logits, tgt)
    m = attn[:, 1:].astype(mx.float32)
    return (ce * m).sum() / mx.maximum(m.sum(), 1)


def causal_eval(model, ids, attn):
    # evaluation / generation path: no mask passed, the model is causal
    logits = model(ids[:, :-1])
    ce = nn.losses.cross_entropy(logits, ids[:, 1:])
    m = attn[:, 1:].astype(mx.float32)
    pred = mx.argmax(logits, axis=-1)
    acc = ((pred == ids[:, 1:]) * m).sum() / m.sum()
    return ((ce * m).sum() / m.sum()).item(), acc.item()


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    tr_rows, tr_lens = make_rows(4000, rng)
    va_rows, va_lens = make_rows(500, rng)
    tr_attn = (np.arange(MAXLEN)[None] < tr_lens[:, None]).astype(np.int32)
    va_attn = (np.arange(MAXLEN)[None] < va_lens[:, None]).astype(np.int32)
    va_ids, va_m = mx.array(va_rows), mx.array(va_attn)

    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    bs, steps = 32, 300
    t0 = time.time()
    run = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(tr_rows), bs)
        ids, attn = mx.array(tr_rows[idx]), mx.array(tr_attn[idx])
        loss, grads = step_fn(model, ids, attn)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 50 == 0:
            vl, va = causal_eval(model, va_ids, va_m)
            print(f"step {step:4d}  train_loss {np.mean(run):.4f}  "
                  f"val_loss {vl:.4f}  val_acc {100 * va:.1f}%  ({time.time() - t0:.1f}s)")
            run = []

    # greedy continuation of a prompt, token by token (causal path)
    prompt = [BOS, OFF + 2, OFF + 5]
    ids = list(prompt)
    for _ in range(8):
        logits = model(mx.array([ids]))
        ids.append(int(mx.argmax(logits[0, -1]).item()))
    print("sample:", [i - OFF for i in ids[1:]], "(expect 2,5,8,11,14,1,4,...)")


if __name__ == "__main__":
    main()
