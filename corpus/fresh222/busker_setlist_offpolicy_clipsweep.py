# Off-policy learning from a busker's logbook.
# Each logged evening: 6 context readings (hour, rain, footfall, weekday flag,
# festival flag, temperature), which of 5 set-lists she played (chosen by her old
# habit rule, propensity written in the log) and the tips in the hat (EUR).
# We learn a new set-list policy from the log only, with a clipped,
# self-normalised importance-weighted objective, sweeping the clip level.
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

K = 5                     # set-lists: folk, jazz, pop covers, classical, sea shanties
N_LOG, N_TEST = 6000, 2000
mx.random.seed(11)


def contexts(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 6), key=k1)
    return x


W_TRUE = mx.array([
    [0.9, -0.6, 0.2, 0.0, 0.3, 0.1],
    [-0.4, 0.8, 0.1, 0.5, -0.2, 0.0],
    [0.2, -0.2, 0.9, -0.3, 0.6, 0.2],
    [-0.6, 0.3, -0.4, 0.7, 0.0, -0.5],
    [0.1, 0.1, 0.3, -0.6, 1.0, 0.4],
])


def mean_tips(x):                                    # EUR, per set-list
    return 6.0 + 3.0 * mx.tanh(x @ W_TRUE.T)          # n, K


def habit_probs(x):                                  # her old rule of thumb
    logits = mx.stack([0.8 * x[:, 0], 0.8 * x[:, 1], 0.2 * x[:, 2], mx.zeros(x.shape[0]), 0.4 * x[:, 4]], axis=1)
    return mx.softmax(logits, axis=1)


kx, ka, kr, kt = mx.random.split(mx.random.key(3), 4)
X = contexts(N_LOG, kx)
P_LOG = habit_probs(X)
A = mx.random.categorical(mx.log(P_LOG), key=ka)
PROP = mx.take_along_axis(P_LOG, A[:, None], axis=1).squeeze(1)
MU = mean_tips(X)
TIPS = mx.maximum(mx.take_along_axis(MU, A[:, None], axis=1).squeeze(1)
                  + 2.0 * mx.random.normal((N_LOG,), key=kr), 0.0)
XT = contexts(N_TEST, kt)
MUT = mean_tips(XT)
mx.eval(X, A, PROP, TIPS, XT, MUT)

habit_value = (habit_probs(XT) * MUT).sum(1).mean().item()
oracle_value = MUT.max(axis=1).mean().item()
print(json.dumps({"event": "log", "evenings": N_LOG, "mean_tips_logged": round(TIPS.mean().item(), 3),
                  "habit_value_eur": round(habit_value, 3), "oracle_value_eur": round(oracle_value, 3)}))


class SetlistPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, K)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def snips_loss(model, x, a, prop, r, clip):
    logp = nn.log_softmax(model(x), axis=1)
    pa = mx.exp(mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1))
    w = mx.minimum(pa / prop, clip)
    value = (w * r).sum() / mx.stop_gradient(w.sum())
    ent = -(mx.exp(logp) * logp).sum(1).mean()
    return -value - 0.05 * ent, (value, ent, w.mean())


def true_value(model):
    return (mx.softmax(model(XT), axis=1) * MUT).sum(1).mean().item()


STEPS, BS = 150, 256
summary = []
for clip in (2.0, 5.0, 20.0):
    mx.random.seed(int(clip * 10))
    pol = SetlistPolicy()
    mx.eval(pol.parameters())
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, STEPS - 20, 3e-4)], [20])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(pol, snips_loss)
    start_v = true_value(pol)
    perm_key = mx.random.key(int(clip))
    for step in range(STEPS):
        perm_key, sk = mx.random.split(perm_key)
        idx = mx.random.randint(0, N_LOG, (BS,), key=sk)
        (loss, (v, ent, wbar)), g = vg(pol, X[idx], A[idx], PROP[idx], TIPS[idx], clip)
        opt.update(pol, g)
        mx.eval(pol.parameters(), opt.state, loss, v, ent, wbar)
        if step % 15 == 0 or step == STEPS - 1:
            print(json.dumps({"clip": clip, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                              "objective": round(loss.item(), 4), "snips_eur": round(v.item(), 3),
                              "entropy_nats": round(ent.item(), 3), "mean_w": round(wbar.item(), 3),
                              "true_eur": round(true_value(pol), 3)}))
    end_v = true_value(pol)
    summary.append((clip, start_v, end_v))

print("clip | start EUR | final EUR | habit EUR | oracle EUR | gain over habit")
for clip, s, e in summary:
    print(f"{clip:4.0f} | {s:9.3f} | {e:9.3f} | {habit_value:9.3f} | {oracle_value:10.3f} | {100 * (e - habit_value) / habit_value:+.1f}%")
