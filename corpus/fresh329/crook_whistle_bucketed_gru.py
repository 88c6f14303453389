# Sheepdog trial logs: each run is a variable-length sequence of whistle commands
# (8 command tokens). Predict the run outcome: 0 = penned clean, 1 = penned late, 2 = retired.
# Length-bucketed batches, right padding with a mask, GRU encoder with masked mean pooling.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
VOCAB, PAD = 9, 0  # tokens 1..8 are commands, 0 is padding


def make_run():
    n = int(rng.integers(6, 41))
    seq = rng.integers(1, VOCAB, size=n)
    # made-up law: many "lie down" (1) and "that'll do" (8) calls mean trouble
    trouble = (np.mean(seq == 1) + np.mean(seq == 8)) * 4 + n / 40 + rng.normal(0, 0.15)
    label = 0 if trouble < 1.35 else (1 if trouble < 1.8 else 2)
    return seq, label


data = [make_run() for _ in range(3000)]
train, valid = data[:2500], data[2500:]


def buckets(runs, bs, shuffle):
    order = sorted(range(len(runs)), key=lambda i: len(runs[i][0]))
    chunks = [order[i:i + bs] for i in range(0, len(order), bs)]
    if shuffle:
        rng.shuffle(chunks)
    for c in chunks:
        L = max(len(runs[i][0]) for i in c)
        x = np.full((len(c), L), PAD, np.int32)
        for r, i in enumerate(c):
            x[r, :len(runs[i][0])] = runs[i][0]
        lens = np.array([len(runs[i][0]) for i in c], np.int32)
        y = np.array([runs[i][1] for i in c], np.int32)
        yield mx.array(x), mx.array(lens), mx.array(y)


class Encoder(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.gru = nn.GRU(d, d)
        self.head = nn.Linear(d, 3)

    def __call__(self, x, lens):
        h = self.gru(self.emb(x))
        mask = (mx.arange(x.shape[1])[None, :] < lens[:, None]).astype(h.dtype)
        pooled = (h * mask[..., None]).sum(axis=1) / lens[:, None].astype(h.dtype)
        return self.head(pooled)


model = Encoder()
mx.eval(model.parameters())
EPOCHS, BS = 8, 50
steps_per_epoch = (len(train) + BS - 1) // BS
total = EPOCHS * steps_per_epoch
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)


def loss_fn(m, x, lens, y):
    return nn.losses.cross_entropy(m(x, lens), y).mean()


vg = nn.value_and_grad(model, loss_fn)


def evaluate(runs):
    correct, tot, loss_sum = 0, 0, 0.0
    for x, lens, y in buckets(runs, 100, False):
        logits = model(x, lens)
        loss_sum += nn.losses.cross_entropy(logits, y).sum().item()
        correct += (logits.argmax(-1) == y).sum().item()
        tot += y.shape[0]
    return loss_sum / tot, correct / tot


counts = np.bincount([r[1] for r in train], minlength=3)
majority = np.argmax(counts)
base_acc = np.mean([r[1] == majority for r in valid])
print(f"class counts {counts.tolist()}  majority-class valid acc {base_acc:.3f}")
t0 = time.time()
step = 0
for ep in range(EPOCHS):
    run_loss, nb = 0.0, 0
    for x, lens, y in buckets(train, BS, True):
        loss, g = vg(model, x, lens, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item(); nb += 1; step += 1
        if step == 1:
            print(f"step 1 lr {float(opt.learning_rate):.2e} (warmup starts at 0) loss {loss.item():.4f}")
    vl, va = evaluate(valid)
    print(f"epoch {ep+1} train {run_loss/nb:.4f} valid {vl:.4f} acc {va:.3f} (baseline {base_acc:.3f}) "
          f"lr {float(opt.learning_rate):.2e} {time.time()-t0:.1f}s")
vl, va = evaluate(valid)
print(f"final valid loss {vl:.4f} acc {va:.3f} vs majority {base_acc:.3f}")
