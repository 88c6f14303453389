# Reward-weighted policy-gradient fine-tune of a tiny token policy, with gradient
# accumulation over 4 micro-batches and a grad-norm readout for the progress bar.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)
np.random.seed(5)
V, H, CTX = 12, 32, 4

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.mlp = nn.Sequential(nn.Linear(CTX * H, H), nn.ReLU(), nn.Linear(H, V))
    def __call__(self, ctx):
        return self.mlp(self.emb(ctx).reshape(ctx.shape[0], -1))

policy = Policy()
opt = optim.Adam(learning_rate=3e-3)
GRAD_ACCUM, MB, STEPS = 4, 32, 300

def pg_loss(model, ctx, act, adv):
    logp = nn.log_softmax(model(ctx), axis=-1)
    lp = mx.take_along_axis(logp, act[:, None], axis=-1)[:, 0]
    return -mx.mean(lp * adv)

vg = nn.value_and_grad(policy, pg_loss)

def rollout():
    ctx = mx.array(np.random.randint(0, V, (MB, CTX)))
    logits = policy(ctx)
    act = mx.random.categorical(logits)
    r = (act == (ctx[:, 0] + ctx[:, 1]) % V).astype(mx.float32)   # reward: emit (c0 + c1) mod V
    adv = (r - mx.mean(r)) / (mx.std(r) + 1e-4)
    return ctx, act, adv, mx.mean(r).item()

t0 = time.time()
for step in range(1, STEPS + 1):
    accum_grads, rewards = None, []
    for _ in range(GRAD_ACCUM):
        ctx, act, adv, rew = rollout()
        loss, grads_mb = vg(policy, ctx, act, adv)
        accum_grads = tree_map(mx.add, accum_grads, grads_mb) if accum_grads else grads_mb
        rewards.append(rew)
    accum_grads = tree_map(lambda g: g / GRAD_ACCUM, accum_grads)
    grad_norm = np.linalg.norm(
        [np.linalg.norm(np.array(v).flatten()) for _, v in tree_flatten(accum_grads)]
    )
    opt.update(policy, accum_grads)
    mx.eval(policy.parameters(), opt.state)
    if step % 25 == 0 or step == 1:
        bar = "#" * int(20 * np.mean(rewards)) + "." * (20 - int(20 * np.mean(rewards)))
        print(f"upd {step:3d}/{STEPS} [{bar}] reward={np.mean(rewards):.3f} |g|={grad_norm:.3f} {time.time() - t0:5.1f}s")
