"""Dovecote keeper: learn when to open the loft for a training toss.
Context = 6 morning readings (wind, cloud, temperature, pressure trend,
raptor sightings, flock hunger); action = one of 4 release windows;
reward = 1 if the whole kit comes home before dusk (Bernoulli).
REINFORCE with a running baseline; the update step is mx.compile'd.
Repeated for three seeds, each from a fresh policy."""
import logging
import time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s loft: %(message)s")
log = logging.getLogger("dovecote")

N_CTX, N_ACT = 6, 4
mx.random.seed(4242)
TRUE_W = mx.random.normal((N_CTX, N_ACT)) * 1.4
TRUE_B = mx.array([0.2, -0.1, 0.0, -0.4])

def homing_prob(ctx):
    return mx.sigmoid(ctx @ TRUE_W + TRUE_B)

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(N_CTX, 32)
        self.o = nn.Linear(32, N_ACT)
    def __call__(self, c):
        return self.o(mx.tanh(self.h(c)))

def run_seed(seed, rounds=600, batch=64):
    mx.random.seed(seed)
    pol = Policy()
    opt = optim.RMSprop(learning_rate=1e-3)
    mx.eval(pol.parameters())

    def pg_loss(p, ctx, act, adv):
        logp = nn.log_softmax(p(ctx), axis=-1)
        chosen = mx.take_along_axis(logp, act[:, None], axis=1).squeeze(1)
        ent = -(mx.exp(logp) * logp).sum(axis=1).mean()
        return -(chosen * adv).mean() - 0.01 * ent

    grad_fn = nn.value_and_grad(pol, pg_loss)
    state = [pol.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def update(ctx, act, adv):
        loss, g = grad_fn(pol, ctx, act, adv)
        opt.update(pol, g)
        return loss

    baseline = 0.0
    window = []
    for r in range(rounds):
        ctx = mx.random.normal((batch, N_CTX))
        act = mx.random.categorical(pol(ctx))
        p_home = homing_prob(ctx)
        reward = (mx.random.uniform(shape=(batch,)) <
                  mx.take_along_axis(p_home, act[:, None], axis=1).squeeze(1)).astype(mx.float32)
        adv = reward - baseline
        loss = update(ctx, act, adv)
        mx.eval(state, loss, reward)
        mean_r = reward.mean().item()
        baseline = 0.9 * baseline + 0.1 * mean_r
        window.append(mean_r)
        if r % 100 == 99:
            evc = mx.random.normal((2000, N_CTX))
            pe = homing_prob(evc)
            greedy = mx.take_along_axis(pe, mx.argmax(pol(evc), axis=1)[:, None], axis=1).mean().item()
            oracle = pe.max(axis=1).mean().item()
            uniform = pe.mean().item()
            log.info("seed=%d round=%03d kits_home=%.3f (last100) greedy=%.3f oracle=%.3f uniform=%.3f pg=%+.4f",
                     seed, r + 1, sum(window) / len(window), greedy, oracle, uniform, loss.item())
            window = []
    return greedy, oracle, uniform

t0 = time.time()
rows = []
for seed in (11, 12, 13):
    rows.append((seed,) + run_seed(seed))
print("seed | greedy | oracle | uniform | gap_closed")
for s, g, o, u in rows:
    print(f"{s:4d} | {g:.3f}  | {o:.3f}  | {u:.3f}   | {100 * (g - u) / (o - u):5.1f}%")
print(f"wall {time.time() - t0:.1f}s")
