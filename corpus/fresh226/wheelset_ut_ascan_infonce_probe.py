# Railway depot wheelset inspection: ultrasonic pulse-echo A-scans of the same
# wheel rim recorded on two depot visits.  Stage "pretext" learns an encoder with
# a symmetric InfoNCE loss (the two scans of one wheel are the positive pair);
# stage "probe" freezes that encoder on purpose and fits a linear read-out of the
# rim-thickness class.  L2 normalisation uses a custom VJP.
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("wheelset")

mx.random.seed(2026)
T = 32                 # time samples per A-scan
N_WHEEL = 768            # wheels in the fleet
N_CLASS = 4            # rim thickness class: <25mm, 25-30, 30-35, >35 (condemn..new)


def build_fleet():
    k = mx.random.split(mx.random.key(5), 4)
    cls = mx.random.randint(0, N_CLASS, (N_WHEEL,), key=k[0])
    # back-wall echo delay grows with rim thickness; an inclusion echo position is nuisance
    delay = 8.0 + 5.0 * cls.astype(mx.float32) + mx.random.uniform(-1.5, 1.5, (N_WHEEL,), key=k[1])
    incl = mx.random.uniform(3.0, 28.0, (N_WHEEL,), key=k[2])
    amp = mx.random.uniform(0.5, 1.5, (N_WHEEL, 2), key=k[3])
    return cls, delay, incl, amp


wheel_cls, wheel_delay, wheel_incl, wheel_amp = build_fleet()
mx.eval(wheel_cls, wheel_delay, wheel_incl, wheel_amp)
t_axis = mx.arange(T).astype(mx.float32)


def record_pass(ids):
    """One depot scan of wheels `ids`: couplant jitter, probe gain, receiver noise."""
    n = ids.shape[0]
    jit = mx.random.uniform(-1.0, 1.0, (n, 1))
    d = wheel_delay[ids][:, None] + jit
    s = wheel_incl[ids][:, None] + jit
    a = wheel_amp[ids]
    trace = a[:, :1] * mx.exp(-0.5 * ((t_axis - d) / 1.2) ** 2) \
        + a[:, 1:] * 0.8 * mx.exp(-0.5 * ((t_axis - s) / 2.0) ** 2) \
        + mx.exp(-0.5 * (t_axis / 1.5) ** 2)                    # front-wall / interface echo
    gain = mx.random.uniform(0.8, 1.25, (n, 1))
    return gain * trace + 0.08 * mx.random.normal((n, T))


@mx.custom_function
def unit_norm(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)


@unit_norm.vjp
def unit_norm_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    y = output[0] if isinstance(output, (list, tuple)) else output
    g = cotangent[0] if isinstance(cotangent, (list, tuple)) else cotangent
    r = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)
    return ((g - y * mx.sum(g * y, axis=-1, keepdims=True)) / r,)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Linear(T, 96)
        self.c2 = nn.Linear(96, 48)

    def __call__(self, x):
        return self.c2(nn.relu(self.c1(x)))


class Pretext(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.proj = nn.Linear(48, 32)

    def __call__(self, x):
        return unit_norm(self.proj(nn.relu(self.enc(x))))


class Probe(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.fc = nn.Linear(48, N_CLASS)

    def __call__(self, x):
        return self.fc(self.enc(x))


TAU = 0.2


def infonce(m, xa, xb):
    za, zb = m(xa), m(xb)
    logits = (za @ zb.T) / TAU
    lab = mx.arange(xa.shape[0])
    loss = 0.5 * (nn.losses.cross_entropy(logits, lab, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, lab, reduction="mean"))
    return loss, logits


encoder = Encoder()
pre = Pretext(encoder)
opt1 = optim.AdamW(learning_rate=1e-3, weight_decay=1e-3)
vg1 = nn.value_and_grad(pre, lambda m, a, b: infonce(m, a, b)[0])

B = 96
log.info("stage | step |  nce  | top1% | chance%")
t0 = time.time()
for step in range(360):
    # unique wheels per batch so every row has exactly one positive
    ids = mx.random.permutation(N_WHEEL)[:B]
    xa, xb = record_pass(ids), record_pass(ids)
    loss, grads = vg1(pre, xa, xb)
    opt1.update(pre, grads)
    mx.eval(loss, pre.parameters(), opt1.state)
    if step % 40 == 0 or step == 359:
        _, logits = infonce(pre, xa, xb)
        top1 = mx.mean(mx.argmax(logits, axis=1) == mx.arange(B)).item() * 100
        log.info("pretext | %4d | %.3f | %5.1f | %5.1f", step, loss.item(), top1, 100.0 / B)

# ---- stage 2: encoder frozen on purpose, only the linear read-out trains
probe = Probe(encoder)
probe.enc.freeze()
opt2 = optim.SGD(learning_rate=0.05, momentum=0.9)


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg2 = nn.value_and_grad(probe, ce)
val_ids = mx.arange(N_WHEEL)
x_val, y_val = record_pass(val_ids), wheel_cls
mx.eval(x_val)
enc_before = encoder.c1.weight.sum().item()
log.info("stage | step |  ce   | acc%  | majority%")
maj = max(mx.sum(wheel_cls == c).item() for c in range(N_CLASS)) / N_WHEEL * 100
for step in range(240):
    ids = mx.random.randint(0, N_WHEEL, (128,))
    x, y = record_pass(ids), wheel_cls[ids]
    loss, grads = vg2(probe, x, y)
    opt2.update(probe, grads)
    mx.eval(loss, probe.trainable_parameters(), opt2.state)
    if step % 40 == 0 or step == 239:
        acc = mx.mean(mx.argmax(probe(x_val), axis=1) == y_val).item() * 100
        log.info("probe | %4d | %.3f | %5.1f | %5.1f", step, loss.item(), acc, maj)

drift = abs(encoder.c1.weight.sum().item() - enc_before)
log.info("done in %.1fs; frozen-encoder drift %.2e", time.time() - t0, drift)
