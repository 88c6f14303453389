# Ice rink resurfacing: REINFORCE with a learned value baseline and an entropy bonus.
# Run 1 trains 60 updates, saves a checkpoint, and a fresh process-style resume
# continues to 140 updates. Greedy return is printed beside two fixed baselines.
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H = 24          # periods per evening
N_ENV = 128

def env_reset(rng, n):
    q = rng.uniform(0.6, 1.0, n)
    return q, np.zeros(n, dtype=np.int64)

def crowd(t):
    # busy early evening, quiet middle, busy late
    return 0.4 + 0.6 * (np.cos(2 * np.pi * t / H) ** 2)

def obs(q, t):
    c = crowd(t)
    return np.stack([q, c, t / H, np.sin(2 * np.pi * t / H), np.cos(2 * np.pi * t / H)], 1).astype(np.float32)

def env_step(rng, q, t, a):
    c = crowd(t) * rng.uniform(0.85, 1.15, q.shape)
    open_r = c * q - 1.5 * (q < 0.3)
    r = np.where(a == 1, -0.1 * c, open_r)
    q = np.where(a == 1, 1.0, np.clip(q - (0.05 + 0.08 * c), 0.0, 1.0))
    return q, t + 1, r

class Agent(nn.Module):
    def __init__(self, d=5, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.pi = nn.Linear(h, 2)
        self.v = nn.Linear(h, 1)
    def __call__(self, x):
        z = self.body(x)
        return self.pi(z), self.v(z).squeeze(-1)

def rollout(model, rng, greedy=False, n=N_ENV):
    q, t = env_reset(rng, n)
    O, A, R = [], [], []
    for _ in range(H):
        o = obs(q, t)
        logits, _ = model(mx.array(o))
        if greedy:
            a = np.array(mx.argmax(logits, -1))
        else:
            a = np.array(mx.random.categorical(logits))
        q, t, r = env_step(rng, q, t, a)
        O.append(o); A.append(a); R.append(r)
    return np.stack(O, 1), np.stack(A, 1), np.stack(R, 1)

def returns_to_go(R, gamma=0.98):
    G = np.zeros_like(R)
    acc = np.zeros(R.shape[0])
    for k in range(R.shape[1] - 1, -1, -1):
        acc = R[:, k] + gamma * acc
        G[:, k] = acc
    return G.astype(np.float32)

def baseline_return(rng, policy, n=512):
    q, t = env_reset(rng, n)
    tot = np.zeros(n)
    for _ in range(H):
        a = policy(q, t, rng)
        q, t, r = env_step(rng, q, t, a)
        tot += r
    return tot.mean()

def loss_fn(model, O, A, G, ent_coef):
    logits, v = model(O)
    logp_all = logits - mx.logsumexp(logits, -1, keepdims=True)
    logp = mx.take_along_axis(logp_all, A[..., None], -1).squeeze(-1)
    adv = mx.stop_gradient(G - v)
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    pg = -(logp * adv).mean()
    vloss = ((v - G) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return pg + 0.5 * vloss - ent_coef * ent, (pg, vloss, ent)

def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 25), optim.cosine_decay(3e-3, 115, 3e-4)], [25])
    return optim.Adam(learning_rate=sched)

def train(model, opt, rng, start, stop):
    vg = nn.value_and_grad(model, loss_fn)
    for it in range(start, stop):
        O, A, R = rollout(model, rng)
        G = returns_to_go(R)
        ent_coef = 0.05 * max(0.0, 1 - it / 100)
        (loss, (pg, vl, ent)), grads = vg(model, mx.array(O), mx.array(A), mx.array(G), ent_coef)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 10 == 0 or it == stop - 1:
            print(f"it {it:3d} lr {opt.learning_rate.item():.5f} ret {R.sum(1).mean():7.3f} "
                  f"loss {loss.item():8.4f} pg {pg.item():8.4f} v {vl.item():7.4f} ent {ent.item():.3f}")

def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    rand_ret = baseline_return(np.random.default_rng(11), lambda q, t, g: g.integers(0, 2, q.shape))
    every6 = baseline_return(np.random.default_rng(11), lambda q, t, g: (t % 6 == 5).astype(np.int64))
    never = baseline_return(np.random.default_rng(11), lambda q, t, g: np.zeros(q.shape, np.int64))
    print(f"baselines: random {rand_ret:.3f}  every-6 {every6:.3f}  never {never:.3f}")

    model = Agent(); opt = make_opt()
    train(model, opt, rng, 0, 60)
    ck = tempfile.mkdtemp()
    model.save_weights(os.path.join(ck, "agent.safetensors"))
    mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print("checkpoint written at it 60")

    model2 = Agent(); model2.load_weights(os.path.join(ck, "agent.safetensors"))
    opt2 = make_opt()
    opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
    print(f"resumed: step {opt2.step.item()} lr {opt2.learning_rate.item():.5f}")
    train(model2, opt2, rng, 60, 140)

    _, _, Rg = rollout(model2, np.random.default_rng(11), greedy=True, n=512)
    g = Rg.sum(1).mean()
    print(f"greedy return {g:.3f} vs every-6 {every6:.3f} random {rand_ret:.3f}")

if __name__ == "__main__":
    main()
