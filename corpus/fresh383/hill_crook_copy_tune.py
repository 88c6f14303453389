# Sheepdog trial: a young dog first copies the handler's whistles (come-bye / stand / away)
# from recorded runs, the copy is saved, then it is reloaded and fine-tuned on the course
# score (-|offset from the line| per tick) while a KL term keeps it near the frozen copy.
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(3)
mx.random.seed(3)
T, N_EP, GAMMA = 24, 64, 0.9


def sim_reset(rng, n):
    return np.stack([rng.uniform(-2, 2, n), rng.normal(0, 0.2, n)], 1)


def sim_step(s, a, rng):
    x, v = s[:, 0], s[:, 1]
    push = np.array([-1.0, 0.0, 1.0])[a]
    v2 = 0.8 * v + 0.15 * push + rng.normal(0, 0.03, len(x))
    x2 = np.clip(x + v2, -3.0, 3.0)
    v2 = np.where(np.abs(x + v2) > 3.0, 0.0, v2)
    return np.stack([x2, v2], 1), -np.abs(x2)


def handler(s):
    z = s[:, 0] + 1.2 * s[:, 1]
    a = np.ones(len(s), dtype=np.int64)
    a[z > 0.25] = 0
    a[z < -0.25] = 2
    return a


def rollout(policy, rng, n=N_EP):
    s = sim_reset(rng, n)
    S, A, R = [], [], []
    for _ in range(T):
        a = policy(s)
        S.append(s); A.append(a)
        s, r = sim_step(s, a, rng)
        R.append(r)
    return np.stack(S, 1), np.stack(A, 1), np.stack(R, 1)


class Dog(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.pi = nn.Linear(48, 3)
        self.v = nn.Linear(48, 1)

    def __call__(self, s):
        h = self.body(s)
        return self.pi(h), self.v(h)[..., 0]


def log_softmax(z):
    return z - mx.logsumexp(z, axis=-1, keepdims=True)


rng = np.random.default_rng(11)
dS, dA, dR = rollout(handler, rng, 200)
demo_s = mx.array(dS.reshape(-1, 2).astype(np.float32)); demo_a = mx.array(dA.reshape(-1))
hand_score = dR.sum(1).mean()
_, _, rR = rollout(lambda s: rng.integers(0, 3, len(s)), rng, 200)
rand_score = rR.sum(1).mean()
print(f"recorded runs: {demo_a.size} whistles; handler course score {hand_score:.2f}, random dog {rand_score:.2f}")


def greedy_of(model):
    def f(s):
        return np.array(mx.argmax(model(mx.array(s.astype(np.float32)))[0], axis=-1))
    return f


def course(model, seed=500, n=128):
    return rollout(greedy_of(model), np.random.default_rng(seed), n)[2].sum(1).mean()


# stage 1: copy the handler
dog = Dog()
mx.eval(dog.parameters())
opt = optim.Adam(learning_rate=3e-3)


def bc_loss(m, s, a):
    return nn.losses.cross_entropy(m(s)[0], a, reduction="mean")


bc_vg = nn.value_and_grad(dog, bc_loss)
for step in range(1, 301):
    j = mx.array(rng.integers(0, demo_a.size, 256))
    loss, g = bc_vg(dog, demo_s[j], demo_a[j])
    opt.update(dog, g)
    mx.eval(dog.parameters(), opt.state)
    if step % 50 == 0:
        acc = (mx.argmax(dog(demo_s)[0], axis=-1) == demo_a).mean().item()
        print(f"copy step {step:3d}  cross-entropy {loss.item():.4f}  whistle match {acc:.3f}  course {course(dog):.2f}")

ckpt = os.path.join(tempfile.mkdtemp(), "dog_copy.safetensors")
dog.save_weights(ckpt)
print(f"saved copy to {os.path.basename(ckpt)}")

# stage 2: reload into fresh modules; the prior stays frozen
dog, prior = Dog(), Dog()
dog.load_weights(ckpt)
prior.load_weights(ckpt)
prior.freeze()
mx.eval(dog.parameters(), prior.parameters())
opt = optim.Adam(learning_rate=1e-3)
BETA_KL, ENT = 0.05, 0.005
print(f"reloaded: course {course(dog):.2f}  (value head was never trained)")


def ac_loss(m, s, a, adv, ret):
    logits, v = m(s)
    logp = log_softmax(logits)
    lp_a = mx.take_along_axis(logp, a[..., None], axis=-1)[..., 0]
    p = mx.exp(logp)
    ent = -(p * logp).sum(-1).mean()
    kl = (p * (logp - log_softmax(prior(s)[0]))).sum(-1).mean()
    pg = -(lp_a * adv).mean()
    vl = ((v - ret) ** 2).mean()
    return pg + 0.5 * vl + BETA_KL * kl - ENT * ent, (pg, vl, kl, ent)


ac_vg = nn.value_and_grad(dog, lambda m, *a: ac_loss(m, *a)[0])


def sample_of(model):
    def f(s):
        return np.array(mx.random.categorical(model(mx.array(s.astype(np.float32)))[0]))
    return f


for it in range(1, 121):
    S, A, R = rollout(sample_of(dog), rng)
    ret = np.zeros_like(R); run = np.zeros(N_EP)
    for t in reversed(range(T)):
        run = R[:, t] + GAMMA * run
        ret[:, t] = run
    Sm = mx.array(S.astype(np.float32))
    adv = ret - np.array(dog(Sm)[1])
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    args = (Sm, mx.array(A), mx.array(adv.astype(np.float32)), mx.array(ret.astype(np.float32)))
    for _ in range(2):
        _, g = ac_vg(dog, *args)
        opt.update(dog, g)
        mx.eval(dog.parameters(), opt.state)
    if it % 15 == 0 or it == 1:
        _, (pg, vl, kl, ent) = ac_loss(dog, *args)
        print(f"tune iter {it:3d}  policy loss {pg.item():+.4f}  value loss {vl.item():7.3f}  KL to copy {kl.item():.4f}  "
              f"entropy {ent.item():.3f}  sampled course {R.sum(1).mean():6.2f}  greedy course {course(dog):6.2f}")

final = course(dog, seed=777, n=256)
copy_final = course(prior, seed=777, n=256)
print(f"final greedy course score {final:.2f}  (copy before tuning {copy_final:.2f}, handler {hand_score:.2f}, random dog {rand_score:.2f})")
