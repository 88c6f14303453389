"""Salmon run up a chain of river pools, learned with a bootstrapped DQN.

A fish starts in the lowest pool (0) of a 12-pool reach. Each step it can
"rest" (drift one pool down, small food reward 0.002 when already in pool 0)
or "swim" up (succeeds with p=0.65, otherwise it is pushed back one pool).
Reaching the spawning pool (11) pays 1.0 and ends the run; every run is capped
at 40 steps.  Resting forever is the easy local optimum; reaching the top needs
deep exploration, which is what the K bootstrap heads provide.

Training: shared trunk + K heads, each head trained on its own Bernoulli mask
of every transition; one head is sampled per episode and followed greedily.
Targets use 3-step returns from a periodically synced target network.
The run is split in two sessions: weights + optimizer step are checkpointed
after session 1 and loaded into a fresh agent for session 2.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_POOLS = 12
MAX_T = 40
GAMMA = 0.97
K_HEADS = 5
N_STEP = 3
P_SWIM = 0.65
BATCH = 64
SYNC_EVERY = 150
EPISODES_PER_SESSION = 90

rng = np.random.default_rng(7)
mx.random.seed(7)


def step_env(pool, action):
    if action == 1:  # swim
        nxt = pool + 1 if rng.random() < P_SWIM else max(pool - 1, 0)
    else:  # rest
        nxt = max(pool - 1, 0)
    reward = 0.0
    done = False
    if nxt == N_POOLS - 1:
        reward, done = 1.0, True
    elif action == 0 and pool == 0:
        reward = 0.002
    return nxt, reward, done


def encode(pools):
    pools = np.asarray(pools)
    # thermometer code: pool k lights the first k+1 units
    return (np.arange(N_POOLS)[None, :] <= pools[:, None]).astype(np.float32)


class HeadedQ(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_POOLS, hidden), nn.ReLU(),
                                   nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = [nn.Linear(hidden, 2) for _ in range(K_HEADS)]

    def __call__(self, x):
        h = self.trunk(x)
        return mx.stack([hd(h) for hd in self.heads], axis=1)  # (B, K, 2)


class Replay:
    def __init__(self, cap=6000):
        self.cap = cap
        self.s = np.zeros(cap, np.int32)
        self.a = np.zeros(cap, np.int32)
        self.g = np.zeros(cap, np.float32)   # n-step discounted reward
        self.s2 = np.zeros(cap, np.int32)
        self.disc = np.zeros(cap, np.float32)  # gamma^n or 0 if terminal
        self.mask = np.zeros((cap, K_HEADS), np.float32)
        self.n = 0
        self.i = 0

    def add(self, s, a, g, s2, disc):
        j = self.i
        self.s[j], self.a[j], self.g[j], self.s2[j], self.disc[j] = s, a, g, s2, disc
        self.mask[j] = (rng.random(K_HEADS) < 0.5).astype(np.float32)
        self.i = (self.i + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self):
        idx = rng.integers(0, self.n, BATCH)
        return (encode(self.s[idx]), self.a[idx], self.g[idx],
                encode(self.s2[idx]), self.disc[idx], self.mask[idx])


def td_loss(model, s, a, g, s2_q_target, disc, mask):
    q = model(s)                                     # (B, K, 2)
    a_idx = mx.broadcast_to(a[:, None, None], (a.shape[0], K_HEADS, 1))
    q_sa = mx.take_along_axis(q, a_idx, axis=2).squeeze(2)  # (B, K)
    y = g[:, None] + disc[:, None] * s2_q_target.max(axis=2)
    err = nn.losses.huber_loss(q_sa, mx.stop_gradient(y), reduction="none")
    return (err * mask).sum() / mx.maximum(mask.sum(), 1.0)


class Agent:
    def __init__(self):
        self.net = HeadedQ()
        self.target = HeadedQ()
        self.target.update(self.net.parameters())
        self.opt = optim.Adam(learning_rate=1e-3)
        self.grad_fn = nn.value_and_grad(self.net, td_loss)
        self.updates = 0

    def learn(self, buf):
        s, a, g, s2, disc, mask = buf.sample()
        s2q = self.target(mx.array(s2))
        loss, grads = self.grad_fn(self.net, mx.array(s), mx.array(a), mx.array(g),
                                   s2q, mx.array(disc), mx.array(mask))
        self.opt.update(self.net, grads)
        mx.eval(self.net.parameters(), self.opt.state, loss)
        self.updates += 1
        if self.updates % SYNC_EVERY == 0:
            self.target.update(self.net.parameters())
        return loss.item()

    def act(self, pool, head):
        q = self.net(mx.array(encode([pool])))[0, head]
        return int(mx.argmax(q).item())

    def greedy_vote(self, pool):
        q = self.net(mx.array(encode([pool])))[0]     # (K, 2)
        votes = np.asarray(mx.argmax(q, axis=1))
        return int(np.bincount(votes, minlength=2).argmax())


def evaluate(policy, episodes=30):
    total = 0.0
    for _ in range(episodes):
        pool, ret = 0, 0.0
        for t in range(MAX_T):
            pool, r, done = step_env(pool, policy(pool))
            ret += (GAMMA ** t) * r
            if done:
                break
        total += ret
    return total / episodes


def run_session(agent, buf, first_ep, n_eps, log_every=20):
    losses, reached = [], 0
    for ep in range(first_ep, first_ep + n_eps):
        head = int(rng.integers(K_HEADS))
        pool = 0
        traj = []
        for t in range(MAX_T):
            a = agent.act(pool, head)
            nxt, r, done = step_env(pool, a)
            traj.append((pool, a, r, nxt, done))
            pool = nxt
            if buf.n >= BATCH:
                losses.append(agent.learn(buf))
            if done:
                reached += 1
                break
        # n-step transitions for the finished trajectory
        T = len(traj)
        for i in range(T):
            g, disc, last = 0.0, 1.0, i
            for k in range(N_STEP):
                j = i + k
                if j >= T:
                    break
                g += disc * traj[j][2]
                disc *= GAMMA
                last = j
                if traj[j][4]:
                    disc = 0.0
                    break
            buf.add(traj[i][0], traj[i][1], g, traj[last][3], disc)
        if (ep + 1) % log_every == 0:
            ret = evaluate(agent.greedy_vote)
            swim = sum(agent.greedy_vote(p) for p in range(N_POOLS - 1))
            ml = float(np.mean(losses[-200:])) if losses else float("nan")
            print(f"episode {ep + 1:4d}  td_loss {ml:.5f}  spawned {reached:3d}/{log_every}  "
                  f"greedy_return {ret:.3f}  swim_pools {swim}/{N_POOLS - 1}  updates {agent.updates}")
            reached = 0


def main():
    t0 = time.time()
    rest_ret = evaluate(lambda p: 0)
    swim_ret = evaluate(lambda p: 1, episodes=400)
    print(f"baselines: always-rest return {rest_ret:.3f}   always-swim return {swim_ret:.3f}")

    buf = Replay()
    agent = Agent()
    print("session 1")
    run_session(agent, buf, 0, EPISODES_PER_SESSION)

    ckpt_dir = tempfile.mkdtemp()
    wpath = os.path.join(ckpt_dir, "q.safetensors")
    agent.net.save_weights(wpath)
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                        dict(tree_flatten(agent.opt.state)))
    updates = agent.updates
    print(f"checkpoint written ({updates} updates)")

    resumed = Agent()
    resumed.net.load_weights(wpath)
    resumed.target.update(resumed.net.parameters())
    opt_state = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
    resumed.opt.init(resumed.net.trainable_parameters())
    resumed.opt.state = tree_unflatten(list(opt_state.items()))
    resumed.updates = updates
    print("session 2 (resumed)")
    run_session(resumed, buf, EPISODES_PER_SESSION, EPISODES_PER_SESSION)

    final = evaluate(resumed.greedy_vote, episodes=400)
    swim = sum(resumed.greedy_vote(p) for p in range(N_POOLS - 1))
    print(f"final greedy return {final:.3f}  swim_pools {swim}/{N_POOLS - 1}  "
          f"(always-rest {rest_ret:.3f}, always-swim {swim_ret:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
