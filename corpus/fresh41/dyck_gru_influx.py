"""Character-level GRU language model on Dyck-1 (balanced parenthesis) strings.

Tokens: 0='(' 1=')' 2=<eos> 3=<bos>.  The model reads <bos>+string and predicts
string+<eos>; padded positions are masked out of the loss.  Progress is emitted
in InfluxDB line protocol so the log can be shipped to a time-series DB.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

OPEN, CLOSE, EOS, BOS = 0, 1, 2, 3
MAX_PAIRS = 10
T = 2 * MAX_PAIRS + 1


def random_dyck(rng):
    pairs = int(rng.integers(1, MAX_PAIRS + 1))
    s, depth, opened = [], 0, 0
    while opened < pairs or depth > 0:
        if opened < pairs and (depth == 0 or rng.random() < 0.55):
            s.append(OPEN); depth += 1; opened += 1
        else:
            s.append(CLOSE); depth -= 1
    return s


def encode(batch):
    x = np.full((len(batch), T), EOS, dtype=np.int32)
    y = np.full((len(batch), T), EOS, dtype=np.int32)
    m = np.zeros((len(batch), T), dtype=np.float32)
    for i, s in enumerate(batch):
        x[i, 0] = BOS
        x[i, 1:len(s) + 1] = s
        y[i, :len(s)] = s
        y[i, len(s)] = EOS
        m[i, :len(s) + 1] = 1.0
    return mx.array(x), mx.array(y), mx.array(m)


class CharGRU(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.emb = nn.Embedding(4, 16)
        self.gru = nn.GRU(16, hidden)
        self.head = nn.Linear(hidden, 3)

    def __call__(self, x):
        return self.head(self.gru(self.emb(x)))


def masked_nll(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum() / m.sum()


def is_valid(seq):
    depth = 0
    for t in seq:
        depth += 1 if t == OPEN else -1
        if depth < 0:
            return False
    return depth == 0


def sample(model, n, rng_key):
    x = mx.full((n, 1), BOS, dtype=mx.int32)
    out = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for t in range(T + 4):
        logits = model(x)[:, -1]
        rng_key, sub = mx.random.split(rng_key)
        nxt = mx.random.categorical(logits, key=sub)
        nxt_np = np.array(nxt)
        for i in range(n):
            if not done[i]:
                if nxt_np[i] == EOS:
                    done[i] = True
                else:
                    out[i].append(int(nxt_np[i]))
        if done.all():
            break
        x = mx.concatenate([x, nxt[:, None].astype(mx.int32)], axis=1)
    return [s for s, d in zip(out, done) if d], int((~done).sum())


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    val = encode([random_dyck(rng) for _ in range(1024)])

    model = CharGRU()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=optim.step_decay(4e-3, 0.5, 400))
    vg = nn.value_and_grad(model, masked_nll)

    xb, yb, mb = encode([random_dyck(rng) for _ in range(64)])
    loss, g0 = vg(model, xb, yb, mb)
    flat = tree_flatten(g0)
    nz = sum(float(mx.abs(g).max()) > 0 for _, g in flat)
    print(f"# gradcheck leaves={len(flat)} nonzero={nz}")

    key = mx.random.key(99)
    ts0 = 1_700_000_000_000_000_000
    for step in range(0, 1201):
        if step > 0:
            xb, yb, mb = encode([random_dyck(rng) for _ in range(64)])
            loss, grads = vg(model, xb, yb, mb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0:
            val_bpc = masked_nll(model, *val).item() / np.log(2)
            key, sub = mx.random.split(key)
            samples, unfinished = sample(model, 128, sub)
            valid = sum(is_valid(s) for s in samples) / 128
            mean_len = np.mean([len(s) for s in samples]) if samples else 0.0
            print(f"dyck_lm,model=gru48,split=val step={step}i,lr={opt.learning_rate.item():.5f},"
                  f"train_nll={loss.item():.4f},val_bpc={val_bpc:.4f},sample_valid_frac={valid:.3f},"
                  f"sample_mean_len={mean_len:.2f},unfinished={unfinished}i {ts0 + step * 1_000_000_000}")
    print(f"# wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
