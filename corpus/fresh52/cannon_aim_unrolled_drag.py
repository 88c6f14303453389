"""Aim a cannon at 16 targets by differentiating through a drag simulation.

For every target we learn a launch (vx, vy) pair. The shell is simulated with
an explicit Euler integrator (quadratic air drag, fixed 160 steps); the landing
x-position is found by linear interpolation of the last height sign change,
and the loss is the mean squared miss distance. Adam with an exponential
learning-rate decay; progress dots while it runs, one table at the end.
"""
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

G, DRAG, DT, N_STEPS = 9.81, 0.006, 0.05, 160


def fly(v0):
    """v0: (B, 2) launch velocities -> landing x (B,)"""
    pos = mx.zeros_like(v0)
    vel = v0
    xs, ys = [pos[:, 0]], [pos[:, 1]]
    for _ in range(N_STEPS):
        speed = mx.sqrt(mx.sum(vel * vel, axis=1, keepdims=True) + 1e-9)
        acc = -DRAG * speed * vel + mx.array([0.0, -G])
        vel = vel + DT * acc
        pos = pos + DT * vel
        xs.append(pos[:, 0]); ys.append(pos[:, 1])
    X = mx.stack(xs, axis=1)   # (B, T)
    Y = mx.stack(ys, axis=1)
    # first index where the shell is below ground after having been above
    below = (Y[:, 1:] < 0).astype(mx.float32)
    first = mx.stop_gradient(mx.argmax(below, axis=1))   # integer index
    i1 = first + 1
    y0 = mx.take_along_axis(Y, first[:, None], axis=1)[:, 0]
    y1 = mx.take_along_axis(Y, i1[:, None], axis=1)[:, 0]
    x0 = mx.take_along_axis(X, first[:, None], axis=1)[:, 0]
    x1 = mx.take_along_axis(X, i1[:, None], axis=1)[:, 0]
    frac = y0 / (y0 - y1)
    return x0 + frac * (x1 - x0)


def main():
    rng = np.random.default_rng(11)
    targets = mx.array(rng.uniform(15.0, 45.0, size=16).astype(np.float32))
    params = {"v": mx.array(np.tile([[12.0, 12.0]], (16, 1)).astype(np.float32))}

    def loss_fn(p):
        land = fly(p["v"])
        return mx.mean((land - targets) ** 2)

    vg = mx.value_and_grad(loss_fn)
    sched = optim.exponential_decay(0.6, 0.996)
    opt = optim.Adam(learning_rate=sched)

    loss0, g0 = vg(params)
    for k, v in tree_flatten(g0):
        assert float(mx.abs(v).max()) > 0, k

    hist = []
    t0 = time.time()
    for it in range(350):
        loss, grads = vg(params)
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state, loss)
        hist.append(loss.item())
        if it % 25 == 0:
            sys.stdout.write("."); sys.stdout.flush()
    print()
    land = np.array(fly(params["v"]))
    tg = np.array(targets)
    v = np.array(params["v"])
    print(f"{'tgt':>3} {'target_m':>9} {'landed_m':>9} {'miss_m':>8} {'speed':>7} {'angle':>6}")
    for i in range(16):
        sp = float(np.hypot(*v[i])); ang = float(np.degrees(np.arctan2(v[i, 1], v[i, 0])))
        print(f"{i:3d} {tg[i]:9.2f} {land[i]:9.2f} {land[i]-tg[i]:+8.3f} {sp:7.2f} {ang:6.1f}")
    print(f"mse(miss) start={hist[0]:.3f} mid={hist[len(hist)//2]:.5f} end={hist[-1]:.6f}"
          f"  worst|miss|={np.abs(land - tg).max():.4f} m  ({time.time()-t0:.1f}s)")


if __name__ == "__main__":
    main()
