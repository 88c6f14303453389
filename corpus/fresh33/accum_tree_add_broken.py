# Reward-weighted regression with micro-batch gradient accumulation (tiny policy MLP).
import logging, time, random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("rwr")

mx.random.seed(3)
random.seed(3)

N_ACT = 4
D = 8
W_true = mx.random.normal((D, N_ACT))

def sample_batch(n):
    s = mx.random.normal((n, D))
    best = mx.argmax(s @ W_true, axis=1)
    return s, best

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, N_ACT)
    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))

policy = Policy()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

def loss_fn(model, s, a, r):
    logp = nn.log_softmax(model(s), axis=-1)
    lp = mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1)
    return -(lp * r).mean() / GRAD_ACCUM

loss_and_grad = nn.value_and_grad(policy, loss_fn)

GRAD_ACCUM = 4
MB = 32
for it in range(1, 301):
    t0 = time.time()
    accum_grads = None
    tot = 0.0
    for k in range(GRAD_ACCUM):
        s, best = sample_batch(MB)
        logits = policy(s)
        a = mx.random.categorical(logits)
        r = (a == best).astype(mx.float32) - 0.25
        loss, grads_mb = loss_and_grad(policy, s, a, r)
        if grads_mb:
            accum_grads = (
                mx.utils.tree_map(mx.add, accum_grads, grads_mb)
                if accum_grads
                else grads_mb
            )
        tot += loss.item() * GRAD_ACCUM
    gnorm = sum((g * g).sum() for _, g in tree_flatten(accum_grads)) ** 0.5
    opt.update(policy, accum_grads)
    mx.eval(policy.parameters(), opt.state)
    if it % 25 == 0 or it == 1:
        s, best = sample_batch(1024)
        acc = (mx.argmax(policy(s), axis=1) == best).mean().item()
        log.info("iter %d loss %.4f |g| %.4f greedy_acc %.3f (%.1f ms)", it, tot / GRAD_ACCUM, gnorm.item(), acc, 1000 * (time.time() - t0))
log.info("done")
