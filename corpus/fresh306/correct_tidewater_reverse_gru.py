import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(1)
rng = np.random.default_rng(1)
V, L, BOS = 10, 6, 10  # digits 0-9, BOS token 10


def batch(n):
    src = rng.integers(0, V, size=(n, L))
    tgt = src[:, ::-1].copy()
    dec_in = np.concatenate([np.full((n, 1), BOS), tgt[:, :-1]], axis=1)
    return mx.array(src), mx.array(dec_in), mx.array(tgt)


class Seq2Seq(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.src_emb = nn.Embedding(V, d)
        self.tgt_emb = nn.Embedding(V + 1, d)
        self.enc = nn.GRU(d, d)
        self.dec = nn.GRU(d, d)
        self.attn_q = nn.Linear(d, d)
        self.out = nn.Linear(2 * d, V)

    def __call__(self, src, dec_in):
        mem = self.enc(self.src_emb(src))
        h = self.dec(self.tgt_emb(dec_in), hidden=mem[:, -1])
        scores = self.attn_q(h) @ mem.transpose(0, 2, 1) / 8.0
        ctx = mx.softmax(scores, axis=-1) @ mem
        return self.out(mx.concatenate([h, ctx], axis=-1))

    def greedy(self, src):
        tok = mx.full((src.shape[0], 1), BOS)
        for _ in range(L):
            nxt = mx.argmax(self(src, tok)[:, -1], axis=-1)
            tok = mx.concatenate([tok, nxt[:, None]], axis=1)
        return tok[:, 1:]


def loss_fn(m, s, d, t):
    return nn.losses.cross_entropy(m(s, d), t, reduction="mean")


warm = optim.linear_schedule(0.0, 3e-3, 60)          # starts at exactly 0
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 240, 3e-4)], [60])
ckpt = os.path.join(tempfile.mkdtemp(), "seq2seq.safetensors")
vs, vd, vt = batch(256)
print(f"baseline: copy-source token acc {mx.mean(vs == vt).item():.3f}, chance {1 / V:.3f}")


def run(model, opt, start, stop):
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        loss, g = lg(model, *batch(32))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % 30 == 0 or step == stop - 1:
            acc = mx.mean(model.greedy(vs) == vt).item()
            print(f"step {step:3d} lr {opt.learning_rate.item():.2e} loss {loss.item():.4f} greedy acc {acc:.3f}")


t0 = time.time()
model = Seq2Seq(); opt = optim.Adam(learning_rate=sched)
run(model, opt, 0, 150)
model.save_weights(ckpt)
print(f"saved checkpoint at step 150 -> resuming in a fresh model")
model2 = Seq2Seq(); model2.load_weights(ckpt)
opt2 = optim.Adam(learning_rate=sched); opt2.init(model2.trainable_parameters())
opt2.state["step"] = mx.array(150, mx.uint64)
run(model2, opt2, 150, 300)
print(f"final greedy acc {mx.mean(model2.greedy(vs) == vt).item():.3f}  time {time.time() - t0:.1f}s")
