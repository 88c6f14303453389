"""Player-piano roll language model: a tiny decoder trained on synthetic
piano-roll note sequences (scales, arpeggios, spread chords in random keys,
with slipped perforations as noise).  Attention, positional rotation and
normalisation go through mx.fast kernels.  Training is done in two sittings
with a checkpoint in between."""
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEQ, BATCH, NOTES = 32, 16, 36
BOS = NOTES
VOCAB = NOTES + 1
SLIP = 0.08
rng = np.random.default_rng(11)

PATTERNS = [
    [0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 21, 23],       # major scale up
    [0, 4, 7, 12, 16, 19, 23, 19, 16, 12, 7, 4],               # arpeggio up/down
    [0, 7, 4, 12, 7, 16, 12, 19],                              # spread chord
    [0, 3, 7, 10, 12, 15, 19, 22, 19, 15, 12, 10, 7, 3],       # minor seventh
]


def make_roll(n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    for i in range(n):
        key = rng.integers(0, 12)
        pat = PATTERNS[rng.integers(0, len(PATTERNS))]
        seq = [BOS]
        j = rng.integers(0, len(pat))
        while len(seq) < SEQ + 1:
            note = key + pat[j % len(pat)]
            if rng.random() < SLIP:
                note = rng.integers(0, NOTES)
            seq.append(int(note) % NOTES)
            j += 1
        out[i] = seq
    return out


train_rolls = make_roll(3000)
valid_rolls = make_roll(200)

counts = np.bincount(train_rolls[:, 1:].ravel(), minlength=VOCAB) + 1.0
p_uni = counts / counts.sum()
unigram_nats = float(-(np.log(p_uni[valid_rolls[:, 1:].ravel()])).mean())
q = 1 - SLIP + SLIP / NOTES
slip_floor = -(q * math.log(q) + (NOTES - 1) * (SLIP / NOTES) * math.log(SLIP / NOTES))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.hd = d // heads
        self.n1 = mx.ones((d,))
        self.n2 = mx.ones((d,))
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def __call__(self, x):
        B, L, D = x.shape
        h = mx.fast.rms_norm(x, self.n1, 1e-5)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        q = mx.fast.rope(q, self.hd, traditional=False, base=10000.0, scale=1.0, offset=0)
        k = mx.fast.rope(k, self.hd, traditional=False, base=10000.0, scale=1.0, offset=0)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask="causal")
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        h = mx.fast.rms_norm(x, self.n2, 1e-5)
        return x + self.down(nn.gelu(self.up(h)))


class RollLM(nn.Module):
    def __init__(self, d=32, heads=2, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.nf = mx.ones((d,))
        self.head = nn.Linear(d, VOCAB, bias=False)

    def __call__(self, t):
        x = self.emb(t)
        for b in self.blocks:
            x = b(x)
        return self.head(mx.fast.rms_norm(x, self.nf, 1e-5))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def valid_nats(model):
    tot = 0.0
    for i in range(0, len(valid_rolls), 100):
        b = mx.array(valid_rolls[i:i + 100])
        tot += loss_fn(model, b[:, :-1], b[:, 1:]).item() * len(b)
    return tot / len(valid_rolls)


def kernel_check():
    """Compare the fused kernels with plain-op versions, values and gradients."""
    B, H, L, Dh = 2, 4, 10, 16
    q, k, v = (mx.random.normal((B, H, L, Dh)) for _ in range(3))
    w = 1.0 + 0.1 * mx.random.normal((Dh,))

    def ref_rope(x):
        half = Dh // 2
        inv = 10000.0 ** (-mx.arange(half, dtype=mx.float32) / half)
        ang = mx.arange(L, dtype=mx.float32)[:, None] * inv[None, :]
        c, s = mx.cos(ang), mx.sin(ang)
        x1, x2 = x[..., :half], x[..., half:]
        return mx.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], axis=-1)

    def ref_path(q, k, v, w):
        qn = q * mx.rsqrt(mx.mean(q * q, axis=-1, keepdims=True) + 1e-5) * w
        s = (ref_rope(qn) @ ref_rope(k).swapaxes(-1, -2)) * Dh ** -0.5
        causal = mx.triu(mx.full((L, L), -mx.inf), k=1)
        return (mx.softmax(s + causal, axis=-1) @ v).sum()

    def fast_path(q, k, v, w):
        qn = mx.fast.rms_norm(q, w, 1e-5)
        qr = mx.fast.rope(qn, Dh, traditional=False, base=10000.0, scale=1.0, offset=0)
        kr = mx.fast.rope(k, Dh, traditional=False, base=10000.0, scale=1.0, offset=0)
        return mx.fast.scaled_dot_product_attention(qr, kr, v, scale=Dh ** -0.5, mask="causal").sum()

    gr = mx.grad(ref_path, argnums=(0, 1, 2, 3))(q, k, v, w)
    gf = mx.grad(fast_path, argnums=(0, 1, 2, 3))(q, k, v, w)
    dval = abs(ref_path(q, k, v, w).item() - fast_path(q, k, v, w).item())
    dgrad = max(mx.abs(a - b).max().item() for a, b in zip(gr, gf))
    return dval, dgrad


def make_optimizer(total):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 5e-3, warm), optim.cosine_decay(5e-3, total - warm, 1e-4)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def sitting(model, opt, start, stop, report):
    step_fn = nn.value_and_grad(model, loss_fn)
    order = rng.permutation(len(train_rolls))
    pos = 0
    run = []
    for step in range(start + 1, stop + 1):
        if pos + BATCH > len(order):
            order, pos = rng.permutation(len(train_rolls)), 0
        b = mx.array(train_rolls[order[pos:pos + BATCH]])
        pos += BATCH
        loss, grads = step_fn(model, b[:, :-1], b[:, 1:])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr = opt.learning_rate.item()
        run.append(loss.item())
        if step in report:
            v = valid_nats(model)
            print(f"step {step:4d} | lr {lr:.2e} | train {np.mean(run):.3f} nats"
                  f" | valid {v:.3f} nats = {v / math.log(2):.3f} bits/note | ppl {math.exp(v):6.2f}")
            run = []


def main():
    mx.random.seed(0)
    t0 = time.perf_counter()
    dval, dgrad = kernel_check()
    print(f"kernel check: |value diff| {dval:.2e}, max |grad diff| {dgrad:.2e}")
    print(f"rolls: train {len(train_rolls)} valid {len(valid_rolls)}, {SEQ} notes each, vocab {VOCAB}")
    print(f"reference: unigram {unigram_nats:.3f} nats (ppl {math.exp(unigram_nats):.2f}),"
          f" slipped-perforation floor ~{slip_floor:.3f} nats (ppl {math.exp(slip_floor):.2f})")

    TOTAL, FIRST = 420, 210
    report = {1, 2, 5, 40, 120, 210, 320, 420}
    model = RollLM()
    opt = make_optimizer(TOTAL)
    v0 = valid_nats(model)
    print(f"untrained valid {v0:.3f} nats (ppl {math.exp(v0):.2f}, uniform {math.log(VOCAB):.3f})")
    print("sitting 1")
    sitting(model, opt, 0, FIRST, report)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    v_saved = valid_nats(model)
    del model, opt

    model = RollLM()
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt = make_optimizer(TOTAL)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    v_loaded = valid_nats(model)
    print(f"sitting 2 (resumed at step {int(opt.state['step'].item())},"
          f" valid before/after reload {v_saved:.4f}/{v_loaded:.4f})")
    sitting(model, opt, FIRST, TOTAL, report)

    vf = valid_nats(model)
    print(f"done: valid {vf:.3f} nats, ppl {math.exp(vf):.2f} vs unigram {math.exp(unigram_nats):.2f}"
          f" and floor ~{math.exp(slip_floor):.2f}; {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
