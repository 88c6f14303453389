"""Advantage actor-critic on a hand-written CartPole (classic Barto/Sutton physics).

Rollouts run in numpy with a snapshot of the weights taken at the start of each
episode (cheap per-step inference); the update recomputes log-probs and values
in MLX over the whole episode.  Shared tanh trunk, policy + value heads,
entropy bonus, Adam.  Episodes are capped at 300 steps.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class CartPole:
    g, mc, mp, l, fmag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.s = self.rng.uniform(-0.05, 0.05, 4)
        return self.s.copy()

    def step(self, a):
        x, xd, th, thd = self.s
        f = self.fmag if a == 1 else -self.fmag
        ct, st = math.cos(th), math.sin(th)
        tot = self.mc + self.mp
        tmp = (f + self.mp * self.l * thd ** 2 * st) / tot
        thacc = (self.g * st - ct * tmp) / (self.l * (4.0 / 3.0 - self.mp * ct ** 2 / tot))
        xacc = tmp - self.mp * self.l * thacc * ct / tot
        x, xd = x + self.tau * xd, xd + self.tau * xacc
        th, thd = th + self.tau * thd, thd + self.tau * thacc
        self.s = np.array([x, xd, th, thd])
        done = abs(x) > 2.4 or abs(th) > 12 * math.pi / 180
        return self.s.copy(), 1.0, done


class ActorCritic(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.trunk = nn.Linear(4, h)
        self.pi = nn.Linear(h, 2)
        self.v = nn.Linear(h, 1)

    def __call__(self, s):
        z = mx.tanh(self.trunk(s))
        return self.pi(z), self.v(z).squeeze(-1)


def numpy_policy(model):
    W1, b1 = np.array(model.trunk.weight), np.array(model.trunk.bias)
    W2, b2 = np.array(model.pi.weight), np.array(model.pi.bias)

    def act_probs(s):
        z = np.tanh(W1 @ s + b1)
        lg = W2 @ z + b2
        p = np.exp(lg - lg.max())
        return p / p.sum()
    return act_probs


def loss_fn(model, S, A, R, ent_coef):
    logits, values = model(S)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, A[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(R - values)
    policy_loss = -(logp_a * adv).mean()
    value_loss = 0.5 * ((R - values) ** 2).mean()
    entropy = -(mx.exp(logp) * logp).sum(-1).mean()
    return policy_loss + 0.5 * value_loss - ent_coef * entropy, (value_loss, entropy)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    env = CartPole(3)
    model = ActorCritic()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    gamma, cap = 0.99, 300

    returns = []
    for ep in range(1, 701):
        probs = numpy_policy(model)
        s, S, A, rew = env.reset(), [], [], []
        for _ in range(cap):
            a = int(rng.random() < probs(s)[1])
            S.append(s)
            A.append(a)
            s, r, done = env.step(a)
            rew.append(r)
            if done:
                break
        R, g = np.zeros(len(rew), np.float32), 0.0
        for t in reversed(range(len(rew))):
            g = rew[t] + gamma * g
            R[t] = g
        ent_coef = 0.01 * max(0.0, 1 - ep / 500)
        (loss, (vl, ent)), grads = step_fn(model, mx.array(np.array(S, np.float32)),
                                           mx.array(np.array(A)), mx.array(R), ent_coef)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, vl, ent)
        returns.append(len(rew))
        if ep % 50 == 0:
            last = returns[-50:]
            print(f"ep {ep:4d}  len(mean/min/max) {np.mean(last):6.1f} {min(last):4d} {max(last):4d}"
                  f"  value_loss {vl.item():8.3f}  entropy {ent.item():.3f}")
    print("final 50-episode mean length:", float(np.mean(returns[-50:])))


if __name__ == "__main__":
    main()
