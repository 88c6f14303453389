# Sonar returns: mine vs rock from 60-band echo spectra.
# Frozen random filterbank front end (kept fixed on purpose), trainable head,
# SGD+nesterov under cosine warm restarts that start each cycle at lr = 0.
# The third cycle mixes in a noisier "deep water" set, so loss jumps up there.
import json
from functools import partial
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
BANDS = 60


def make_pings(n, snr):
    lab = mx.random.bernoulli(0.5, (n,))
    f = mx.arange(BANDS).astype(mx.float32)
    centre = 24.0 + 4.0 * mx.random.normal((n, 1))
    peak = mx.exp(-0.5 * mx.square((f[None, :] - centre) / 3.0))
    broad = 0.4 * mx.exp(-f[None, :] / 25.0)
    spec = mx.where(lab[:, None], peak, broad + 0.25 * peak) * snr
    spec = spec + 0.3 * mx.random.normal((n, BANDS))
    return spec[:, :, None], lab.astype(mx.int32)


shallow_x, shallow_y = make_pings(1536, snr=1.6)
deep_x, deep_y = make_pings(1536, snr=0.8)
val_sets = {"shallow": make_pings(384, 1.6), "deep": make_pings(384, 0.8)}


class EchoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.filterbank = nn.Conv1d(1, 12, kernel_size=7, padding=3)
        self.mix = nn.Conv1d(12, 16, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(16, 2)

    def __call__(self, x):
        h = mx.abs(self.filterbank(x))
        h = nn.relu(self.mix(h))
        return self.head(mx.max(h, axis=1))


model = EchoNet()
model.filterbank.freeze()

CYCLE, WARM, BASE = 240, 30, 0.05


def sgdr(step):
    t = (step % CYCLE).astype(mx.float32)
    ramp = BASE * t / WARM
    cos = 0.5 * BASE * (1.0 + mx.cos(math.pi * (t - WARM) / (CYCLE - WARM)))
    return mx.where(t < WARM, ramp, cos)


opt = optim.SGD(learning_rate=sgdr, momentum=0.9, nesterov=True)


def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every trainable leaf should get gradient, frozen bank none
_, g0 = grad_fn(shallow_x[:64], shallow_y[:64])
audit = {k: round(float(mx.linalg.norm(v)), 5) for k, v in nn.utils.tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "frozen": "filterbank", "grad_l2": audit}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(x, y)
    opt.update(model, grads)
    return loss


def err_pct(x, y):
    return 100.0 * (mx.argmax(model(x), axis=1) != y).astype(mx.float32).mean().item()


B = 64
bank_before = mx.array(model.filterbank.weight)
for cycle in range(3):
    if cycle < 2:
        xs, ys = shallow_x, shallow_y
    else:  # harder stage: deep-water pings join the shallow ones
        xs = mx.concatenate([shallow_x, deep_x])
        ys = mx.concatenate([shallow_y, deep_y])
    running = []
    for k in range(CYCLE):
        step = cycle * CYCLE + k
        idx = mx.random.randint(0, xs.shape[0], (B,))
        lr_now = sgdr(mx.array(step)).item()
        loss = train_step(xs[idx], ys[idx])
        mx.eval(state, loss)
        running.append(loss.item())
        if k % 60 == 0 or k == CYCLE - 1:
            rec = {"cycle": cycle, "k": k, "step": step, "lr": round(lr_now, 5),
                   "xent": round(sum(running) / len(running), 4)}
            for name, (vx, vy) in val_sets.items():
                rec[f"err_{name}_%"] = round(err_pct(vx, vy), 2)
            print(json.dumps(rec))
            running = []
drift = float(mx.max(mx.abs(model.filterbank.weight - bank_before)))
print(json.dumps({"event": "done", "filterbank_max_drift": drift,
                  "chance_err_%": 50.0}))
