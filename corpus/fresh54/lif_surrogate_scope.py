"""Spiking network (leaky integrate-and-fire) trained with a surrogate gradient.

40 input channels fire Bernoulli spike trains whose rates encode one of four
prototype patterns; a hidden LIF layer (reset by subtraction) feeds a
non-spiking leaky readout whose summed membrane potential is the logit.
The Heaviside spike has a fast-sigmoid surrogate derivative.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_IN, N_HID, N_CLS, T = 40, 64, 4, 20
BETA, THR, SLOPE = 0.9, 1.0, 10.0


@mx.custom_function
def spike(v):
    return (v > 0).astype(v.dtype)


@spike.vjp
def spike_vjp(primals, cotangent, output):
    v = primals
    return cotangent / (1.0 + SLOPE * mx.abs(v)) ** 2


class LIFNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w_in = nn.Linear(N_IN, N_HID)
        self.w_out = nn.Linear(N_HID, N_CLS)

    def __call__(self, spikes_in):
        # spikes_in: (T, B, N_IN)
        b = spikes_in.shape[1]
        v_h = mx.zeros((b, N_HID))
        v_o = mx.zeros((b, N_CLS))
        logit = mx.zeros((b, N_CLS))
        total = mx.zeros((b, N_HID))
        for t in range(T):
            v_h = BETA * v_h + self.w_in(spikes_in[t])
            s = spike(v_h - THR)
            v_h = v_h - s * THR
            total = total + s
            v_o = BETA * v_o + self.w_out(s)
            logit = logit + v_o
        return logit / T, total / T


_r = np.random.default_rng(7)
PROTOS = np.clip(_r.uniform(0.05, 0.3, size=(1, N_IN))
                 + 0.06 * _r.standard_normal((N_CLS, N_IN)), 0.01, 0.6).astype(np.float32)


def batch(rng, n):
    y = rng.integers(0, N_CLS, size=n)
    rates = np.clip(PROTOS[y] * rng.uniform(0.8, 1.2, size=(n, 1)), 0, 1)
    s = (rng.random((T, n, N_IN)) < rates[None]).astype(np.float32)
    return mx.array(s), mx.array(y.astype(np.int32))


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(11)
    net = LIFNet()
    mx.eval(net.parameters())

    def loss_fn(net, s, y):
        logit, _ = net(s)
        return nn.losses.cross_entropy(logit, y, reduction="mean")

    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(net, loss_fn)
    s_val, y_val = batch(np.random.default_rng(999), 512)

    t0 = time.perf_counter()
    for it in range(1, 401):
        s, y = batch(rng, 64)
        loss, grads = vg(net, s, y)
        if it == 1:
            flat = tree_flatten(grads)
            nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
            print(f"[probe] step-1 gradient leaves non-zero: {nz}/{len(flat)}")
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if it % 50 == 0 or it in (1, 10, 25):
            logit, rate = net(s_val)
            acc = (mx.argmax(logit, axis=1) == y_val).mean().item()
            print(f"[t+{it:04d}] ce={loss.item():.4f}  val_acc={acc:.3f}  "
                  f"hid_rate={rate.mean().item():.3f} spk/neuron/step  "
                  f"elapsed={time.perf_counter() - t0:5.1f}s")
    print("[done] final val_acc "
          f"{(mx.argmax(net(s_val)[0], axis=1) == y_val).mean().item():.3f}")


if __name__ == "__main__":
    main()
