# River ferry dispatch: when should a hand-cranked ferry cross?
# Munchausen DQN (soft targets + scaled log-policy bonus) on a small numpy simulator,
# with a mid-run checkpoint / resume and an exact value-iteration reference.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

QMAX, CAP, P_A, P_B = 5, 4, 0.5, 0.3
CROSS_COST, WAIT_COST, GAMMA = 0.6, 0.1, 0.95
NS, NA = 2 * (QMAX + 1) ** 2, 2
TAU, ALPHA, L0 = 0.03, 0.9, -1.0
N_ENV, BATCH, ITERS, WARMUP_ENV_STEPS = 32, 128, 1600, 6400
SYNC_EVERY, SAVE_AT = 250, 700
rng = np.random.default_rng(11)


def sid(pos, qa, qb):
    return pos * (QMAX + 1) ** 2 + qa * (QMAX + 1) + qb


def move(pos, qa, qb, a):
    here = np.where(pos == 0, qa, qb)
    carried = np.where(a == 1, np.minimum(here, CAP), 0)
    qa = np.where((a == 1) & (pos == 0), qa - carried, qa)
    qb = np.where((a == 1) & (pos == 1), qb - carried, qb)
    pos = np.where(a == 1, 1 - pos, pos)
    r = carried - CROSS_COST * (a == 1) - WAIT_COST * (qa + qb)
    return pos, qa, qb, r.astype(np.float32)


def env_step(pos, qa, qb, a, g):
    pos, qa, qb, r = move(pos, qa, qb, a)
    qa = np.minimum(qa + (g.random(pos.shape) < P_A), QMAX)
    qb = np.minimum(qb + (g.random(pos.shape) < P_B), QMAX)
    return pos, qa, qb, r


# exact reference by value iteration
S = np.arange(NS)
pos_s, qa_s, qb_s = S // 36, (S // 6) % 6, S % 6
V = np.zeros(NS)
for _ in range(600):
    Qvi = np.zeros((NS, NA))
    for a in range(NA):
        p2, a2, b2, r = move(pos_s, qa_s, qb_s, np.full(NS, a))
        ev = 0.0
        for da, pa in ((0, 1 - P_A), (1, P_A)):
            for db, pb in ((0, 1 - P_B), (1, P_B)):
                ev = ev + pa * pb * V[sid(p2, np.minimum(a2 + da, QMAX), np.minimum(b2 + db, QMAX))]
        Qvi[:, a] = r + GAMMA * ev
    V = Qvi.max(1)
pi_star = Qvi.argmax(1)


def evaluate(policy, n=512, T=80, seed=99):
    g = np.random.default_rng(seed)
    pos, qa, qb = g.integers(0, 2, n), g.integers(0, QMAX + 1, n), g.integers(0, QMAX + 1, n)
    ret, disc = np.zeros(n), 1.0
    for _ in range(T):
        a = policy(pos, qa, qb, g)
        pos, qa, qb, r = env_step(pos, qa, qb, a, g)
        ret += disc * r
        disc *= GAMMA
    return ret.mean()


def onehot(s):
    x = np.zeros((len(s), NS), np.float32)
    x[np.arange(len(s)), s] = 1.0
    return x


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(NS, 64)
        self.o = nn.Linear(64, NA)

    def __call__(self, x):
        return self.o(nn.relu(self.h(x)))


def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 200), lambda _: 1e-3], [200])
    return optim.Adam(learning_rate=sched)


def loss_fn(model, target, s, a, r, s2):
    q_t = target(s)
    logpi = q_t / TAU - mx.logsumexp(q_t / TAU, axis=1, keepdims=True)
    bonus = ALPHA * mx.clip(TAU * mx.take_along_axis(logpi, a[:, None], axis=1)[:, 0], L0, 0.0)
    q2 = target(s2)
    logpi2 = q2 / TAU - mx.logsumexp(q2 / TAU, axis=1, keepdims=True)
    soft_v = mx.sum(mx.exp(logpi2) * (q2 - TAU * logpi2), axis=1)
    y = mx.stop_gradient(r + bonus + GAMMA * soft_v)
    q = mx.take_along_axis(model(s), a[:, None], axis=1)[:, 0]
    return nn.losses.huber_loss(q, y, reduction="mean"), mx.mean(bonus)


model, target = QNet(), QNet()
mx.eval(model.parameters())
target.update(model.parameters())
opt = make_opt()
grad_fn = nn.value_and_grad(model, loss_fn)

CAPY = 20000
buf_s = np.zeros(CAPY, np.int64); buf_a = np.zeros(CAPY, np.int64)
buf_r = np.zeros(CAPY, np.float32); buf_s2 = np.zeros(CAPY, np.int64)
n_stored = 0
pos, qa, qb = rng.integers(0, 2, N_ENV), rng.integers(0, QMAX + 1, N_ENV), rng.integers(0, QMAX + 1, N_ENV)
ckpt_dir = tempfile.mkdtemp(None, "ferry_")

print(f"value iteration: V* mean {V.mean():.3f}, crosses in {pi_star.mean() * 100:.0f}% of states")
base_rand = evaluate(lambda p, a, b, g: g.integers(0, 2, len(p)))
base_star = evaluate(lambda p, a, b, g: pi_star[sid(p, a, b)])
base_full = evaluate(lambda p, a, b, g: ((np.where(p == 0, a, b)) >= 2).astype(int))
print(f"baselines (discounted return): random {base_rand:.3f}  cross-when->=2 {base_full:.3f}  optimal {base_star:.3f}")

updates, t0, win = 0, time.perf_counter(), []
it = 0
while it < ITERS:
    env_steps = (it + 1) * N_ENV
    eps = max(0.02, 1.0 - 0.98 * it / 800)
    s = sid(pos, qa, qb)
    qv = np.array(model(mx.array(onehot(s))))
    a = np.where(rng.random(N_ENV) < eps, rng.integers(0, NA, N_ENV), qv.argmax(1))
    pos, qa, qb, r = env_step(pos, qa, qb, a, rng)
    s2 = sid(pos, qa, qb)
    idx = (n_stored + np.arange(N_ENV)) % CAPY
    buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx] = s, a, r, s2
    n_stored += N_ENV

    if env_steps >= WARMUP_ENV_STEPS:
        j = rng.integers(0, min(n_stored, CAPY), BATCH)
        (loss, bonus), grads = grad_fn(model, target, mx.array(onehot(buf_s[j])), mx.array(buf_a[j]),
                                       mx.array(buf_r[j]), mx.array(onehot(buf_s2[j])))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, bonus)
        updates += 1
        win.append((loss.item(), bonus.item()))
        if updates % SYNC_EVERY == 0:
            target.update(model.parameters())
            print(f"  target synced at update {updates}")

    if (it + 1) % 100 == 0:
        if win:
            l, b = np.mean(win, axis=0)
            lr = opt.learning_rate.item()
            print(f"iter {it + 1:5d} env_steps {env_steps:6d} updates {updates:5d} eps {eps:.2f} "
                  f"lr {lr:.2e} td_loss {l:.4f} m_bonus {b:+.4f} reward/step {r.mean():+.3f}", flush=True)
        else:
            print(f"iter {it + 1:5d} env_steps {env_steps:6d} updates {updates:5d} eps {eps:.2f} "
                  f"(filling replay: {n_stored} transitions)", flush=True)
        win = []

    if updates == SAVE_AT and not os.path.exists(os.path.join(ckpt_dir, "q.safetensors")):
        mx.save_safetensors(os.path.join(ckpt_dir, "q.safetensors"), dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(ckpt_dir, "tq.safetensors"), dict(tree_flatten(target.parameters())))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        probe = mx.array(onehot(np.arange(NS)))
        before = np.array(model(probe))
        # resume into fresh objects, as a restarted job would
        model, target, opt = QNet(), QNet(), make_opt()
        model.load_weights(os.path.join(ckpt_dir, "q.safetensors"))
        target.load_weights(os.path.join(ckpt_dir, "tq.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        grad_fn = nn.value_and_grad(model, loss_fn)
        after = np.array(model(probe))
        print(f"checkpoint at update {updates}: saved + reloaded, max |dQ| {np.abs(after - before).max():.2e}, "
              f"opt step {opt.step.item()}, lr {opt.learning_rate.item():.2e}")
    it += 1

greedy = lambda p, a, b, g: np.array(model(mx.array(onehot(sid(p, a, b))))).argmax(1)
ret = evaluate(greedy)
agree = (np.array(model(mx.array(onehot(S)))).argmax(1) == pi_star).mean()
print(f"done in {time.perf_counter() - t0:.1f}s, {updates} updates")
print(f"greedy discounted return {ret:.3f} (random {base_rand:.3f}, optimal {base_star:.3f}); "
      f"agrees with optimal action in {agree * 100:.1f}% of states")
