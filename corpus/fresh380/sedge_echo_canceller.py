# Acoustic echo cancellation for a speakerphone: learn the loudspeaker-to-mic
# echo path as a 48-tap FIR filter. Near-end talk and mic hiss stay in the
# residual, so the loss settles at that floor. At block 300 someone opens the
# door (echo path changes) and the filter has to re-converge.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TAPS, BLOCK, N_BLOCKS, CHANGE_AT = 48, 256, 600, 300
rng = np.random.default_rng(11)

def room(seed):
    r = np.random.default_rng(seed)
    h = r.standard_normal(TAPS) * np.exp(-np.arange(TAPS) / 9.0)
    h[r.integers(2, 6)] += 1.2
    return (0.6 * h / np.linalg.norm(h)).astype(np.float32)

h_a, h_b = room(1), room(2)

def far_end(n):
    # speech-like far-end: AR(2)-coloured noise with syllable gating
    e = rng.standard_normal(n + 2)
    x = np.zeros(n + 2)
    for i in range(2, n + 2):
        x[i] = 1.3 * x[i - 1] - 0.6 * x[i - 2] + e[i]
    gate = (np.sin(np.arange(n) / 180.0) > -0.3).astype(float)
    return (x[2:] * gate / 3.0).astype(np.float32)

total = BLOCK * N_BLOCKS + TAPS
x = far_end(total)
near = (0.05 * rng.standard_normal(total) * (np.sin(np.arange(total) / 900.0) > 0.6)).astype(np.float32)
hiss = (0.01 * rng.standard_normal(total)).astype(np.float32)

def windows(sig, start):
    idx = start + TAPS + np.arange(BLOCK)[:, None] - np.arange(TAPS)[None, :]
    return sig[idx]

class EchoPath(nn.Module):
    def __init__(self):
        super().__init__()
        self.fir = nn.Linear(TAPS, 1, bias=False)
        self.fir.weight = mx.zeros((1, TAPS))
    def __call__(self, xw):
        return self.fir(xw)[:, 0]

def loss_fn(model, xw, d):
    return mx.mean((d - model(xw)) ** 2)

model = EchoPath()
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)

print(f"{'block':>5} {'resid pow':>10} {'floor':>9} {'ERLE dB':>8} {'misalign dB':>12}")
for b in range(N_BLOCKS):
    h = h_a if b < CHANGE_AT else h_b
    s = b * BLOCK
    xw = windows(x, s)
    echo = xw @ h
    d = echo + near[s + TAPS:s + TAPS + BLOCK] + hiss[s + TAPS:s + TAPS + BLOCK]
    loss, grads = step(model, mx.array(xw), mx.array(d))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if b == CHANGE_AT:
        print(f"----- block {b}: echo path changed (door opened) -----")
    if b % 30 == 0 or b == N_BLOCKS - 1 or b == CHANGE_AT:
        w = np.array(model.fir.weight[0])
        floor = float(np.mean((d - echo) ** 2))
        resid_echo = echo - xw @ w
        ep = float(np.mean(echo ** 2))
        erle = f"{10 * np.log10(ep / (np.mean(resid_echo ** 2) + 1e-12)):8.2f}" if ep > 1e-6 else f"{'silent':>8}"
        mis = 20 * np.log10(np.linalg.norm(h - w) / np.linalg.norm(h))
        print(f"{b:5d} {loss.item():10.6f} {floor:9.6f} {erle} {mis:12.2f}")

w = np.array(model.fir.weight[0])
print(f"final misalignment vs current room {20*np.log10(np.linalg.norm(h_b-w)/np.linalg.norm(h_b)):.2f} dB")
