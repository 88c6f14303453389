"""Lighthouse lamp-bank switching as a bit-flipping puzzle: goal-conditioned DQN with hindsight relabelling.
Every transition ever seen is kept (plus its relabelled copies) - the store is never trimmed."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

N = 10                 # lamps in the bank
GAMMA = 0.98
K_FUTURE = 4
CYCLES = 30
EPISODES_PER_CYCLE = 16
UPDATES_PER_CYCLE = 40
rng = np.random.default_rng(3)
mx.random.seed(3)


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2 * N, 192)
        self.out = nn.Linear(192, N)

    def __call__(self, s, g):
        return self.out(nn.relu(self.l1(mx.concatenate([s, g], axis=-1))))


online, target = QNet(), QNet()
target.update(tree_map(lambda p: mx.array(p), online.parameters()))
target.freeze()
mx.eval(online.parameters(), target.parameters())
opt = optim.Adam(learning_rate=1e-3)


def td_loss(m, s, a, r, s2, g, done):
    q = mx.take_along_axis(m(s, g), a[:, None], axis=1).squeeze(1)
    q2 = mx.stop_gradient(mx.max(target(s2, g), axis=1))
    y = r + GAMMA * (1.0 - done) * q2
    y = mx.clip(y, -1.0 / (1.0 - GAMMA), 0.0)
    return mx.mean((q - y) ** 2)


step_fn = nn.value_and_grad(online, td_loss)
store = {"s": [], "a": [], "r": [], "s2": [], "g": [], "done": []}


def act(s, g, eps):
    if rng.random() < eps:
        return int(rng.integers(N))
    q = online(mx.array(s[None]), mx.array(g[None]))
    return int(mx.argmax(q, axis=1).item())


def run_episode(eps):
    s = rng.integers(0, 2, N).astype(np.float32)
    g = rng.integers(0, 2, N).astype(np.float32)
    path = []
    for _ in range(N):
        a = act(s, g, eps)
        s2 = s.copy(); s2[a] = 1.0 - s2[a]
        path.append((s, a, s2))
        s = s2
        if np.array_equal(s, g):
            break
    return g, path, bool(np.array_equal(s, g))


def keep(s, a, s2, g):
    hit = float(np.array_equal(s2, g))
    store["s"].append(s); store["a"].append(a); store["r"].append(hit - 1.0)
    store["s2"].append(s2); store["g"].append(g); store["done"].append(hit)


def greedy_success(n=200):
    return np.mean([run_episode(0.0)[2] for _ in range(n)])


def random_success(n=2000):
    wins = 0
    for _ in range(n):
        s = rng.integers(0, 2, N); g = rng.integers(0, 2, N)
        for _ in range(N):
            s[rng.integers(N)] ^= 1
            if np.array_equal(s, g):
                wins += 1
                break
    return wins / n


print(f"| {N} lamps | random-switching success {100 * random_success():.1f}% | gamma {GAMMA} | k_future {K_FUTURE} |")
print("| cycle | episodes | stored | store MB | td mse | explore success | greedy success | mean Q(s0) | sec |")
print("|------:|---------:|-------:|---------:|-------:|----------------:|---------------:|-----------:|----:|")
t0 = time.time()
for cycle in range(1, CYCLES + 1):
    wins, losses = 0, []
    for _ in range(EPISODES_PER_CYCLE):
        g, path, ok = run_episode(0.2)
        wins += ok
        for t, (s, a, s2) in enumerate(path):
            keep(s, a, s2, g)
            for j in rng.integers(t, len(path), K_FUTURE):
                keep(s, a, s2, path[j][2])
    n = len(store["a"])
    S, A, R = np.stack(store["s"]), np.array(store["a"], np.int32), np.array(store["r"], np.float32)
    S2, G, Dn = np.stack(store["s2"]), np.stack(store["g"]), np.array(store["done"], np.float32)
    for _ in range(UPDATES_PER_CYCLE):
        i = rng.integers(0, n, 128)
        loss, grads = step_fn(online, mx.array(S[i]), mx.array(A[i]), mx.array(R[i]),
                              mx.array(S2[i]), mx.array(G[i]), mx.array(Dn[i]))
        opt.update(online, grads)
        target.update(tree_map(lambda t_, o: 0.95 * t_ + 0.05 * o, target.parameters(), online.parameters()))
        mx.eval(online.parameters(), target.parameters(), opt.state, loss)
        losses.append(loss.item())
    if cycle % 3 == 0 or cycle == 1:
        mb = (S.nbytes + S2.nbytes + G.nbytes + A.nbytes + R.nbytes + Dn.nbytes) / 2 ** 20
        s0 = mx.array(rng.integers(0, 2, (256, N)).astype(np.float32))
        g0 = mx.array(rng.integers(0, 2, (256, N)).astype(np.float32))
        q0 = float(mx.max(online(s0, g0), axis=1).mean())
        print(f"| {cycle:>5} | {cycle * EPISODES_PER_CYCLE:>8} | {n:>6} | {mb:>8.2f} | {np.mean(losses):>6.4f} | "
              f"{100 * wins / EPISODES_PER_CYCLE:>14.0f}% | {100 * greedy_success():>13.1f}% | {q0:>10.2f} | {time.time() - t0:>3.0f} |")

print(f"final greedy success over 1000 fresh lamp/goal pairs: {100 * greedy_success(1000):.1f}% "
      f"({len(store['a'])} transitions kept, {time.time() - t0:.1f}s)")
