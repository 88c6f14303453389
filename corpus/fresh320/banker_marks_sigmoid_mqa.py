# Stonemason banker marks: each wall course repeats one mason's short run of marks,
# with the odd slip. Next-mark model = 2-layer causal transformer with SIGMOID attention
# (no softmax; per-head bias started at -log(L)) and multi-query heads (one shared K/V).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, L, D, HQ, DH = 16, 32, 64, 4, 16
BATCH, STEPS, WARM, PEAK = 32, 220, 40, 3e-3
SLIP = 0.10
SHOW = {1, 2, 10, 40, 110, 220}


def courses(rng, n):
    out = np.zeros((n, L + 1), np.int32)
    for i in range(n):
        p = rng.integers(3, 6)
        motif = rng.choice(V, size=p, replace=False)
        seq = np.resize(motif, L + 1)
        slip = rng.random(L + 1) < SLIP
        seq[slip] = rng.integers(0, V, slip.sum())
        out[i] = seq
    return out


class SigmoidMQA(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(D, HQ * DH, bias=False)
        self.kv = nn.Linear(D, 2 * DH, bias=False)     # one key/value head shared by all query heads
        self.o = nn.Linear(HQ * DH, D, bias=False)
        self.bias = mx.full((1, HQ, 1, 1), -math.log(L))

    def __call__(self, x, keep):
        b, t, _ = x.shape
        q = self.q(x).reshape(b, t, HQ, DH).transpose(0, 2, 1, 3)      # B H T d
        k, v = mx.split(self.kv(x), 2, axis=-1)                         # B T d
        k, v = k[:, None], v[:, None]                                   # B 1 T d
        s = (q @ k.transpose(0, 1, 3, 2)) * DH ** -0.5 + self.bias      # B H T T
        w = mx.sigmoid(s) * keep                                        # rows are not normalised
        y = (w @ v).transpose(0, 2, 1, 3).reshape(b, t, HQ * DH)
        return self.o(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(D)
        self.att = SigmoidMQA()
        self.n2 = nn.RMSNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, keep):
        x = x + self.att(self.n1(x), keep)
        return x + self.ff(self.n2(x))


class MarkModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.blocks = [Block(), Block()]
        self.norm = nn.RMSNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, ids):
        t = ids.shape[1]
        keep = mx.tril(mx.ones((t, t)))
        h = self.tok(ids) + self.pos(mx.arange(t))
        for blk in self.blocks:
            h = blk(h, keep)
        return self.out(self.norm(h))


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def late_stats(model, seq):
    logits = model(seq[:, :-1])
    ce = nn.losses.cross_entropy(logits, seq[:, 1:])
    acc = (logits.argmax(-1) == seq[:, 1:]).astype(mx.float32)
    return ce[:, 16:].mean().item(), 100 * acc[:, 16:].mean().item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    val = mx.array(courses(rng, 512))
    floor = -(1 - SLIP + SLIP / V) * math.log(1 - SLIP + SLIP / V) - (V - 1) * (SLIP / V) * math.log(SLIP / V)
    uni = math.log(V)
    repeat_last = 100 * np.mean(np.array(val[:, 16:-1]) == np.array(val[:, 17:]))
    print("== banker marks: next-mark model over wall courses")
    print(f"   marks {V}, course length {L}, slips {SLIP:.0%}")
    print(f"   uniform guess {uni:.3f} nats; slip floor once the run is known {floor:.3f} nats")
    print(f"   repeat-last-mark accuracy (marks 17-32) {repeat_last:.1f}%; best possible about {100 * (1 - SLIP + SLIP / V):.1f}%")

    model = MarkModel()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    window = []
    for step in range(1, STEPS + 1):
        lr = PEAK * min(1.0, (step - 1) / WARM)                          # warm-up from exactly 0
        opt.learning_rate = lr
        seq = mx.array(courses(rng, BATCH))
        loss, grads = step_fn(model, seq)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in SHOW:
            vce, vacc = late_stats(model, val)
            bias = [round(float(b.att.bias.mean()), 2) for b in model.blocks]
            print(f"-- step {step}")
            print(f"   lr            {lr:.2e}")
            print(f"   train nats    {np.mean(window):.3f}  (mean of {len(window)} steps)")
            print(f"   val nats 17+  {vce:.3f}  vs floor {floor:.3f}, uniform {uni:.3f}")
            print(f"   val acc 17+   {vacc:.1f}%  vs repeat-last {repeat_last:.1f}%")
            print(f"   attn bias     {bias}")
            print(f"   elapsed       {time.time() - t0:.1f}s")
            window = []
    print("== end of courses")


if __name__ == "__main__":
    main()
