"""Telegraph relay: a station hears a message, a separator, and must echo it.
Stage 1 trains on 8-symbol messages; stage 2 stretches the context to
16-symbol messages by rotary position interpolation (RoPE scale 1/2),
resuming from the stage-1 checkpoint. Output is gnuplot-ready data blocks."""
import math
import os
import tempfile
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 26          # 24 symbols + separator + pad
SEP = 24
DIMS, HEADS, LAYERS = 48, 4, 2


class Block(nn.Module):
    def __init__(self, dims, heads, rope_scale):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dims, 3 * dims, bias=False)
        self.out = nn.Linear(dims, dims, bias=False)
        self.rope = nn.RoPE(dims // heads, base=10000, scale=rope_scale)
        self.n1 = nn.RMSNorm(dims)
        self.n2 = nn.RMSNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        h = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask="causal")
        x = x + self.out(h.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.mlp(self.n2(x))


class Relay(nn.Module):
    def __init__(self, rope_scale):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIMS)
        self.blocks = [Block(DIMS, HEADS, rope_scale) for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIMS)
        self.head = nn.Linear(DIMS, VOCAB, bias=False)

    def __call__(self, tokens):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def batch(rng, n, msg_len):
    msg = rng.integers(0, SEP, size=(n, msg_len))
    seq = np.concatenate([msg, np.full((n, 1), SEP), msg], axis=1)
    x, y = seq[:, :-1], seq[:, 1:]
    w = np.zeros_like(y, dtype=np.float32)
    w[:, msg_len:] = 1.0          # score only the echoed half
    return mx.array(x), mx.array(y), mx.array(w)


def loss_fn(model, x, y, w):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * w).sum() / w.sum()


def evaluate(model, data):
    bits, exact = 0.0, 0.0
    for x, y, w in data:
        logits = model(x)
        ce = (nn.losses.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
        hit = mx.where(w > 0, mx.argmax(logits, axis=-1) == y, True).all(axis=1)
        bits += ce.item() / math.log(2)
        exact += hit.astype(mx.float32).mean().item()
    return bits / len(data), 100.0 * exact / len(data)


def run_stage(model, rng, steps, msg_len, peak, warm, val, index, name):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)], [warm]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, w):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y, w)
        opt.update(model, grads)
        return loss

    print(f"\n\n# index {index}: {name}  (message length {msg_len}, rope scale {model.blocks[0].rope.scale})")
    print("# step  lr          train_bits  val_bits  exact_pct  secs")
    t0, window = time.time(), []
    for it in range(1, steps + 1):
        x, y, w = batch(rng, 32, msg_len)
        lr = float(sched(opt.step))
        loss = step(x, y, w)
        mx.eval(state, loss)
        window.append(loss.item() / math.log(2))
        if it == 1 or it % 30 == 0:
            vb, ve = evaluate(model, val)
            print(f"{it:6d}  {lr:.3e}  {np.mean(window):10.4f}  {vb:8.4f}  {ve:9.1f}  {time.time() - t0:5.1f}")
            window = []
    return evaluate(model, val)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    vrng = np.random.default_rng(99)
    val8 = [batch(vrng, 128, 8)]
    val16 = [batch(vrng, 128, 16)]
    uniform = math.log2(SEP)
    print(f"# relay echo task: uniform guess {uniform:.3f} bits/symbol, perfect relay 0 bits")

    model = Relay(rope_scale=1.0)
    mx.eval(model.parameters())
    b8, e8 = evaluate(model, val8)
    print(f"# untrained: {b8:.3f} bits, exact {e8:.1f}%")
    b8, e8 = run_stage(model, rng, 120, 8, 3e-3, 30, val8, 0, "short messages")

    ckpt = os.path.join(tempfile.mkdtemp(), "relay_stage1.safetensors")
    model.save_weights(ckpt)
    zs_plain, zs_plain_ex = evaluate(model, val16)

    stretched = Relay(rope_scale=0.5)
    stretched.load_weights(ckpt)
    mx.eval(stretched.parameters())
    zs_pi, zs_pi_ex = evaluate(stretched, val16)
    print(f"\n\n# checkpoint {os.path.basename(ckpt)} reloaded with rope scale 0.5")
    print(f"# zero-shot on 16-symbol messages: plain positions {zs_plain:.3f} bits ({zs_plain_ex:.1f}% exact), "
          f"interpolated {zs_pi:.3f} bits ({zs_pi_ex:.1f}% exact)")

    b16, e16 = run_stage(stretched, rng, 90, 16, 1.5e-3, 20, val16, 1, "stretched context")
    print(f"\n\n# summary: stage0 {b8:.3f} bits {e8:.1f}% | stage1 {b16:.3f} bits {e16:.1f}% "
          f"(uniform {uniform:.3f})")


if __name__ == "__main__":
    main()
