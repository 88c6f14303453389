"""DQN for a skater crossing an outdoor rink with thin-ice patches.

5x6 grid, start bottom-left, exit gate top-right (+1), thin ice (-1, episode
over), -0.01 per move, and the ice is slippery: with probability 0.2 the skater
slides to one side of the chosen direction.  Online Q-net trained with Huber TD
loss from a replay buffer (grows until it reaches its cap, then overwrites the
oldest); a frozen target net that gets a hard copy of the online weights every
TARGET_EVERY gradient steps.  The greedy policy is scored exactly (policy
evaluation with a linear solve) against the value-iteration optimum.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ROWS, COLS = 5, 6
START, GATE = (4, 0), (0, 5)
THIN = {(2, 2), (2, 3), (1, 3), (3, 4)}
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left
SLIP, STEP_COST, GAMMA, MAX_LEN = 0.2, -0.01, 0.95, 50
N_STATES, N_ACTIONS = ROWS * COLS, 4

ENV_STEPS = 14000
WARMUP = 200
BUFFER_CAP = 2500
BATCH = 64
TARGET_EVERY = 250
REPORT_EVERY = 2000
LR = 1e-3

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("rink")


def sid(cell):
    return cell[0] * COLS + cell[1]


def terminal(cell):
    return cell == GATE or cell in THIN


def move(cell, a):
    r, c = cell[0] + MOVES[a][0], cell[1] + MOVES[a][1]
    if 0 <= r < ROWS and 0 <= c < COLS:
        return (r, c)
    return cell


def outcomes(cell, a):
    """[(prob, next_cell)] for action a, slip to either side."""
    return [(1 - SLIP, move(cell, a)),
            (SLIP / 2, move(cell, (a + 1) % 4)),
            (SLIP / 2, move(cell, (a + 3) % 4))]


def reward(nxt):
    if nxt == GATE:
        return 1.0
    if nxt in THIN:
        return -1.0
    return STEP_COST


CELLS = [(r, c) for r in range(ROWS) for c in range(COLS)]


def q_star():
    q = np.zeros((N_STATES, N_ACTIONS))
    for _ in range(500):
        v = q.max(1)
        for cell in CELLS:
            if terminal(cell):
                continue
            for a in range(N_ACTIONS):
                q[sid(cell), a] = sum(p * (reward(n) + (0 if terminal(n) else GAMMA * v[sid(n)]))
                                      for p, n in outcomes(cell, a))
    return q


def policy_value(policy):
    """Exact discounted value of a deterministic policy (ignores the 50-move cap)."""
    P = np.zeros((N_STATES, N_STATES))
    R = np.zeros(N_STATES)
    for cell in CELLS:
        if terminal(cell):
            continue
        for p, n in outcomes(cell, policy[sid(cell)]):
            R[sid(cell)] += p * reward(n)
            if not terminal(n):
                P[sid(cell), sid(n)] += p
    return np.linalg.solve(np.eye(N_STATES) - GAMMA * P, R)


class QNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(N_STATES, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, N_ACTIONS)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


EYE = mx.eye(N_STATES)


def td_loss(online, target, s, a, r, s2, done):
    q = mx.take_along_axis(online(EYE[s]), a[:, None], axis=1).squeeze(1)
    q_next = mx.stop_gradient(target(EYE[s2]).max(axis=1))
    y = r + GAMMA * (1.0 - done) * q_next
    return nn.losses.huber_loss(q, y, delta=1.0, reduction="mean")


class Replay:
    def __init__(self, cap):
        self.cap, self.items, self.pos = cap, [], 0

    def add(self, tr):
        if len(self.items) < self.cap:
            self.items.append(tr)
        else:
            self.items[self.pos] = tr
        self.pos = (self.pos + 1) % self.cap

    def sample(self, rng, n):
        idx = rng.integers(0, len(self.items), size=n)
        s, a, r, s2, d = zip(*(self.items[i] for i in idx))
        return (mx.array(s), mx.array(a), mx.array(r, dtype=mx.float32),
                mx.array(s2), mx.array(d, dtype=mx.float32))


def greedy_policy(net):
    return np.array(net(EYE).argmax(axis=1))


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    qs = q_star()
    v_opt = qs.max(1)[sid(START)]
    nonterm = [sid(c) for c in CELLS if not terminal(c)]
    log.info("rink %dx%d, %d thin-ice cells, slip %.0f%%; optimal value at start %.4f",
             ROWS, COLS, len(THIN), 100 * SLIP, v_opt)

    online, target = QNet(), QNet()
    target.update(online.parameters())
    target.freeze()
    mx.eval(online.parameters(), target.parameters())
    log.info("online trainable leaves %d, target trainable leaves %d",
             len(tree_flatten(online.trainable_parameters())),
             len(tree_flatten(target.trainable_parameters())))
    v0 = policy_value(greedy_policy(online))[sid(START)]
    log.info("untrained greedy policy: value at start %.4f (regret %.4f)", v0, v_opt - v0)

    opt = optim.Adam(learning_rate=optim.cosine_decay(LR, ENV_STEPS - WARMUP, LR / 10))
    grad_fn = nn.value_and_grad(online, td_loss)
    buf = Replay(BUFFER_CAP)

    cell, ep_len, episodes, ep_return, returns = START, 0, 0, 0.0, []
    grad_steps, losses = 0, []
    for t in range(1, ENV_STEPS + 1):
        eps = max(0.05, 1.0 - 0.95 * t / 5000)
        if rng.random() < eps:
            a = int(rng.integers(N_ACTIONS))
        else:
            a = int(online(EYE[sid(cell)][None]).argmax(axis=1).item())
        u = rng.random()
        if u < 1 - SLIP:
            nxt = move(cell, a)
        elif u < 1 - SLIP / 2:
            nxt = move(cell, (a + 1) % 4)
        else:
            nxt = move(cell, (a + 3) % 4)
        rew, done = reward(nxt), terminal(nxt)
        buf.add((sid(cell), a, rew, sid(nxt), float(done)))
        ep_return += rew
        ep_len += 1
        cell = nxt
        if done or ep_len >= MAX_LEN:
            returns.append(ep_return)
            episodes += 1
            cell, ep_len, ep_return = START, 0, 0.0

        if len(buf.items) >= WARMUP:
            s, aa, r, s2, d = buf.sample(rng, BATCH)
            loss, grads = grad_fn(online, target, s, aa, r, s2, d)
            if grad_steps == 0:
                zero = [k for k, g in tree_flatten(grads) if not mx.any(g != 0).item()]
                log.info("first gradient step: %d leaves, all-zero leaves: %s",
                         len(tree_flatten(grads)), zero or "none")
            opt.update(online, grads)
            mx.eval(online.parameters(), opt.state, loss)
            losses.append(loss.item())
            grad_steps += 1
            if grad_steps % TARGET_EVERY == 0:
                target.update(online.parameters())
                mx.eval(target.parameters())

        if t % REPORT_EVERY == 0:
            pol = greedy_policy(online)
            v = policy_value(pol)[sid(START)]
            q_err = np.abs(np.array(online(EYE))[nonterm] - qs[nonterm]).mean()
            recent = returns[-50:] if returns else [float("nan")]
            log.info("env_step=%d episodes=%d eps=%.2f buffer=%d/%d grad_steps=%d "
                     "td_huber=%.5f behaviour_return=%.3f greedy_value=%.4f regret=%.4f "
                     "q_mae=%.4f secs=%.1f",
                     t, episodes, eps, len(buf.items), BUFFER_CAP, grad_steps,
                     float(np.mean(losses[-REPORT_EVERY:])) if losses else float("nan"),
                     float(np.mean(recent)), v, v_opt - v, q_err,
                     time.perf_counter() - t0)

    pol = greedy_policy(online)
    arrows = "^>v<"
    for r in range(ROWS):
        row = ""
        for c in range(COLS):
            if (r, c) == GATE:
                row += "G"
            elif (r, c) in THIN:
                row += "x"
            else:
                row += arrows[pol[sid((r, c))]]
        log.info("policy row %d: %s", r, row)
    v = policy_value(pol)[sid(START)]
    log.info("done: greedy value at start %.4f vs optimal %.4f (untrained %.4f), %.1fs",
             v, v_opt, v0, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
