# Cheesemonger counter: which of five cheeses to offer a walk-in customer so that
# they buy.  Contextual bandit trained by REINFORCE with a learned value baseline;
# gradients go through mx.distributed (a single-process group here, so all_sum is
# the identity, but the script is written to be launched with mlx.launch too).
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s counter | %(message)s")
log = logging.getLogger("cheesemonger")

group = mx.distributed.init()
rank, world = group.rank(), group.size()
log.info("distributed group: rank %d of %d", rank, world)

CHEESES = ["brie", "stilton", "manchego", "gouda", "halloumi"]
K, D = len(CHEESES), 8
rng = np.random.default_rng(1350 + rank)
true_w = np.random.default_rng(7).normal(0, 0.7, (D, K)).astype(np.float32)
true_b = np.array([-0.3, -0.9, -0.5, 0.1, -0.7], np.float32)


def customers(n):
    # age, budget, likes-strong, vegetarian, tourist, time-of-day, weekday, basket size
    return rng.normal(0, 1, (n, D)).astype(np.float32)


def buy_prob(x):
    return 1 / (1 + np.exp(-(x @ true_w + true_b)))


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.policy = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, K))
        self.value = nn.Linear(D, 1)

    def __call__(self, x):
        return self.policy(x), self.value(x).squeeze(-1)


mx.random.seed(1350)
model = Counter()
opt = optim.RMSprop(learning_rate=6e-4)


def loss_fn(m, x, a, r):
    logits, v = m(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    pg = -(adv * logp_a).mean()
    vl = 0.5 * ((v - r) ** 2).mean()
    return pg + vl - 0.01 * ent, (pg, vl, ent)


vg = nn.value_and_grad(model, lambda m, x, a, r: loss_fn(m, x, a, r)[0])

x_eval = customers(4000)
p_eval = buy_prob(x_eval)
oracle = float(p_eval.max(1).mean())
uniform = float(p_eval.mean())
best_fixed = float(p_eval.mean(0).max())


def greedy_value():
    logits, _ = model(mx.array(x_eval))
    pick = np.array(mx.argmax(logits, axis=-1))
    return float(p_eval[np.arange(len(pick)), pick].mean())


log.info("eval buy-rate references: oracle %.3f | best single cheese %.3f | random %.3f",
         oracle, best_fixed, uniform)
log.info("upd   0 | greedy %.3f vs oracle %.3f (untrained policy)", greedy_value(), oracle)
window = []
B = 64
for upd in range(1, 801):
    x = customers(B)
    logits, _ = model(mx.array(x))
    a = mx.random.categorical(logits)
    a_np = np.array(a)
    r_np = (rng.random(B) < buy_prob(x)[np.arange(B), a_np]).astype(np.float32)
    loss, grads = vg(model, mx.array(x), a, mx.array(r_np))
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(r_np.mean())
    if upd % 50 == 0:
        _, (pg, vl, ent) = loss_fn(model, mx.array(x), a, mx.array(r_np))
        g = greedy_value()
        log.info("upd %3d | sold %.3f (last 50) | greedy %.3f vs oracle %.3f | regret %.3f | "
                 "pg %+.4f vf %.4f H %.3f", upd, np.mean(window), g, oracle, oracle - g,
                 pg.item(), vl.item(), ent.item())
        window = []

g = greedy_value()
gn = sum(float(mx.abs(v).sum()) for _, v in tree_flatten(grads))
log.info("final greedy buy-rate %.3f (oracle %.3f, random %.3f) -> %.0f%% of the gap closed",
         g, oracle, uniform, 100 * (g - uniform) / (oracle - uniform))
log.info("last |grad|_1 %.4f", gn)
