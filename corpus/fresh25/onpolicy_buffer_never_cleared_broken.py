# On-policy REINFORCE with a rollout buffer and a small Trainer class.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
OBS, ACT, HORIZON, EPISODES_PER_ITER = 256, 4, 32, 64
W_true = mx.random.normal((OBS, ACT))


class RolloutBuffer:
    def __init__(self):
        self.episodes = []

    def add(self, rollout):
        self.episodes.append(rollout)

    def clear(self):
        self.episodes = []

    @property
    def episode_count(self):
        return sum(r["n"] for r in self.episodes)

    def sample_all(self):
        obs = mx.concatenate([e["obs"] for e in self.episodes])
        act = mx.concatenate([e["act"] for e in self.episodes])
        ret = mx.concatenate([e["ret"] for e in self.episodes])
        return obs, act, ret


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(OBS, 8)
        self.l2 = nn.Linear(8, ACT)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def collect(policy, n):
    """Roll out n episodes with the current policy; returns one rollout batch."""
    obs = mx.random.normal((n, HORIZON, OBS))
    act = mx.random.categorical(policy(obs))
    rew = (act == mx.argmax(obs @ W_true, axis=-1)).astype(mx.float32)
    ret = mx.cumsum(rew[:, ::-1], axis=1)[:, ::-1] / HORIZON  # reward-to-go
    batch = {"obs": obs.reshape(-1, OBS), "act": act.reshape(-1), "ret": ret.reshape(-1),
             "n": n, "acc": rew.mean()}
    mx.eval(batch["obs"], batch["act"], batch["ret"], batch["acc"])
    return batch


def pg_loss(policy, obs, act, ret):
    logp = nn.log_softmax(policy(obs), axis=-1)
    lp = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    adv = ret - ret.mean()
    return -(lp * adv).mean()


class Trainer:
    def __init__(self, policy, buffer, lr=1e-2):
        self.policy = policy
        self.buffer = buffer
        self.opt = optim.RMSprop(learning_rate=lr)
        self.step_fn = nn.value_and_grad(policy, pg_loss)

    def train(self):
        obs, act, ret = self.buffer.sample_all()
        loss, grads = self.step_fn(self.policy, obs, act, ret)
        self.opt.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.opt.state, loss)
        return loss.item()


policy = Policy()
buffer = RolloutBuffer()
trainer = Trainer(policy, buffer, lr=5e-3)

print(f"{'iter':>5} {'episodes':>9} {'loss':>9} {'acc':>6} {'step_s':>7}")
for it in range(1, 73):
    t0 = time.time()
    rollout = collect(policy, EPISODES_PER_ITER)
    buffer.add(rollout)
    acc = rollout["acc"].item()
    n_eps = buffer.episode_count
    loss = trainer.train()
    if it % 10 == 0 or it == 1:
        print(f"{it:>5} {n_eps:>9} {loss:>9.4f} {acc:>6.3f} {time.time() - t0:>7.3f}")
