"""Parallel block drafter trained by sequence-level distillation, in three stages.

Flag-relay signal symbols (20 of them) follow a made-up second-order source.
A target next-symbol model is fitted silently and frozen. Its greedy 3-symbol
continuations of random 2-symbol contexts become the drafter's data. The drafter
guesses every slot of the block in one pass (shared trunk + slot embedding).
Stage s supervises the first s slots, so the loss steps up when a slot is added.
Each stage has its own AdamW with warm-up from exactly 0, then cosine decay.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, BLOCK = 20, 3
mx.random.seed(3)

src_logits = 3.0 * mx.random.normal((V, V, V))
src_logp = src_logits - mx.logsumexp(src_logits, axis=-1, keepdims=True)


def draw(n, key):
    k1, k2 = mx.random.split(key)
    ctx = mx.random.randint(0, V, (n, 2), key=k1)
    return ctx, mx.random.categorical(src_logp[ctx[:, 0], ctx[:, 1]], key=k2)


class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 12)
        self.l1 = nn.Linear(24, 64)
        self.l2 = nn.Linear(64, V)

    def __call__(self, ctx):
        return self.l2(nn.silu(self.l1(self.emb(ctx).reshape(ctx.shape[0], -1))))


def target_ce(m, ctx, y):
    return nn.losses.cross_entropy(m(ctx), y, reduction="mean")


t0 = time.time()
target = Target()
t_opt = optim.Adam(learning_rate=3e-3)
t_fn = nn.value_and_grad(target, target_ce)
key = mx.random.key(1)
for _ in range(600):
    key, sub = mx.random.split(key)
    c, y = draw(256, sub)
    _, g = t_fn(target, c, y)
    t_opt.update(target, g)
    mx.eval(target.parameters(), t_opt.state)
target.freeze()
vc, vy = draw(3000, mx.random.key(77))
print(f"target ready after {time.time() - t0:.1f}s, held-out CE {float(target_ce(target, vc, vy)):.4f}")


def greedy_block(ctx):
    out, cur = [], ctx
    for _ in range(BLOCK):
        nxt = mx.argmax(target(cur), axis=-1)
        out.append(nxt)
        cur = mx.stack([cur[:, 1], nxt], axis=1)
    return mx.stack(out, axis=1)


train_ctx = mx.random.randint(0, V, (9000, 2), key=mx.random.key(8))
train_blk = greedy_block(train_ctx)
eval_ctx = mx.random.randint(0, V, (3000, 2), key=mx.random.key(9))
eval_blk = greedy_block(eval_ctx)
mx.eval(train_blk, eval_blk)


class BlockDrafter(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 8)
        self.trunk = nn.Linear(16, 48)
        self.slot = nn.Embedding(BLOCK, 48)
        self.mix = nn.Linear(48, 48)
        self.head = nn.Linear(48, V)

    def __call__(self, ctx):
        h = nn.silu(self.trunk(self.emb(ctx).reshape(ctx.shape[0], -1)))
        h = h[:, None, :] + self.slot.weight[None, :, :]
        return self.head(nn.silu(self.mix(h)))


def block_loss(m, ctx, blk, upto):
    logits = m(ctx)[:, :upto]
    return nn.losses.cross_entropy(logits, blk[:, :upto], reduction="mean")


def accepted_len(guess, ref):
    ok = (guess == ref).astype(mx.float32)
    return float(mx.mean(mx.sum(mx.cumprod(ok, axis=1), axis=1)))


drafter = BlockDrafter()
STEPS, WARM, BS = 260, 40, 128
for stage in range(1, BLOCK + 1):
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                                  optim.cosine_decay(3e-3, STEPS - WARM, end=1e-4)], [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
    fn = nn.value_and_grad(drafter, block_loss)
    key = mx.random.key(100 + stage)
    acc = []
    for step in range(1, STEPS + 1):
        key, sub = mx.random.split(key)
        idx = mx.random.randint(0, train_ctx.shape[0], (BS,), key=sub)
        loss, g = fn(drafter, train_ctx[idx], train_blk[idx], stage)
        opt.update(drafter, g)
        mx.eval(drafter.parameters(), opt.state, loss)
        acc.append(loss.item())
        if step % 65 == 0:
            print(f"stage {stage} step {step:3d}  block CE (slots 1..{stage}) {sum(acc) / len(acc):.4f}  "
                  f"lr {opt.learning_rate.item():.2e}")
            acc = []
    guess = mx.argmax(drafter(eval_ctx), axis=-1)
    per_slot = [float(mx.mean(guess[:, j] == eval_blk[:, j])) for j in range(BLOCK)]
    print(f"end of stage {stage}: held-out slot match " + " ".join(f"{a:.3f}" for a in per_slot)
          + f"  mean accepted {accepted_len(guess, eval_blk):.3f} / {BLOCK}")

# baselines: repeat the last context symbol; most frequent symbol everywhere
rep = mx.repeat(eval_ctx[:, 1:2], BLOCK, axis=1)
counts = mx.zeros((V,)).at[train_blk.reshape(-1)].add(1.0)
mode = mx.full(eval_blk.shape, mx.argmax(counts).item(), dtype=eval_blk.dtype)
guess = mx.argmax(drafter(eval_ctx), axis=-1)
print(f"mean accepted block length: drafter {accepted_len(guess, eval_blk):.3f} | "
      f"repeat-last {accepted_len(rep, eval_blk):.3f} | most-frequent {accepted_len(mode, eval_blk):.3f} | max {BLOCK}")
