"""Bike-computer voice commands on a microcontroller budget.

Six spoken commands (next, back, pause, lap, light, map) plus background,
from synthetic 12-frame x 16-band log-mel patches. Three phases, logged the
way the firmware team reads a serial console:
  phase A  float MLP, AdamW, cosine decay of the lr down to exactly 0
  phase B  export: every Linear packed to 2-bit affine groups (nn.quantize),
           accuracy checked before/after packing
  phase C  on-device style recovery: the packed weights stay frozen, only the
           bias vectors and LayerNorm gains are trained (SGD with momentum)
"""
import time
import zlib

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
CMDS = ["next", "back", "pause", "lap", "light", "map"]
N_CLS = len(CMDS) + 1  # + background
T, B = 12, 16
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
T0 = time.time()


def log(tag, msg):
    print(f"[{time.time() - T0:8.3f}] {tag}: {msg}")


# ---- synthetic log-mel patches
PROTO = rng.normal(0, 1, size=(len(CMDS), T, B)).astype(np.float32)
PROTO = np.cumsum(PROTO, axis=1) * 0.2  # smooth formant-like tracks over time


def make_set(n):
    y = rng.integers(0, N_CLS, size=n)
    x = np.empty((n, T, B), np.float32)
    for i, c in enumerate(y):
        noise = rng.normal(0, 1.8, size=(T, B))
        wind = rng.uniform(0, 1.5) * np.linspace(1, 0, B)[None, :]  # wind rumble in low bands
        if c < len(CMDS):
            shift = rng.integers(-1, 2)
            base = np.roll(PROTO[c], shift, axis=0) * rng.uniform(0.7, 1.2)
        else:
            base = 0.0
        x[i] = base + noise + wind
    return x.reshape(n, T * B), y.astype(np.int32)


class CmdNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T * B, 128)
        self.n1 = nn.LayerNorm(128)
        self.l2 = nn.Linear(128, 128)
        self.n2 = nn.LayerNorm(128)
        self.out = nn.Linear(128, N_CLS)

    def __call__(self, x):
        h = nn.gelu(self.n1(self.l1(x)))
        h = nn.gelu(self.n2(self.l2(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(mx.array(x))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == mx.array(y)).astype(mx.float32).mean().item()
    return ce, acc


def run_epochs(model, opt, x, y, epochs, batch, tag, xv, yv, show):
    vg = nn.value_and_grad(model, loss_fn)
    n = len(y) // batch
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(y))
        tot = 0.0
        for i in range(n):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = vg(model, mx.array(x[idx]), mx.array(y[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if show(ep):
            vce, vacc = evaluate(model, xv, yv)
            lr = opt.learning_rate.item()
            log(tag, f"ep={ep:02d} lr={lr:.2e} train_ce={tot / n:.4f} val_ce={vce:.4f} val_acc={vacc:.3f}")


def weight_crc(model):
    """CRC of the packed integer weight words, to show which tensors the recovery may touch."""
    c = 0
    for k, v in tree_flatten(model.parameters()):
        if k.endswith(".weight") and v.dtype == mx.uint32:
            c = zlib.crc32(np.array(v).tobytes(), c)
    return c


def main():
    xtr, ytr = make_set(6000)
    xcal, ycal = make_set(600)   # small on-device recovery set
    xva, yva = make_set(2000)
    log("boot", f"train={len(ytr)} recovery={len(ycal)} valid={len(yva)} classes={N_CLS} "
        f"chance_acc={1 / N_CLS:.3f} chance_ce={np.log(N_CLS):.3f}")

    model = CmdNet()
    mx.eval(model.parameters())
    epochs, batch = 12, 100
    steps = epochs * (len(ytr) // batch)
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, steps, 0.0), weight_decay=0.05)
    log("float", f"params={sum(v.size for _, v in tree_flatten(model.parameters()))} "
        f"AdamW cosine 3e-3 -> 0 over {steps} steps")
    run_epochs(model, opt, xtr, ytr, epochs, batch, "float", xva, yva,
               show=lambda e: e in (1, 2, 6, 12))
    f_ce, f_acc = evaluate(model, xva, yva)

    nn.quantize(model, group_size=32, bits=2)
    q_ce, q_acc = evaluate(model, xva, yva)
    packed = sum(v.nbytes for k, v in tree_flatten(model.parameters()))
    log("export", f"2-bit groups of 32: {packed / 1024:.1f} KiB on flash; "
        f"val_acc float={f_acc:.3f} packed={q_acc:.3f} val_ce float={f_ce:.4f} packed={q_ce:.4f}")

    model.freeze()
    model.unfreeze(keys=["bias"])
    model.n1.unfreeze()
    model.n2.unfreeze()
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    total = sum(v.size for _, v in tree_flatten(model.parameters()))
    crc_before = weight_crc(model)
    log("recover", f"trainable={trainable} of {total} stored values ({100 * trainable / total:.1f}%), "
        f"packed-weight crc={crc_before:08x}")
    opt2 = optim.SGD(learning_rate=0.05, momentum=0.9)
    run_epochs(model, opt2, xcal, ycal, 30, 50, "recover", xva, yva,
               show=lambda e: e in (1, 10, 20, 30))
    r_ce, r_acc = evaluate(model, xva, yva)
    log("recover", f"packed-weight crc={weight_crc(model):08x} "
        f"(unchanged={weight_crc(model) == crc_before})")
    log("summary", f"val_acc float={f_acc:.3f} packed={q_acc:.3f} recovered={r_acc:.3f} chance={1 / N_CLS:.3f}")


if __name__ == "__main__":
    main()
