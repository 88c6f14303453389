# tiny T5-style encoder-decoder learning to reverse digit strings
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
VOCAB, L, D, H = 12, 8, 32, 4   # 0 = pad/bos, 1..11 digits
BOS = 0


class EncLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiHeadAttention(D, H)
        self.ln1 = nn.RMSNorm(D)
        self.ln2 = nn.RMSNorm(D)
        self.linear1 = nn.Linear(D, 4 * D, bias=False)
        self.linear2 = nn.Linear(4 * D, D, bias=False)

    def __call__(self, x):
        y = self.ln1(x)
        x = x + self.attention(y, y, y)
        y = self.ln2(x)
        return x + self.linear2(mx.maximum(self.linear1(y), 0))


class DecLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attention = nn.MultiHeadAttention(D, H)
        self.cross_attention = nn.MultiHeadAttention(D, H)
        self.ln1 = nn.RMSNorm(D)
        self.ln2 = nn.RMSNorm(D)
        self.ln3 = nn.RMSNorm(D)
        self.linear1 = nn.Linear(D, 4 * D, bias=False)
        self.linear2 = nn.Linear(4 * D, D, bias=False)

    def __call__(self, x, memory, mask):
        y = self.ln1(x)
        x = x + self.self_attention(y, y, y, mask)

        y = self.ln2(x)
        x = x + self.cross_attention(x, memory, memory)

        y = self.ln3(x)
        return x + self.linear2(mx.maximum(self.linear1(y), 0))


class TinyT5(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(L + 1, D)
        self.enc = [EncLayer()]
        self.dec = [DecLayer() for _ in range(2)]
        self.enc_ln = nn.RMSNorm(D)
        self.dec_ln = nn.RMSNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)

    def __call__(self, src, tgt_in):
        p = mx.arange(src.shape[1])
        m = self.wte(src) + self.pos(p)
        for layer in self.enc:
            m = layer(m)
        m = self.enc_ln(m)
        q = mx.arange(tgt_in.shape[1])
        x = self.wte(tgt_in) + self.pos(q)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tgt_in.shape[1])
        for layer in self.dec:
            x = layer(x, m, mask)
        return self.head(self.dec_ln(x))


def batch(n):
    src = mx.random.randint(1, VOCAB, (n, L))
    tgt = src[:, ::-1]
    tgt_in = mx.concatenate([mx.full((n, 1), BOS, dtype=tgt.dtype), tgt[:, :-1]], axis=1)
    return src, tgt_in, tgt


model = TinyT5()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)


def loss_fn(model, src, tgt_in, tgt):
    logits = model(src, tgt_in)
    return nn.losses.cross_entropy(logits, tgt, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
val = batch(128)
t0 = time.time()
for it in range(1, 161):
    src, tgt_in, tgt = batch(32)
    loss, grads = step_fn(model, src, tgt_in, tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0:
        logits = model(*val[:2])
        acc = (logits.argmax(-1) == val[2]).mean().item()
        print(f"it {it:4d}  xent {loss.item():.4f}  tok_acc {acc*100:5.1f}%  ({time.time()-t0:.1f}s)")
print("done")
