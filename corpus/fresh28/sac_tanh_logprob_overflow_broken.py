"""Soft actor-critic style policy update on a 1-D continuous bandit.
Reward r(a) = -(a - 0.6)^2 for actions squashed to [-1, 1]; the critic is known analytically,
so only the actor (mean / log_std heads) is trained. Policy starts very wide."""
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.mu = nn.Linear(32, 1)
        self.log_std = nn.Linear(32, 1)
        self.log_std.bias = mx.array([3.0])   # broad initial exploration

    def __call__(self, s):
        h = self.body(s)
        return self.mu(h), self.log_std(h)

def squashed_sample(actor, s):
    mean, log_std = actor(s)
    std = mx.exp(log_std)
    eps = mx.random.normal(mean.shape)
    u = mean + std * eps                        # pre-tanh action
    a = mx.tanh(u)
    logp = -0.5 * mx.sum(((u - mean) / std) ** 2 + 2 * log_std + math.log(2 * math.pi), axis=-1)
    # log(1 - tanh(u)^2) written as 2*(log 2 - u - log(1 + exp(-2u)))
    correction = mx.sum(2 * (math.log(2) - u - mx.log(1 + mx.exp(-2 * u))), axis=-1)
    logp = logp - correction
    return a, logp

def q_value(a):
    return -mx.sum((a - 0.6) ** 2, axis=-1)

actor = Actor()
opt = optim.Adam(learning_rate=1e-3)
ALPHA = 0.05

def actor_loss(model, s):
    a, logp = squashed_sample(model, s)
    return mx.mean(ALPHA * logp - q_value(a))

step_fn = nn.value_and_grad(actor, actor_loss)
t0 = time.time()
for step in range(1, 1501):
    s = mx.random.normal((256, 2))
    loss, grads = step_fn(actor, s)
    opt.update(actor, grads)
    mx.eval(actor.parameters(), opt.state, loss)
    if step % 100 == 0:
        sv = mx.zeros((1, 2))
        m, ls = actor(sv)
        print(json.dumps({"step": step, "actor_loss": round(loss.item(), 4),
                          "mean_action": round(math.tanh(m.item()), 4) if math.isfinite(m.item()) else None,
                          "std": round(math.exp(ls.item()), 4) if math.isfinite(ls.item()) else None,
                          "t": round(time.time() - t0, 1)}))
