"""Apiary acoustic log: decide queenright vs queenless from a variable-length run
of per-minute hive-hum spectra (8 bands). Recordings are padded into a batch and a
key-padding boolean mask keeps attention and pooling off the padding.

Curriculum: three stages with growing maximum recording length; batches change
shape at each stage. Only two lines are printed per stage, so most steps are quiet."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

BANDS = 8
DIM = 32
HEADS = 4
BATCH = 32
STAGES = [(6, 50), (12, 50), (24, 60)]  # (max minutes, steps)


def make_batch(rng, max_len):
    lengths = rng.integers(3, max_len + 1, size=BATCH)
    label = rng.integers(0, 2, size=BATCH)
    x = np.zeros((BATCH, max_len, BANDS), dtype=np.float32)
    for b in range(BATCH):
        n = lengths[b]
        base = rng.normal(0, 1.0, size=(n, BANDS))
        if label[b] == 1:
            # queenless "roar": a few minutes with raised upper bands at random times
            k = max(1, n // 4)
            idx = rng.choice(n, size=k, replace=False)
            base[idx, 5:] += 1.6
        x[b, :n] = base
        x[b, n:] = 9.0  # padding value that would dominate if it leaked in
    valid = np.arange(max_len)[None, :] < lengths[:, None]
    return mx.array(x), mx.array(valid), mx.array(label)


class HumEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(BANDS, DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.ln1 = nn.LayerNorm(DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.cls = nn.Linear(DIM, 2)

    def __call__(self, x, valid):
        B, L, _ = x.shape
        hd = DIM // HEADS
        h = self.inp(x)
        q, k, v = mx.split(self.qkv(self.ln1(h)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        keymask = valid[:, None, None, :]  # (B, 1, 1, L) boolean: True = attend
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd**-0.5, mask=keymask)
        h = h + self.proj(a.transpose(0, 2, 1, 3).reshape(B, L, DIM))
        h = h + self.ff(self.ln2(h))
        w = valid.astype(h.dtype)[..., None]
        pooled = (h * w).sum(axis=1) / w.sum(axis=1)
        return self.cls(pooled)


def loss_fn(model, x, valid, y):
    return nn.losses.cross_entropy(model(x, valid), y, reduction="mean")


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    model = HumEncoder()
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for stage, (max_len, steps) in enumerate(STAGES, 1):
        window = []
        for step in range(steps):
            x, valid, y = make_batch(rng, max_len)
            loss, grads = step_fn(model, x, valid, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step == 4:
                print(f"stage {stage} (<= {max_len} min) first-5-step loss {np.mean(window):.4f}")
        xv, vv, yv = make_batch(np.random.default_rng(100 + stage), max_len)
        acc = (mx.argmax(model(xv, vv), axis=-1) == yv).astype(mx.float32).mean().item()
        base = max(yv.mean().item(), 1 - yv.mean().item())
        print(f"stage {stage} done: last-10 loss {np.mean(window[-10:]):.4f}  val acc {acc:.3f}  "
              f"(majority {base:.3f})  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
