"""Hot-air balloon altitude hold: a small policy chooses vent / hold / burn every
10 s to keep the envelope at a target altitude.  REINFORCE with a per-step
baseline, gradients averaged with mx.distributed.all_sum (single process here),
RMSprop, logging + tqdm-style progress lines.
"""
import logging
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s balloon: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("balloon")

group = mx.distributed.init()
mx.random.seed(7 + group.rank())

B, T = 96, 40                  # flights per batch, control ticks per flight
TARGET = 3.0                   # hundreds of metres
ITERS = 160


def simulate(policy_fn, key):
    """Roll out B flights.  Returns obs [T,B,3], actions [T,B], rewards [T,B]."""
    keys = mx.random.split(key, T + 1)
    h = mx.random.uniform(0.0, 1.0, (B,), key=keys[-1])     # start near the field
    v = mx.zeros((B,))
    theta = mx.full((B,), 55.0)                             # envelope over-temperature, C
    obs_l, act_l, rew_l = [], [], []
    for t in range(T):
        obs = mx.stack([(h - TARGET), v * 2.0, (theta - 60.0) / 10.0], axis=1)
        logits = policy_fn(obs)
        a = mx.random.categorical(logits, key=keys[t])
        dtheta = mx.where(a == 2, 4.0, mx.where(a == 0, -5.0, 0.0))
        theta = 0.97 * theta + 0.03 * 50.0 + dtheta            # cools toward ambient offset
        lift = 0.02 * (theta - 60.0) - 0.01 * h                 # thinner air up high
        v = 0.85 * v + lift
        h = mx.maximum(h + v, 0.0)
        r = -mx.abs(h - TARGET)
        obs_l.append(obs)
        act_l.append(a)
        rew_l.append(r)
    return mx.stack(obs_l), mx.stack(act_l), mx.stack(rew_l)


class Pilot(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        return self.head(nn.tanh(self.fc2(nn.tanh(self.fc1(x)))))


pilot = Pilot()
mx.eval(pilot.parameters())

# reference: a pilot who picks vent/hold/burn uniformly at random
_, _, r_rand = simulate(lambda o: mx.zeros((o.shape[0], 3)), mx.random.key(99))
rand_return = mx.mean(mx.sum(r_rand, axis=0)).item()


def returns_to_go(r):
    out, acc = [], mx.zeros(r.shape[1:])
    for t in range(r.shape[0] - 1, -1, -1):
        acc = r[t] + 0.97 * acc
        out.append(acc)
    return mx.stack(out[::-1])


def pg_loss(model, obs, act, adv, beta):
    logits = model(obs.reshape(-1, 3))
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, act.reshape(-1, 1), axis=-1).squeeze(-1)
    ent = -mx.sum(mx.exp(logp_all) * logp_all, axis=-1).mean()
    return -(logp * adv.reshape(-1)).mean() - beta * ent, ent


opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
vg = nn.value_and_grad(pilot, pg_loss)

log.info("world size %d, random-pilot return %.2f (higher is better)", group.size(), rand_return)
t0 = time.time()
best_ret = -1e9
for it in range(1, ITERS + 1):
    obs, act, rew = simulate(pilot, mx.random.key(1000 + it))
    G = returns_to_go(rew)
    adv = G - mx.mean(G, axis=1, keepdims=True)
    adv = adv / (mx.std(adv) + 1e-6)
    obs, act, adv = mx.stop_gradient(obs), mx.stop_gradient(act), mx.stop_gradient(adv)
    beta = 0.02 * (1.0 - it / ITERS)
    (loss, ent), grads = vg(pilot, obs, act, adv, beta)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / group.size(), grads)
    opt.update(pilot, grads)
    ep_ret = mx.mean(mx.sum(rew, axis=0))
    final_err = mx.mean(mx.abs(obs[-1, :, 0])) * 100.0
    mx.eval(pilot.parameters(), opt.state, loss, ent, ep_ret, final_err)
    best_ret = max(best_ret, ep_ret.item())
    if it % 8 == 0:
        done = int(30 * it / ITERS)
        el = time.time() - t0
        sys.stdout.write(f"train |{'#' * done}{'.' * (30 - done)}| {it}/{ITERS} "
                         f"[{el:4.1f}s, {it / el:5.1f}it/s, ret={ep_ret.item():.2f}]\n")
    if it % 20 == 0:
        log.info("iter %d  return %.2f (random %.2f)  |alt err| at tick %d: %.0f m  entropy %.3f nats  loss %+.4f",
                 it, ep_ret.item(), rand_return, T - 1, final_err.item(), ent.item(), loss.item())

# greedy check flight
obs, act, rew = simulate(lambda o: pilot(o) * 50.0, mx.random.key(4242))
greedy = mx.mean(mx.sum(rew, axis=0)).item()
tail_err = (mx.mean(mx.abs(obs[T // 2:, :, 0])) * 100.0).item()
log.info("done in %.1fs  best batch return %.2f  near-greedy return %.2f vs random %.2f  mean |alt err| second half %.0f m",
         time.time() - t0, best_ret, greedy, rand_return, tail_err)
