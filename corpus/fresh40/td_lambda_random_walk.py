"""Semi-gradient TD(lambda) value prediction on the 19-state random walk.

Linear value function (one weight per state, no bias), accumulating eligibility
traces built from mx.grad of v(s).  Reports RMS error against the analytic true
values every 25 episodes.
"""
import mlx.core as mx
import numpy as np

N_STATES = 19
GAMMA = 1.0
LAMBDA = 0.8
ALPHA = 0.03
EPISODES = 800

rng = np.random.default_rng(7)
mx.random.seed(7)

# true values for the 19-state walk with -1 on the left exit and +1 on the right
true_v = np.array([-1.0 + 2.0 * (i + 1) / (N_STATES + 1) for i in range(N_STATES)],
                  dtype=np.float32)

params = {"w": mx.zeros((N_STATES,))}


def value(p, s):
    return p["w"][s]


grad_v = mx.grad(value)


def run_episode(p):
    s = N_STATES // 2
    trace = {"w": mx.zeros((N_STATES,))}
    steps = 0
    while True:
        s_next = s + (1 if rng.random() < 0.5 else -1)
        if s_next < 0:
            r, terminal = -1.0, True
        elif s_next >= N_STATES:
            r, terminal = 1.0, True
        else:
            r, terminal = 0.0, False
        v_s = value(p, s)
        v_next = mx.array(0.0) if terminal else value(p, s_next)
        delta = r + GAMMA * v_next - v_s
        g = grad_v(p, s)
        trace = {"w": GAMMA * LAMBDA * trace["w"] + g["w"]}
        p = {"w": p["w"] + ALPHA * delta * trace["w"]}
        mx.eval(p, trace)
        steps += 1
        if terminal:
            return p, steps
        s = s_next


def rms(p):
    est = np.array(p["w"])
    return float(np.sqrt(np.mean((est - true_v) ** 2)))


g0 = grad_v(params, N_STATES // 2)
print(f"first-step grad nonzero entries: {int(mx.sum(g0['w'] != 0).item())} of {N_STATES}")
print(f"{'episode':>8} {'avg_len':>8} {'rms_err':>8}")
print(f"{0:>8} {'-':>8} {rms(params):>8.4f}")
lens = []
for ep in range(1, EPISODES + 1):
    params, n = run_episode(params)
    lens.append(n)
    if ep % 50 == 0:
        print(f"{ep:>8} {np.mean(lens[-50:]):>8.1f} {rms(params):>8.4f}")
print("final values (every 3rd state):",
      " ".join(f"{v:+.2f}" for v in np.array(params['w'])[::3]))
print("true  values (every 3rd state):",
      " ".join(f"{v:+.2f}" for v in true_v[::3]))
