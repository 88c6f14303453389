import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_HIVES, HORIZON, GAMMA, LAM = 32, 40, 0.95, 0.9
FAN = np.array([0.0, 0.6, 1.2])  # closed / half / open vent


class Hives:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.t = 0
        self.temp = self.rng.normal(0.0, 1.5, N_HIVES)   # deviation from 35 C brood target
        self.hum = self.rng.uniform(0.3, 0.9, N_HIVES)
        return self.obs()

    def obs(self):
        return np.stack([self.temp / 3.0, self.hum, np.full(N_HIVES, self.t / HORIZON)], 1).astype(np.float32)

    def step(self, a):
        sun = 0.5 + 0.4 * np.sin(np.pi * self.t / HORIZON)
        self.temp = 0.8 * self.temp + sun - FAN[a] + self.rng.normal(0, 0.3, N_HIVES)
        self.hum = np.clip(self.hum + 0.05 - 0.08 * FAN[a] + self.rng.normal(0, 0.02, N_HIVES), 0, 1)
        r = -np.abs(self.temp) - 2.0 * np.maximum(self.hum - 0.8, 0) - 0.05 * FAN[a]
        self.t += 1
        return self.obs(), r.astype(np.float32), self.t >= HORIZON


class Keeper(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.pi = nn.Linear(48, 3)
        self.v = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


def rollout(env, net, greedy=False):
    o = env.reset(); O, A, R, V, LP = [], [], [], [], []
    done = False
    while not done:
        logits, v = net(mx.array(o))
        a = mx.argmax(logits, -1) if greedy else mx.random.categorical(logits)
        lp = mx.take_along_axis(logits - mx.logsumexp(logits, -1, keepdims=True), a[:, None], -1)[:, 0]
        a_np = np.array(a)
        o2, r, done = env.step(a_np)
        O.append(o); A.append(a_np); R.append(r); V.append(np.array(v)); LP.append(np.array(lp))
        o = o2
    return [np.stack(z) for z in (O, A, R, V, LP)]


def gae(R, V):
    adv = np.zeros_like(R); last = 0.0
    for t in reversed(range(len(R))):
        nv = V[t + 1] if t + 1 < len(R) else 0.0
        delta = R[t] + GAMMA * nv - V[t]
        last = delta + GAMMA * LAM * last
        adv[t] = last
    return adv, adv + V


def ppo_loss(net, o, a, old_lp, adv, ret):
    logits, v = net(o)
    logp_all = logits - mx.logsumexp(logits, -1, keepdims=True)
    lp = mx.take_along_axis(logp_all, a[:, None], -1)[:, 0]
    ratio = mx.exp(lp - old_lp)
    surr = mx.minimum(ratio * adv, mx.clip(ratio, 0.8, 1.2) * adv)
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    vloss = ((v - ret) ** 2).mean()
    loss = -surr.mean() + 0.5 * vloss - 0.01 * ent
    return loss, (vloss, ent, ((ratio - 1) - mx.log(ratio)).mean(), (mx.abs(ratio - 1) > 0.2).mean())


def lr_at(u):
    return 3e-3 * min(u / 6.0, 1.0)   # ramps from exactly zero


def save(path, net, opt, u):
    flat = dict(tree_flatten(net.parameters()))
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    flat["meta.update"] = mx.array(u)
    mx.save_safetensors(path, flat)


def load(path):
    d = mx.load(path)
    net = Keeper(); net.update(tree_unflatten([(k, v) for k, v in d.items() if not k.startswith(("opt.", "meta."))]))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten([(k[4:], v) for k, v in d.items() if k.startswith("opt.")])
    return net, opt, int(d["meta.update"].item())


def main():
    mx.random.seed(7)
    env, eval_env = Hives(1), Hives(999)
    net = Keeper(); opt = optim.Adam(learning_rate=0.0)
    mx.eval(net.parameters())
    lg = nn.value_and_grad(net, ppo_loss)
    rng = np.random.default_rng(3)

    base = {}
    for name, k in (("always_closed", 0), ("always_half", 1), ("always_open", 2)):
        e = Hives(999); e.reset(); tot = 0; done = False
        while not done:
            _, r, done = e.step(np.full(N_HIVES, k)); tot += r.mean()
        base[name] = tot
    print("reference greedy return per hive:", ", ".join(f"{k}={v:.1f}" for k, v in base.items()))
    print("update,lr,sampled_return,approx_kl,clip_frac,value_loss,entropy")

    ckpt = os.path.join(tempfile.mkdtemp(), "keeper.safetensors")
    u, total = 0, 90
    while u < total:
        u += 1
        opt.learning_rate = lr_at(u - 1)
        O, A, R, V, LP = rollout(env, net)
        adv, ret = gae(R, V)
        O, A, LP, adv, ret = (z.reshape(-1, *z.shape[2:]) for z in (O, A, LP, adv, ret))
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        for _ in range(4):
            idx = rng.permutation(len(A))
            for s in range(0, len(A), 320):
                b = idx[s:s + 320]
                (loss, aux), g = lg(net, mx.array(O[b]), mx.array(A[b]), mx.array(LP[b]), mx.array(adv[b]), mx.array(ret[b]))
                g, _ = optim.clip_grad_norm(g, 0.5)
                opt.update(net, g)
                mx.eval(net.parameters(), opt.state, loss, *aux)
        vl, ent, kl, cf = (float(x) for x in aux)
        if u <= 3 or u % 10 == 0:
            print(f"{u},{lr_at(u-1):.5f},{R.sum(0).mean():.2f},{kl:.5f},{cf:.3f},{vl:.3f},{ent:.3f}")
        if u == 45:
            save(ckpt, net, opt, u)
            print(f"# checkpoint written at update {u}; reloading into fresh objects")
            net, opt, u = load(ckpt)
            mx.eval(net.parameters(), opt.state)
            lg = nn.value_and_grad(net, ppo_loss)
            print(f"# resumed at update {u}")
    _, _, R, _, _ = rollout(eval_env, net, greedy=True)
    print(f"final greedy return per hive: {R.sum(0).mean():.2f}  (best constant rule {max(base.values()):.2f})")


if __name__ == "__main__":
    main()
