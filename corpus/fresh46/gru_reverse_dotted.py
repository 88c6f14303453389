"""Seq2seq GRU learns to reverse 7-digit strings.

Encoder GRU reads the digits, its last hidden state seeds a decoder GRU that is
teacher-forced during training and decoded greedily for evaluation.
Reports are printed as dotted-leader blocks.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, BOS, SEQ = 10, 10, 7


class Reverser(nn.Module):
    def __init__(self, emb=32, hid=80):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, emb)
        self.enc = nn.GRU(emb, hid)
        self.dec = nn.GRU(emb, hid)
        self.out = nn.Linear(hid, VOCAB)

    def encode(self, src):
        return self.enc(self.embed(src))[:, -1, :]

    def __call__(self, src, dec_in):
        h = self.encode(src)
        return self.out(self.dec(self.embed(dec_in), hidden=h))

    def greedy(self, src):
        h = self.encode(src)
        tok = mx.full((src.shape[0], 1), BOS, dtype=mx.int32)
        outs = []
        for _ in range(SEQ):
            h = self.dec(self.embed(tok), hidden=h)[:, -1, :]
            tok = mx.argmax(self.out(h), axis=-1, keepdims=True).astype(mx.int32)
            outs.append(tok)
        return mx.concatenate(outs, axis=1)


def batch(n):
    src = mx.random.randint(0, VOCAB, (n, SEQ)).astype(mx.int32)
    tgt = src[:, ::-1]
    dec_in = mx.concatenate([mx.full((n, 1), BOS, dtype=mx.int32), tgt[:, :-1]], axis=1)
    return src, dec_in, tgt


def loss_fn(model, src, dec_in, tgt):
    return nn.losses.cross_entropy(model(src, dec_in), tgt, reduction="mean")


def block(title, rows):
    print(title)
    for k, v in rows:
        print(f"  {k} {'.' * (24 - len(k))} {v}")


def main():
    mx.random.seed(11)
    model = Reverser()
    mx.eval(model.parameters())
    sched = optim.exponential_decay(5e-3, 0.998)
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    val_src, _, val_tgt = batch(1000)
    steps, every = 720, 120
    t0, window = time.time(), []
    for step in range(1, steps + 1):
        src, dec_in, tgt = batch(64)
        loss, grads = step_fn(model, src, dec_in, tgt)
        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
            block("gradient check (step 1)", [("leaves", str(len(flat))), ("all-zero leaves", str(dead or "none"))])
            assert not dead, dead
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % every == 0:
            pred = model.greedy(val_src)
            tok_acc = (pred == val_tgt).mean().item()
            seq_acc = (pred == val_tgt).all(axis=1).mean().item()
            block(f"step {step}/{steps}", [
                ("train ce (window mean)", f"{sum(window) / len(window):.4f}"),
                ("greedy digit accuracy", f"{tok_acc:.3f}"),
                ("whole-string accuracy", f"{seq_acc:.3f}"),
                ("learning rate", f"{opt.learning_rate.item():.2e}"),
                ("elapsed", f"{time.time() - t0:.1f}s"),
            ])
            window = []
    block("reference", [("chance digit accuracy", f"{1 / VOCAB:.3f}"), ("chance string accuracy", f"{VOCAB ** -SEQ:.1e}")])


if __name__ == "__main__":
    main()
