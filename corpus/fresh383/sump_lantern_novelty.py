# Cave survey: a caver starts near a side grotto (small find, ends the trip) and must learn
# to push 29 chambers down a dark passage to the sump (the real prize). Exploration uses a
# random-network-distillation novelty bonus; a plain actor-critic without the bonus runs
# beside it as a reference.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CELLS, START, HORIZON, N_EP, GAMMA = 32, 2, 64, 32, 0.98


def encode(pos):
    return np.eye(N_CELLS, dtype=np.float32)[pos]


def run_episodes(policy, rng, n=N_EP):
    pos = np.full(n, START)
    alive = np.ones(n, bool)
    P, A, R, M, NXT = [], [], [], [], []
    for _ in range(HORIZON):
        a = policy(encode(pos))
        a = np.where(rng.random(n) < 0.1, 1 - a, a)        # slippery mud
        nxt = np.clip(pos + np.where(a == 1, 1, -1), 0, N_CELLS - 1)
        r = np.where(nxt == 0, 0.1, 0.0) + np.where(nxt == N_CELLS - 1, 1.0, 0.0)
        P.append(pos.copy()); A.append(a); R.append(r * alive); M.append(alive.copy()); NXT.append(nxt)
        alive = alive & (nxt != 0) & (nxt != N_CELLS - 1)
        pos = np.where(alive, nxt, pos)
    st = lambda x: np.stack(x, 1)
    return st(P), st(A), st(R).astype(np.float32), st(M).astype(np.float32), st(NXT)


class Caver(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_CELLS, 64), nn.ReLU())
        self.pi = nn.Linear(64, 2)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h)[..., 0]


def ac_loss(m, x, a, adv, ret, mask):
    logits, v = m(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp_a = mx.take_along_axis(logp, a[..., None], axis=-1)[..., 0]
    ent = -(mx.exp(logp) * logp).sum(-1)
    n = mask.sum()
    return (-(lp_a * adv * mask).sum() + 0.5 * (((v - ret) ** 2) * mask).sum() - 0.02 * (ent * mask).sum()) / n


def train(use_bonus, seed, iters=150, log_every=10):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    agent = Caver()
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(agent, ac_loss)
    target = nn.Sequential(nn.Linear(N_CELLS, 32), nn.ReLU(), nn.Linear(32, 16))
    target.freeze()
    predictor = nn.Sequential(nn.Linear(N_CELLS, 64), nn.ReLU(), nn.Linear(64, 16))
    p_opt = optim.Adam(learning_rate=1e-3)
    p_vg = nn.value_and_grad(predictor, lambda m, x: ((m(x) - target(x)) ** 2).mean())
    mx.eval(agent.parameters(), target.parameters(), predictor.parameters())
    bonus_scale = None
    tag = "rnd " if use_bonus else "none"

    def sample(x):
        return np.array(mx.random.categorical(agent(mx.array(x))[0]))

    for it in range(1, iters + 1):
        P, A, R, M, NXT = run_episodes(sample, rng)
        xn = mx.array(encode(NXT))
        novelty = np.array(((predictor(xn) - target(xn)) ** 2).mean(-1))
        if bonus_scale is None:
            bonus_scale = float(novelty.mean())
        bonus = 0.05 * novelty / bonus_scale if use_bonus else np.zeros_like(novelty)
        total = R + bonus * M
        ret = np.zeros_like(total); run = np.zeros(N_EP, np.float32)
        for t in reversed(range(HORIZON)):
            run = total[:, t] + GAMMA * run * M[:, t]
            ret[:, t] = run
        x = mx.array(encode(P))
        adv = ret - np.array(agent(x)[1])
        mu = (adv * M).sum() / M.sum(); sd = np.sqrt((((adv - mu) * M) ** 2).sum() / M.sum()) + 1e-8
        adv = (adv - mu) / sd
        _, g = vg(agent, x, mx.array(A), mx.array(adv.astype(np.float32)), mx.array(ret), mx.array(M))
        opt.update(agent, g)
        seen = mx.array(encode(NXT[M > 0]))
        pl, pg = p_vg(predictor, seen)
        p_opt.update(predictor, pg)
        mx.eval(agent.parameters(), opt.state, predictor.parameters(), p_opt.state)
        if it % log_every == 0:
            found = R.sum(1)
            print(f"[{tag}] iter {it:3d}  trip reward {found.mean():.3f}  sump reached {np.mean(found >= 1.0):.2f}  "
                  f"grotto {np.mean(np.isclose(found, 0.1)):.2f}  deepest {int(NXT.max()):2d}  "
                  f"novelty bonus {float((bonus * M).sum() / M.sum()):.4f}  predictor mse {pl.item():.5f}")
    return agent


def evaluate(agent, seed=2024, n=200):
    rng = np.random.default_rng(seed)
    greedy = lambda x: np.array(mx.argmax(agent(mx.array(x))[0], axis=-1))
    return run_episodes(greedy, rng, n)[2].sum(1).mean()


ref = train(use_bonus=False, seed=5, iters=150, log_every=50)
agent = train(use_bonus=True, seed=5)
always_right = run_episodes(lambda x: np.ones(len(x), np.int64), np.random.default_rng(2024), 200)[2].sum(1).mean()
print(f"greedy evaluation, mean trip reward over 200 trips: with novelty bonus {evaluate(agent):.3f}  "
      f"without bonus {evaluate(ref):.3f}  always-downstream rule {always_right:.3f}")
