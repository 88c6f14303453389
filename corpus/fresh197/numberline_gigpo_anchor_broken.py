# GiGPO-style RL on a tiny NumberLine task, policy = small MLX MLP.
# Step-level credit: steps are grouped by the state they acted FROM (anchor),
# and each step's discounted return is normalised within its anchor group.
import math
import random
from collections import defaultdict
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_POS, TARGET, HORIZON = 12, 6, 10
STARTS = [p for p in range(N_POS) if p != TARGET]
GROUP, UIDS, ITERS, GAMMA, EPS = 8, 4, 80, 0.95, 1e-4
random.seed(0)
mx.random.seed(0)


@dataclass
class Obs:
    pos: int

    @property
    def anchor(self):
        return f"pos={self.pos}"


@dataclass
class Step:
    policy_input: int
    action: int
    reward: float
    done: bool
    anchor_obs: str


def env_step(obs, action):
    pos = min(N_POS - 1, max(0, obs.pos + (1 if action == 1 else -1)))
    done = pos == TARGET
    reward = 1.0 if done else -0.02
    return Obs(pos), reward, done


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_POS, 32)
        self.l2 = nn.Linear(32, 2)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def onehot(idx):
    return mx.eye(N_POS)[mx.array(idx)]


def run_episode(policy, start):
    obs = Obs(start)
    steps = []
    for _ in range(HORIZON):
        logits = policy(onehot([obs.pos]))
        action = int(mx.random.categorical(logits).item())
        policy_input = obs.pos
        obs, reward, done = env_step(obs, action)
        steps.append(Step(policy_input, action, reward, done, anchor_obs=obs.anchor))
        if done:
            break
    return steps


def step_advantages(trajs):
    rets = []
    for steps in trajs:
        g, out = 0.0, [0.0] * len(steps)
        for i in reversed(range(len(steps))):
            g = steps[i].reward + GAMMA * g
            out[i] = g
        rets.append(out)
    groups = defaultdict(list)
    for ti, steps in enumerate(trajs):
        for si, st in enumerate(steps):
            groups[st.anchor_obs].append((ti, si, rets[ti][si]))
    adv = [[0.0] * len(s) for s in trajs]
    for entries in groups.values():
        if len(entries) < 2:
            continue
        vals = [e[2] for e in entries]
        m = sum(vals) / len(vals)
        for ti, si, r in entries:
            adv[ti][si] = r - m  # "mean_norm" mode (verl-agent default)
    return adv


def greedy_success(policy):
    wins, extra = 0, 0
    for start in STARTS:
        pos = start
        for t in range(HORIZON):
            a = int(mx.argmax(policy(onehot([pos])), axis=-1).item())
            pos = min(N_POS - 1, max(0, pos + (1 if a == 1 else -1)))
            if pos == TARGET:
                wins += 1
                extra += t + 1 - abs(start - TARGET)
                break
    return wins / len(STARTS), extra


policy = Policy()
opt = optim.Adam(learning_rate=0.01)


def loss_fn(model, x, a, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, a[:, None], axis=-1)[:, 0]
    return -mx.mean(adv * chosen)


loss_and_grad = nn.value_and_grad(policy, loss_fn)

for it in range(1, ITERS + 1):
    starts = random.sample(STARTS, UIDS)
    trajs, adv = [], []
    for start in starts:                      # one GiGPO group (uid) per start state
        group = [run_episode(policy, start) for _ in range(GROUP)]
        trajs += group
        adv += step_advantages(group)
    xs = [st.policy_input for s in trajs for st in s]
    acts = [st.action for s in trajs for st in s]
    advs = [a for row in adv for a in row]
    loss, grads = loss_and_grad(policy, onehot(xs), mx.array(acts), mx.array(advs))
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    hit = sum(1 for s in trajs if s[-1].done) / len(trajs)
    mean_len = sum(len(s) for s in trajs) / len(trajs)
    if it % 5 == 0 or it == 1:
        g, extra = greedy_success(policy)
        print(f"it {it:3d} | starts {starts} | pg_loss {loss.item():+.4f} | sample_hit {hit*100:5.1f}% | "
              f"mean_len {mean_len:5.2f} | greedy_solved {g*100:5.1f}% (+{extra} detour steps)")

g, extra = greedy_success(policy)
print(f"final greedy: solved {g*100:.1f}% of {len(STARTS)} starts, {extra} detour steps")
