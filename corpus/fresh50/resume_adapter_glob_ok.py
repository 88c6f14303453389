"""LoRA-style adapter fine-tune with periodic checkpoints and `--resume auto`.

The machine can only run SESSION_ITERS iterations per session (it gets killed
after that), so the fine-tune is chained over several sessions: session 1
starts fresh and writes mlx-lm style step snapshots (0000050_adapters.safetensors,
...); every later session is launched with `--resume auto`, looks up the latest
checkpoint and continues towards TOTAL_ITERS.
"""
import math
import re
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TOTAL_ITERS = 450
SESSION_ITERS = 150
SAVE_EVERY = 50
REPORT_EVERY = 50
N_SESSIONS = 3


class LoRALinear(nn.Module):
    def __init__(self, d_in, d_out, rank=4, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.lora_a = mx.random.normal((d_in, rank)) * (1.0 / math.sqrt(d_in))
        self.lora_b = mx.zeros((rank, d_out))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = LoRALinear(32, 384, rank=8)
        self.l2 = LoRALinear(384, 384, rank=8)
        self.head = nn.Linear(384, 6)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def build_model():
    mx.random.seed(7)                       # same "pretrained" base every run
    m = Net()
    m.freeze()
    m.unfreeze(keys=["lora_a", "lora_b"])
    mx.eval(m.parameters())
    return m


def make_data():
    rng = mx.random.key(123)
    k1, k2 = mx.random.split(rng)
    X = mx.random.normal((6144, 32), key=k1)
    W = mx.random.normal((32, 6), key=k2)
    y = mx.argmax(X @ W + 0.25 * mx.sin(2 * X[:, :6]), axis=1)
    return X[:5120], y[:5120], X[5120:], y[5120:]


def batches(X, y, bs, start_it):
    it = start_it
    n = X.shape[0]
    while True:
        i = (it * bs) % n
        yield it, X[i:i + bs], y[i:i + bs]
        it += 1


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


# ----------------------------------------------------------------------------
# checkpoint handling
# ----------------------------------------------------------------------------
def save_adapters(model, out_dir, it):
    w = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(str(out_dir / f"{it:07d}_adapters.safetensors"), w)
    mx.save_safetensors(str(out_dir / "adapters.safetensors"), w)


def resolve_checkpoint(resume, out_dir):
    """Return (path, step) of the checkpoint to resume from, or (None, 0)."""
    if resume != "auto":
        return Path(resume), 0
    pat = re.compile(r"^(\d+)_adapters\.safetensors$")
    numbered = [(int(m.group(1)), p) for p in out_dir.iterdir() if (m := pat.match(p.name))]
    if not numbered:
        final = out_dir / "adapters.safetensors"
        return (final, 0) if final.exists() else (None, 0)
    step, best = max(numbered, key=lambda t: t[0])
    return best, step


def run(out_dir, resume=None):
    model = build_model()
    start = 0
    if resume is not None:
        path, start = resolve_checkpoint(resume, out_dir)
        if path is None:
            print("warning: no checkpoint found to resume from; starting training from scratch")
            start = 0
        else:
            model.load_weights(str(path), strict=False)
            print(f"resumed from {path.name} at iter {start}")
    opt = optim.Adam(learning_rate=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    X, y, Xv, yv = make_data()
    first_loss = None
    running, seen = 0.0, 0
    stop_at = start + SESSION_ITERS
    for it, xb, yb in batches(X, y, 256, start):
        if it >= TOTAL_ITERS or it >= stop_at:
            break
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item(); seen += 1
        if first_loss is None:
            first_loss = loss.item()
        if (it + 1) % REPORT_EVERY == 0:
            print(f"Iter {it + 1}: Train loss {running / seen:.4f}")
            running, seen = 0.0, 0
        if (it + 1) % SAVE_EVERY == 0:
            save_adapters(model, out_dir, it + 1)
    acc = mx.mean(mx.argmax(model(Xv), axis=1) == yv).item()
    return start, it, first_loss, acc


def main():
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        out_dir = Path(d)
        for s in range(N_SESSIONS):
            print(f"== session {s + 1}/{N_SESSIONS}" + (" (--resume auto)" if s else "") + " ==")
            start, end, first_loss, acc = run(out_dir, resume="auto" if s else None)
            print(f"session {s + 1}: iters {start}->{end}  first loss {first_loss:.4f}  "
                  f"val acc {acc:.3f}  files={len(list(out_dir.iterdir()))}")
        print(f"done: reached iter {end} of {TOTAL_ITERS}, final val acc {acc:.3f}, "
              f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
