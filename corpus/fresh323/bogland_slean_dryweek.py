# Turf-cutting season on a bog: each week a cutter decides to cut a bank now
# or wait for drier ground.  Episodic MDP, Monte-Carlo policy gradient with a
# learned value baseline, entropy bonus, linear LR warmup from 0, a mid-run
# checkpoint that is reloaded into fresh modules, and a second stage.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
WEEKS, N_ENV, GAMMA = 12, 64, 0.97


def obs_of(week, wet, banks):
    return np.stack([week / WEEKS, wet, banks / 3.0, np.ones_like(wet)], 1).astype(np.float32)


def rollout(policy, greedy=False):
    week = np.zeros(N_ENV); banks = np.full(N_ENV, 3.0)
    wet = rng.uniform(0.3, 1.0, N_ENV); alive = np.ones(N_ENV, bool)
    O, A, R, M = [], [], [], []
    for t in range(WEEKS):
        o = obs_of(week, wet, banks)
        logits = policy(mx.array(o))
        if greedy:
            a = np.array(mx.argmax(logits, 1))
        else:
            a = np.array(mx.random.categorical(logits))
        cut = (a == 1) & alive & (banks > 0)
        r = np.where(alive, -0.05, 0.0)                # weekly upkeep: costs only
        r = r + np.where(cut, 1.0 - 1.4 * wet, 0.0)    # cutting wet turf loses money
        banks = banks - cut
        O.append(o); A.append(a); R.append(r); M.append(alive.astype(np.float32))
        alive = alive & (banks > 0)
        week = week + 1
        wet = np.clip(0.85 * wet + rng.normal(0, 0.15, N_ENV) - 0.03, 0.0, 1.0)
    R = np.array(R); G = np.zeros_like(R); run = np.zeros(N_ENV)
    for t in reversed(range(WEEKS)):
        run = R[t] + GAMMA * run; G[t] = run
    return (np.array(O), np.array(A), G.astype(np.float32), np.array(M), R.sum(0).mean())


class Net(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.l1 = nn.Linear(4, 32); self.l2 = nn.Linear(32, out)
    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def losses(pi, vf, O, A, G, M, ent_coef):
    O = O.reshape(-1, 4); A = A.reshape(-1); G = G.reshape(-1); M = M.reshape(-1)
    logits = pi(O); logp = logits - mx.logsumexp(logits, 1, keepdims=True)
    lp_a = mx.take_along_axis(logp, A[:, None], 1)[:, 0]
    v = vf(O)[:, 0]
    adv = mx.stop_gradient(G - v)
    adv = (adv - (adv * M).sum() / M.sum()) / (mx.sqrt(((adv ** 2) * M).sum() / M.sum()) + 1e-6)
    ent = -(mx.exp(logp) * logp).sum(1)
    n = M.sum()
    pg = -(lp_a * adv * M).sum() / n
    vl = (((v - G) ** 2) * M).sum() / n
    en = (ent * M).sum() / n
    return pg + 0.5 * vl - ent_coef * en, (pg, vl, en)


def train(pi, vf, iters, lr_peak, warm, ent_coef, tag, start=0):
    opt = optim.Adam(learning_rate=0.0)
    params = {"pi": pi.parameters(), "vf": vf.parameters()}
    both = nn.Module(); both.pi = pi; both.vf = vf
    def f(m, O, A, G, M):
        return losses(m.pi, m.vf, O, A, G, M, ent_coef)
    step = nn.value_and_grad(both, f)
    for it in range(iters):
        opt.learning_rate = lr_peak * min(1.0, it / warm)   # exactly 0 at it=0
        O, A, G, M, ret = rollout(pi)
        (loss, (pg, vl, en)), g = step(both, mx.array(O), mx.array(A), mx.array(G), mx.array(M))
        opt.update(both, g); mx.eval(both.parameters(), opt.state)
        if it % 20 == 0 or it == iters - 1:
            print(f"[{tag}] iter {start+it:4d} lr {float(opt.learning_rate):.5f} loss {float(loss):+.4f} "
                  f"pg {float(pg):+.4f} vloss {float(vl):.4f} entropy {float(en):.3f} return {ret:+.3f}")


def evaluate(pi, n=8):
    return float(np.mean([rollout(pi, greedy=True)[4] for _ in range(n)]))


class Always:
    def __init__(self, a): self.a = a
    def __call__(self, x):
        z = np.full((x.shape[0], 2), -9.0, np.float32); z[:, self.a] = 9.0
        return mx.array(z)

t0 = time.time()
print(f"baseline always-cut  return {evaluate(Always(1)):+.3f}")
print(f"baseline never-cut   return {evaluate(Always(0)):+.3f}")
pi, vf = Net(2), Net(1)
print(f"untrained greedy     return {evaluate(pi):+.3f}")
train(pi, vf, 160, 3e-3, 30, 0.02, "stage1")
e1 = evaluate(pi)
print(f"stage1 greedy return {e1:+.3f}")
ck = tempfile.mkdtemp()
pi.save_weights(os.path.join(ck, "pi.safetensors")); vf.save_weights(os.path.join(ck, "vf.safetensors"))
pi2, vf2 = Net(2), Net(1)
pi2.load_weights(os.path.join(ck, "pi.safetensors")); vf2.load_weights(os.path.join(ck, "vf.safetensors"))
print(f"reloaded greedy return {evaluate(pi2):+.3f}")
train(pi2, vf2, 140, 1e-3, 20, 0.0, "stage2", start=160)
e2 = evaluate(pi2)
print(f"stage2 greedy return {e2:+.3f}")
print(f"done in {time.time()-t0:.1f}s")
