# TD(0) value learning on the 19-state random walk (Sutton & Barto ex. 7.2),
# off-line from a replay buffer that fills up to a cap, with a target network
# refreshed every 100 updates.  Functional MLP over a plain dict of arrays,
# hand-written SGD with momentum via tree_map.  True values are known:
# V(s) = (s - 10) / 10, so we report the RMS error against them.
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

N_STATES = 19          # non-terminal states 1..19, terminals 0 and 20
CAPACITY = 100_000
BATCH = 128
GAMMA = 1.0
LR, MOM = 0.05, 0.9
SYNC_EVERY = 100
TOTAL_UPDATES = 4000
REPORT_EVERY = 400


def encode(s):
    """state index (int array) -> features: position in [-1,1] and 4 Fourier terms"""
    p = (s.astype(np.float32) - 10.0) / 10.0
    f = [p] + [np.sin(k * np.pi * p / 2) for k in (1, 2)] + [np.cos(k * np.pi * p / 2) for k in (1, 2)]
    return np.stack(f, 1).astype(np.float32)


def init_params(key, d_in=5, h=32):
    k1, k2, k3 = mx.random.split(key, 3)
    return {
        "w1": mx.random.normal((d_in, h), key=k1) * (1.0 / np.sqrt(d_in)),
        "b1": mx.zeros((h,)),
        "w2": mx.random.normal((h, h), key=k2) * (1.0 / np.sqrt(h)),
        "b2": mx.zeros((h,)),
        "w3": mx.random.normal((h, 1), key=k3) * 0.1,
        "b3": mx.zeros((1,)),
    }


def value(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    h = mx.tanh(h @ p["w2"] + p["b2"])
    return (h @ p["w3"] + p["b3"]).squeeze(-1)


def td_loss(p, target_p, x, r, x_next, done):
    boot = mx.stop_gradient(value(target_p, x_next))
    y = r + GAMMA * (1.0 - done) * boot
    return mx.mean((value(p, x) - y) ** 2)


grad_fn = mx.value_and_grad(td_loss)   # argnums=0: only the online params


class Replay:
    def __init__(self, cap):
        self.cap, self.n, self.head = cap, 0, 0
        self.s = np.zeros(cap, np.int64)
        self.r = np.zeros(cap, np.float32)
        self.s2 = np.zeros(cap, np.int64)
        self.d = np.zeros(cap, np.float32)

    def add(self, s, r, s2, d):
        self.s[self.head], self.r[self.head], self.s2[self.head], self.d[self.head] = s, r, s2, d
        self.head = (self.head + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, rng, k):
        i = rng.integers(0, self.n, k)
        return self.s[i], self.r[i], self.s2[i], self.d[i]


def run_episode(rng, buf):
    s, steps = 10, 0
    while True:
        s2 = s + (1 if rng.random() < 0.5 else -1)
        steps += 1
        if s2 == 0:
            buf.add(s, -1.0, s2, 1.0); return steps
        if s2 == N_STATES + 1:
            buf.add(s, 1.0, s2, 1.0); return steps
        buf.add(s, 0.0, s2, 0.0)
        s = s2


def main():
    rng = np.random.default_rng(3)
    params = init_params(mx.random.key(3))
    target = tree_map(lambda a: mx.array(a), params)
    vel = tree_map(mx.zeros_like, params)
    mx.eval(params, target, vel)
    buf = Replay(CAPACITY)

    all_states = np.arange(1, N_STATES + 1)
    x_all = mx.array(encode(all_states))
    v_true = mx.array(((all_states - 10) / 10.0).astype(np.float32))

    def rms_err():
        return mx.sqrt(mx.mean((value(params, x_all) - v_true) ** 2)).item()

    # warm the buffer before the first update
    episodes = 0
    while buf.n < 1000:
        run_episode(rng, buf); episodes += 1
    print("random-walk TD | buffer warm: %d transitions from %d episodes | untrained RMS %.4f"
          % (buf.n, episodes, rms_err()))

    t0, run_loss = time.perf_counter(), []
    for upd in range(1, TOTAL_UPDATES + 1):
        run_episode(rng, buf); episodes += 1     # one fresh episode per update
        s, r, s2, d = buf.sample(rng, BATCH)
        loss, g = grad_fn(params, target, mx.array(encode(s)), mx.array(r),
                          mx.array(encode(np.clip(s2, 1, N_STATES))), mx.array(d))
        if upd == 1:
            flat = tree_flatten(g)
            nz = [k for k, v in flat if mx.any(v != 0).item()]
            print("first update: %d/%d parameter leaves have a nonzero gradient" % (len(nz), len(flat)))
        vel = tree_map(lambda v, gg: MOM * v + gg, vel, g)
        params = tree_map(lambda p, v: p - LR * v, params, vel)
        mx.eval(params, vel, loss)
        run_loss.append(loss.item())
        if upd % SYNC_EVERY == 0:
            target = tree_map(lambda a: mx.array(a), params)
            mx.eval(target)
        if upd % REPORT_EVERY == 0:
            print("update %4d | episodes %5d | buffer %4d/%d | td_loss(mean of last %d) %.5f | RMS vs true V %.4f | %.1fs"
                  % (upd, episodes, buf.n, CAPACITY, REPORT_EVERY, float(np.mean(run_loss[-REPORT_EVERY:])),
                     rms_err(), time.perf_counter() - t0))

    v = value(params, x_all)
    print("final V(1), V(10), V(19) = %.3f %.3f %.3f (true -0.9 0.0 0.9); RMS %.4f"
          % (v[0].item(), v[9].item(), v[18].item(), rms_err()))


if __name__ == "__main__":
    main()
