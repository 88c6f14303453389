"""Leaky-integrator spiking classifier on synthetic spike trains.

Readout membrane traces are integrated over time and fed to a
cross-entropy (spyx-style "integral cross-entropy").
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T_STEPS, N_IN, N_HID, N_CLASSES = 40, 32, 64, 5
BATCH = 24
rng = np.random.default_rng(7)

# each class fires a different subset of input channels at a different rate
proto = rng.uniform(0.02, 0.5, size=(N_CLASSES, N_IN)).astype(np.float32)


def make_split(n):
    y = rng.integers(0, N_CLASSES, size=n)
    p = proto[y][:, None, :]                           # (n, 1, N_IN)
    x = (rng.random((n, T_STEPS, N_IN)) < p).astype(np.float32)
    return x, y.astype(np.int32)


x_train, y_train = make_split(1200)
x_test, y_test = make_split(300)


@mx.custom_function
def spike_fn(v):
    return (v > 0).astype(v.dtype)


@spike_fn.vjp
def spike_fn_vjp(v, cotangent, output):
    return cotangent / (1.0 + 10.0 * mx.abs(v)) ** 2   # fast-sigmoid surrogate


class LIFNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_in = nn.Linear(N_IN, N_HID)
        self.fc_out = nn.Linear(N_HID, N_CLASSES)
        self.beta = 0.9

    def __call__(self, x_seq):                 # x_seq: (T, B, N_IN), time-major
        n_t, n_b, _ = x_seq.shape
        v = mx.zeros((n_b, N_HID))
        v_out = mx.zeros((n_b, N_CLASSES))
        traces = []
        for t in range(n_t):
            v = self.beta * v + self.fc_in(x_seq[t])
            s = spike_fn(v - 1.0)
            v = v - s                          # soft reset
            v_out = self.beta * v_out + self.fc_out(s)
            traces.append(v_out)
        return mx.stack(traces, axis=0)        # (T, B, C)


def integral_crossentropy(traces, targets, smoothing=0.1, time_axis=1):
    logits = mx.sum(traces, axis=time_axis)
    return mx.mean(nn.losses.cross_entropy(logits, targets, label_smoothing=smoothing))


model = LIFNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(m, x_seq, y):
    traces = m(x_seq)
    return integral_crossentropy(traces, y, time_axis=0)


loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
step = 0
for epoch in range(6):
    perm = rng.permutation(len(y_train))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        x_seq = mx.array(x_train[idx]).transpose(1, 0, 2)   # (B,T,F) -> (T,B,F)
        y = mx.array(y_train[idx])
        loss, grads = loss_and_grad(model, x_seq, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1; step += 1
    xt = mx.array(x_test).transpose(1, 0, 2)
    pred = mx.argmax(mx.sum(model(xt), axis=0), axis=-1)
    acc = mx.mean(pred == mx.array(y_test)).item()
    print(f"epoch {epoch}  steps {step}  train_loss {tot / nb:.4f}  test_acc {acc:.3f}  ({time.time() - t0:.1f}s)")
