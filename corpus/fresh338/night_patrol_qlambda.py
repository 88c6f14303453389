"""Night guard walking to the alarm panel: Watkins Q(lambda) with eligibility traces.

Museum floor is a 6x6 grid with display cases (blocked cells).  Training shifts start
from a random free cell (exploring starts); the evaluation walk always starts
at the entrance (0, 0).  The guard must reach the alarm panel at (5, 5).  Every move
costs 0.04, bumping into a case or wall costs the move and leaves the guard in
place, reaching the panel pays +1.  Episodes are capped at 80 moves, so early
returns are strongly negative.

Learner: a small tanh network Q(s, .) on a one-hot cell code, updated online
after every move with accumulating eligibility traces over the parameters
(e <- gamma*lambda*e + dQ(s,a)/dtheta; theta <- theta + lr*delta*e).  Traces are
cut when an exploratory action is taken (Watkins).  The step size warms up
linearly from exactly 0 over the first 400 moves.
"""
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

H = W = 6
CASES = {(1, 1), (1, 2), (1, 3), (3, 2), (3, 3), (3, 4), (4, 4), (2, 5)}
START, PANEL = (0, 0), (5, 5)
FREE = [(r, c) for r in range(H) for c in range(W)
        if (r, c) not in CASES and (r, c) != PANEL]
MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1)]
STEP_COST, GOAL_R, CAP = -0.04, 1.0, 80
GAMMA, LAM = 0.95, 0.8
LR_MAX, WARMUP = 0.1, 400
EPISODES = 220

rng = np.random.default_rng(3)
mx.random.seed(3)


def move(cell, a):
    r, c = cell[0] + MOVES[a][0], cell[1] + MOVES[a][1]
    if not (0 <= r < H and 0 <= c < W) or (r, c) in CASES:
        return cell, STEP_COST, False
    if (r, c) == PANEL:
        return (r, c), GOAL_R, True
    return (r, c), STEP_COST, False


def one_hot(cell):
    x = np.zeros((1, H * W), np.float32)
    x[0, cell[0] * W + cell[1]] = 1.0
    return mx.array(x)


def shortest_return():
    seen, dq = {START: 0}, deque([START])
    while dq:
        cell = dq.popleft()
        for a in range(4):
            nxt, _, done = move(cell, a)
            if nxt not in seen:
                seen[nxt] = seen[cell] + 1
                dq.append(nxt)
    n = seen[PANEL]
    return (n - 1) * STEP_COST + GOAL_R, n


def random_walk_return(episodes=300):
    tot = 0.0
    for _ in range(episodes):
        cell, ret = START, 0.0
        for _ in range(CAP):
            cell, r, done = move(cell, int(rng.integers(4)))
            ret += r
            if done:
                break
        tot += ret
    return tot / episodes


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(H * W, 32)
        self.l2 = nn.Linear(32, 4)

    def __call__(self, x):
        return self.l2(mx.tanh(self.l1(x)))


def q_of_action(model, x, a):
    return model(x)[0, a]


def greedy_walk(model):
    cell, ret = START, 0.0
    for t in range(CAP):
        a = int(mx.argmax(model(one_hot(cell))[0]).item())
        cell, r, done = move(cell, a)
        ret += r
        if done:
            return ret, t + 1
    return ret, CAP


def main():
    t0 = time.time()
    opt_ret, opt_len = shortest_return()
    rand_ret = random_walk_return()
    print(f"reference: shortest route {opt_len} moves, return {opt_ret:.2f}; "
          f"random walk return {rand_ret:.2f}")

    model = QNet()
    qa_and_grad = nn.value_and_grad(model, q_of_action)
    moves_done = 0
    window_ret, window_len, window_td = [], [], []

    for ep in range(EPISODES):
        eps = max(0.05, 0.5 * (1 - ep / 150))
        traces = tree_map(mx.zeros_like, model.trainable_parameters())
        cell = FREE[int(rng.integers(len(FREE)))]
        x = one_hot(cell)
        q_all = model(x)[0]
        a = int(mx.argmax(q_all).item()) if rng.random() > eps else int(rng.integers(4))
        ret = 0.0
        for t in range(CAP):
            lr = LR_MAX * min(1.0, moves_done / WARMUP)
            q_sa, g = qa_and_grad(model, x, a)
            nxt, r, done = move(cell, a)
            ret += r
            x2 = one_hot(nxt)
            q_next = model(x2)[0]
            a_star = int(mx.argmax(q_next).item())
            a_next = a_star if rng.random() > eps else int(rng.integers(4))
            target = r if done else r + GAMMA * q_next[a_star].item()
            delta = target - q_sa.item()
            traces = tree_map(lambda e, gr: GAMMA * LAM * e + gr, traces, g)
            new_params = tree_map(lambda p, e: p + lr * delta * e,
                                  model.trainable_parameters(), traces)
            model.update(new_params)
            if a_next != a_star:
                traces = tree_map(mx.zeros_like, traces)
            mx.eval(model.parameters(), traces)
            window_td.append(abs(delta))
            moves_done += 1
            cell, x, a = nxt, x2, a_next
            if done:
                break
        window_ret.append(ret)
        window_len.append(t + 1)

        if (ep + 1) % 20 == 0:
            g_ret, g_len = greedy_walk(model)
            print(f"episode {ep + 1:3d}  eps {eps:.2f}  return {np.mean(window_ret):+.3f}  "
                  f"moves {np.mean(window_len):5.1f}  |td| {np.mean(window_td):.4f}  "
                  f"greedy {g_ret:+.2f} in {g_len} moves  lr {lr:.4f}")
            window_ret, window_len, window_td = [], [], []

    g_ret, g_len = greedy_walk(model)
    print(f"final greedy route: {g_len} moves, return {g_ret:+.2f} "
          f"(shortest {opt_len} moves / {opt_ret:+.2f}, random walk {rand_ret:+.2f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
