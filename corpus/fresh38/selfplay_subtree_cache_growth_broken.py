# AlphaZero-style self-play on a tiny 8x8 "gomoku-lite" board with MCTS guided by
# a small MLX policy/value net, retrained after every self-play iteration.
import os
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N = 8
MAX_PLIES = 18
N_SIM = 20
MAX_CHILDREN = 24
GAMES_PER_ITER = 3
ITERATIONS = 10


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Board:
    def __init__(self):
        # planes: own stones, opponent stones, side-to-move, last move
        self.state = np.zeros((4, N, N), np.float32)
        self.turn = 0
        self.plies = 0

    def copy(self):
        b = Board.__new__(Board)
        b.state = self.state.copy()
        b.turn, b.plies = self.turn, self.plies
        return b

    def legal_moves(self):
        occ = self.state[0] + self.state[1]
        return [(r, c) for r in range(N) for c in range(N) if occ[r, c] == 0]

    def play(self, mv):
        b = self.copy()
        r, c = mv
        b.state[0, r, c] = 1.0
        b.state[3] = 0.0
        b.state[3, r, c] = 1.0
        b.state[[0, 1]] = b.state[[1, 0]]      # swap perspective
        b.turn ^= 1
        b.state[2] = b.turn
        b.plies += 1
        return b

    def winner(self):
        # the player who just moved is now in plane 1
        s = self.state[1]
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            for r in range(N):
                for c in range(N):
                    if all(0 <= r + k * dr < N and 0 <= c + k * dc < N and s[r + k * dr, c + k * dc] for k in range(4)):
                        return 1
        return 0

    def get_hash(self):
        return hash(self.state[:2].tobytes())


class Node:
    def __init__(self, board, parent=None, prior=0.0):
        self.board = board
        self.parent = parent
        self.prior = prior
        self.children = {}
        self.visit_count = 0
        self.value_sum = 0.0

    def value(self):
        return self.value_sum / self.visit_count if self.visit_count else 0.0

    def select_child(self, c_puct=1.5):
        best, best_score = None, -1e9
        sq = np.sqrt(self.visit_count + 1)
        for mv, ch in self.children.items():
            u = c_puct * ch.prior * sq / (1 + ch.visit_count)
            score = -ch.value() + u
            if score > best_score:
                best, best_score = (mv, ch), score
        return best


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4 * N * N, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.policy = nn.Linear(128, N * N)
        self.value = nn.Linear(128, 1)

    def __call__(self, x):
        h = self.body(x.reshape(x.shape[0], -1))
        return self.policy(h), mx.tanh(self.value(h)).squeeze(-1)


class MCTS:
    def __init__(self, model):
        self.model = model
        self._tree_cache = {}  # cache of expanded subtrees, keyed by position hash

    def _evaluate(self, board):
        logits, v = self.model(mx.array(board.state)[None])
        p = mx.softmax(logits[0])
        mx.eval(p, v)
        return np.array(p), float(v.item())

    def _expand_node(self, node):
        board_hash = node.board.get_hash()
        if board_hash in self._tree_cache:
            node.children = self._tree_cache[board_hash]
            return self._evaluate(node.board)[1]
        policy, value = self._evaluate(node.board)
        moves = node.board.legal_moves()
        moves.sort(key=lambda m: -policy[m[0] * N + m[1]])
        children = {}
        for mv in moves[:MAX_CHILDREN]:
            children[mv] = Node(node.board.play(mv), parent=node, prior=float(policy[mv[0] * N + mv[1]]))
        node.children = children
        if len(node.children) > 0:
            self._tree_cache[board_hash] = node.children
        return value

    def search(self, board):
        root = Node(board)
        self._expand_node(root)
        for _ in range(N_SIM):
            node, path = root, [root]
            while node.children and node.visit_count > 0:
                _, node = node.select_child()
                path.append(node)
            if node.board.winner():
                value = -1.0
            elif node.board.plies >= MAX_PLIES:
                value = 0.0
            else:
                value = self._expand_node(node)
            for n in reversed(path):
                n.visit_count += 1
                n.value_sum += value
                value = -value
        visits = np.zeros(N * N, np.float32)
        for (r, c), ch in root.children.items():
            visits[r * N + c] = ch.visit_count
        return visits / max(visits.sum(), 1.0)


def self_play_game(mcts, rng):
    board, history = Board(), []
    while True:
        pi = mcts.search(board)
        history.append((board.state.copy(), pi))
        mv = int(rng.choice(N * N, p=pi)) if board.plies < 6 else int(pi.argmax())
        board = board.play((mv // N, mv % N))
        if board.winner():
            z = 1.0  # player who just moved won
            break
        if board.plies >= MAX_PLIES:
            z = 0.0
            break
    # outcome from the perspective of the player to move at each stored state
    out, sign = [], -1.0 if z else 0.0
    for s, pi in reversed(history):
        out.append((s, pi, z * (1.0 if sign < 0 else -1.0)))
        sign = -sign
    return out


def main():
    random.seed(0)
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    model = Net()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    mcts = MCTS(model)

    def loss_fn(m, x, pi, z):
        logits, v = m(x)
        p_loss = -mx.mean(mx.sum(pi * nn.log_softmax(logits, axis=-1), axis=-1))
        v_loss = mx.mean(mx.square(z - v))
        return p_loss + v_loss

    step = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    print(f"iter  games  positions   loss    rss_MB   secs")
    for it in range(ITERATIONS):
        data = []
        for _ in range(GAMES_PER_ITER):
            data += self_play_game(mcts, rng)
        X = mx.array(np.stack([d[0] for d in data]))
        P = mx.array(np.stack([d[1] for d in data]))
        Z = mx.array(np.array([d[2] for d in data], np.float32))
        for _ in range(20):
            loss, grads = step(model, X, P, Z)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        print(f"{it:4d}  {GAMES_PER_ITER*(it+1):5d}  {len(data):9d}  {loss.item():6.3f}  {rss_mb():7.1f}  {time.time()-t0:5.1f}", flush=True)


if __name__ == "__main__":
    main()
