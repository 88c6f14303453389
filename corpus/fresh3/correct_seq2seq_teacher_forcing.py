"""GRU encoder-decoder that learns to reverse digit strings, trained with teacher forcing.
Progress is a tqdm-like bar with a postfix; token accuracy rises while the loss falls."""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, H, BOS = 12, 6, 64, 11


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, 32)
        self.tgt_emb = nn.Embedding(V, 32)
        self.enc = nn.GRU(32, H)
        self.dec = nn.GRU(32 + H, H)
        self.out = nn.Linear(H, V)

    def __call__(self, src, tgt_in):
        enc = self.enc(self.src_emb(src))
        ctx = mx.broadcast_to(enc[:, -1:, :], (src.shape[0], tgt_in.shape[1], H))
        dec = self.dec(mx.concatenate([self.tgt_emb(tgt_in), ctx], axis=-1), enc[:, -1, :])
        return self.out(dec)


def batch(key, n=32):
    src = mx.random.randint(1, 11, (n, L), key=key)
    tgt = src[:, ::-1]
    tgt_in = mx.concatenate([mx.full((n, 1), BOS, mx.int32), tgt[:, :-1]], axis=1)
    return src, tgt_in, tgt


def loss_fn(model, src, tgt_in, tgt):
    logits = model(src, tgt_in)
    return nn.losses.cross_entropy(logits, tgt, reduction="mean"), logits


model = Seq2Seq()
opt = optim.Adam(learning_rate=3e-3)
lg = nn.value_and_grad(model, loss_fn)
total, key = 300, mx.random.key(5)
t0 = time.time()
for it in range(1, total + 1):
    key, sub = mx.random.split(key)
    src, tgt_in, tgt = batch(sub)
    (loss, logits), grads = lg(model, src, tgt_in, tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, logits)
    if it % 10 == 0 or it == total:
        acc = (logits.argmax(-1) == tgt).mean().item()
        frac = it / total
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        rate = it / (time.time() - t0)
        sys.stdout.write(f"\rtrain {int(100 * frac):3d}%|{bar}| {it}/{total} "
                         f"[{rate:.1f}it/s, loss={loss.item():.3f}, tok_acc={acc:.3f}]")
        sys.stdout.flush()
        if it % 50 == 0:
            sys.stdout.write("\n")
print("\nfinished")
