# Expert-iteration (rejection-sampling fine-tuning) of a tiny bell-order policy,
# trainer with mlx-lm style callbacks.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BELLS, LEN, ROUNDS, ITERS, BATCH, SAMPLES = 6, 8, 4, 60, 64, 512
mx.random.seed(7)

class Policy(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.tok = nn.Embedding(BELLS + 1, d)       # index BELLS = start token
        self.pos = nn.Embedding(LEN, d)
        self.l1 = nn.Linear(d, 96)
        self.out = nn.Linear(96, BELLS)
    def __call__(self, prev, pos):
        h = self.tok(prev) + self.pos(pos)
        return self.out(nn.gelu(self.l1(h)))

def reward(seq):  # count adjacent steps that move by exactly one place
    d = mx.abs(seq[:, 1:] - seq[:, :-1])
    return (d == 1).sum(axis=1).astype(mx.float32)

def sample(model, n):
    prev = mx.full((n,), BELLS, dtype=mx.int32)
    out = []
    for t in range(LEN):
        logits = model(prev, mx.full((n,), t, dtype=mx.int32))
        prev = mx.random.categorical(logits).astype(mx.int32)
        out.append(prev)
    return mx.stack(out, axis=1)

def nll(model, seqs):
    n = seqs.shape[0]
    prev = mx.concatenate([mx.full((n, 1), BELLS, dtype=mx.int32), seqs[:, :-1]], axis=1)
    pos = mx.broadcast_to(mx.arange(LEN), (n, LEN))
    logits = model(prev, pos)
    return nn.losses.cross_entropy(logits, seqs, reduction="mean")

class PrintCallback:
    def on_train_loss_report(self, info):
        print(f"Round {info['round']} Iter {info['iteration']}: Train loss {info['train_loss']:.3f}, "
              f"Learning Rate {info['learning_rate']:.3e}, Kept {info['kept']}")
    def on_val_loss_report(self, info):
        print(f"Round {info['round']}: Mean reward {info['reward']:.3f} (uniform policy {info['base']:.3f}, "
              f"max {LEN - 1}), kept threshold {info['thr']:.1f}")

model = Policy()
mx.eval(model.parameters())
cb = PrintCallback()
loss_and_grad = nn.value_and_grad(model, nll)

uniform = mx.random.randint(0, BELLS, (4096, LEN))
base = reward(uniform).mean().item()
r0 = reward(sample(model, 2048)).mean().item()
print(f"Start: mean reward {r0:.3f} (uniform policy {base:.3f})")
t0 = time.time()
for rnd in range(1, ROUNDS + 1):
    pool = sample(model, SAMPLES)
    r = reward(pool)
    thr = float(sorted(r.tolist())[int(0.75 * SAMPLES)])   # keep top quarter
    keep = [i for i, v in enumerate(r.tolist()) if v >= thr]
    data = pool[mx.array(keep)]
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 10),
                                  optim.cosine_decay(3e-3, ITERS - 10, 3e-4)], [10])
    opt = optim.Adam(learning_rate=sched)
    for it in range(1, ITERS + 1):
        idx = mx.random.randint(0, data.shape[0], (BATCH,))
        loss, g = loss_and_grad(model, data[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 20 == 0:
            cb.on_train_loss_report({"round": rnd, "iteration": it, "train_loss": loss.item(),
                                     "learning_rate": opt.learning_rate.item(), "kept": len(keep)})
    rew = reward(sample(model, 2048)).mean().item()
    cb.on_val_loss_report({"round": rnd, "reward": rew, "base": base, "thr": thr})
print(f"Done in {time.time() - t0:.1f}s; final mean reward {rew:.3f} vs start {r0:.3f}")
