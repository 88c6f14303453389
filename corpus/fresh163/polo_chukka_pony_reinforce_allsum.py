# Polo: learn which of 5 ponies in the string to field for the next chukka
# from 8 readings (heart-rate recovery, ground firmness, score margin, ...).
# Contextual bandit trained with REINFORCE + running-mean baseline. A fixed
# random "observer" layer (frozen on purpose: it stands for a vet's
# pre-trained fitness encoder) feeds a trainable policy head. Gradients pass through
# mx.distributed.all_sum so the same script runs on several hosts; here 1.
import logging, sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(asctime)s %(levelname)s string: %(message)s")
log = logging.getLogger("string")

world = mx.distributed.init()
mx.random.seed(5 + world.rank())
PONIES = ["Bramble", "Tinta", "Lucero", "Mora", "Zafiro"]
W_TRUE = mx.random.normal((8, 5)) * 1.4  # hidden pony-vs-conditions effect

def chukka(n):
    s = mx.random.normal((n, 8))
    payoff = s @ W_TRUE  # expected net goals of each pony
    return s, payoff

class Manager(nn.Module):
    def __init__(self):
        super().__init__()
        self.observer = nn.Linear(8, 48)
        self.head = nn.Sequential(nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 5))
    def __call__(self, s):
        return self.head(mx.tanh(self.observer(s)))

mgr = Manager()
mgr.observer.freeze()
mx.eval(mgr.parameters())
opt = optim.RMSprop(learning_rate=2e-4)

def pg_loss(model, s, a, adv):
    logp = nn.log_softmax(model(s), axis=-1)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1)[:, 0]
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return -(chosen * adv).mean() - 0.01 * ent

grad_fn = nn.value_and_grad(mgr, pg_loss)
baseline = 0.0
ROUNDS, N = 1500, 128
t0 = time.time()
hist = []
for r in range(1, ROUNDS + 1):
    s, payoff = chukka(N)
    a = mx.random.categorical(mgr(s))
    got = mx.take_along_axis(payoff, a[:, None], 1)[:, 0] + 0.8 * mx.random.normal((N,))
    rew = got.mean().item()
    baseline = rew if r == 1 else 0.95 * baseline + 0.05 * rew
    adv = got - baseline
    loss, g = grad_fn(mgr, s, a, adv)
    g = tree_map(lambda x: mx.distributed.all_sum(x) / world.size(), g)
    opt.update(mgr, g)
    mx.eval(mgr.parameters(), opt.state, loss)
    best = payoff.max(axis=1).mean().item()
    hist.append((rew, best - rew))
    if r % 100 == 0:
        done = int(40 * r / ROUNDS)
        avg_r = sum(h[0] for h in hist[-100:]) / 100
        avg_g = sum(h[1] for h in hist[-100:]) / 100
        sys.stdout.write(f"chukkas |{'#' * done}{'.' * (40 - done)}| {r}/{ROUNDS} "
                         f"[{time.time() - t0:4.1f}s, goals={avg_r:+.2f}, regret={avg_g:.2f}]\n")
        sys.stdout.flush()
    if r % 375 == 0:
        gn = sum(mx.sum(v * v).item() for _, v in tree_flatten(g)) ** 0.5
        log.info("audit round %d loss=%.4f grad_norm=%.4f baseline=%.3f rank=%d/%d",
                 r, loss.item(), gn, baseline, world.rank(), world.size())

s, payoff = chukka(4000)
greedy = mx.argmax(mgr(s), axis=1)
acc = (greedy == mx.argmax(payoff, axis=1)).astype(mx.float32).mean().item()
pts = mx.take_along_axis(payoff, greedy[:, None], 1).mean().item()
rand_pts = payoff.mean().item()
log.info("final greedy: net goals %.3f (random pick %.3f, oracle %.3f), picks best %.1f%%",
         pts, rand_pts, payoff.max(1).mean().item(), 100 * acc)
