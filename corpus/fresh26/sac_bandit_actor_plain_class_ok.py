# Soft actor-critic style training on a continuous-action contextual bandit.
# Critic Q(s, a) learns the reward, the squashed-Gaussian actor maximises Q - alpha * log pi.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
OBS, HID, ALPHA = 6, 64, 0.02
W_TRUE = mx.random.normal((OBS,)) / math.sqrt(OBS) * 2.0


def best_action(s):
    return mx.tanh(s @ W_TRUE)


def reward(s, a):
    return -((a[:, 0] - best_action(s)) ** 2) + 0.05 * mx.random.normal((s.shape[0],))


class Actor(nn.Module):
    def __init__(self, obs, hid):
        super().__init__()
        self.actor_net = nn.Sequential(nn.Linear(obs, hid), nn.ReLU(), nn.Linear(hid, hid), nn.ReLU())
        self.mu = nn.Linear(hid, 1)
        self.log_std = nn.Linear(hid, 1)

    def __call__(self, s):
        h = self.actor_net(s)
        return self.mu(h), mx.clip(self.log_std(h), -5.0, 1.0)


class Critic(nn.Module):
    def __init__(self, obs, hid):
        super().__init__()
        self.q = nn.Sequential(nn.Linear(obs + 1, hid), nn.ReLU(), nn.Linear(hid, hid), nn.ReLU(), nn.Linear(hid, 1))

    def __call__(self, s, a):
        return self.q(mx.concatenate([s, a], axis=-1))[:, 0]


class SACAgent(nn.Module):
    def __init__(self):
        super().__init__()
        self.actor = Actor(OBS, HID)
        self.critic = Critic(OBS, HID)

    def sample(self, s):
        mean, log_std = self.actor(s)
        pre = mean + mx.exp(log_std) * mx.random.normal(mean.shape)
        a = mx.tanh(pre)
        logp = (-0.5 * ((pre - mean) / mx.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - mx.log(1 - a ** 2 + 1e-6).sum(-1)
        return a, logp


agent = SACAgent()
critic_opt = optim.Adam(learning_rate=3e-3)
actor_opt = optim.Adam(learning_rate=1e-3)


def critic_loss(model, s, a, r):
    return ((model.critic(s, a) - r) ** 2).mean()


def actor_loss(model, s):
    a, logp = model.sample(s)
    return (ALPHA * logp - model.critic(s, a)).mean()


critic_step = nn.value_and_grad(agent, critic_loss)
actor_step = nn.value_and_grad(agent, actor_loss)

s_eval = mx.random.normal((512, OBS))
t0 = time.time()
for epoch in range(1, 31):
    cl, al = 0.0, 0.0
    for it in range(40):
        s = mx.random.normal((128, OBS))
        a, _ = agent.sample(s)
        a = mx.stop_gradient(a)
        r = reward(s, a)
        lc, g = critic_step(agent, s, a, r)
        critic_opt.update(agent, g)
        la, g = actor_step(agent, s)
        actor_opt.update(agent, g)
        mx.eval(agent.parameters(), critic_opt.state, actor_opt.state)
        cl += lc.item()
        al += la.item()
    mean_a, _ = agent.actor(s_eval)
    eval_r = (-((mx.tanh(mean_a[:, 0]) - best_action(s_eval)) ** 2)).mean().item()
    print(f"epoch {epoch:02d} | critic_mse {cl / 40:.4f} | actor_loss {al / 40:+.4f} | eval_reward {eval_r:+.4f} | {time.time() - t0:.1f}s")
