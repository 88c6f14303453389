# Rowing coxswain call sequences: a small next-call model is fitted on practice-session calls, then packed
# to 4-bit nvfp4 and adapted with DoRA to race-day calls. Adapter session is saved halfway and
# resumed in a freshly built model.
import os, tempfile, time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner.dora import DoRALinear

V, L, C = 20, 24, 3
rs = np.random.default_rng(3)


def chain(seed, conc):
    r = np.random.default_rng(seed)
    P = r.dirichlet(np.full(V, conc), size=V)
    return P


def entropy_rate(P):
    pi = np.ones(V) / V
    for _ in range(500):
        pi = pi @ P
    return float(-(pi[:, None] * P * np.log(P + 1e-12)).sum())


def sample(P, n):
    out = np.zeros((n, L + 1), dtype=np.int32)
    out[:, 0] = rs.integers(0, V, n)
    cum = P.cumsum(1)
    for t in range(1, L + 1):
        u = rs.random(n)[:, None]
        out[:, t] = (u > cum[out[:, t - 1]]).sum(1).clip(0, V - 1)
    return mx.array(out)


practice, race = chain(1, 0.25), chain(2, 0.25)
race = 0.5 * practice + 0.5 * race
tr_a, tr_b, va_b = sample(practice, 2000), sample(race, 1500), sample(race, 300)
floor_b = entropy_rate(race)



class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 32)
        self.up_proj = nn.Linear(C * 32, 128)
        self.mid_proj = nn.Linear(128, 128)
        self.down_proj = nn.Linear(128, 128)
        self.head = nn.Linear(128, V)

    def __call__(self, ctx):
        h = self.embed(ctx).reshape(ctx.shape[0], -1)
        h = nn.gelu(self.up_proj(h))
        h = h + nn.gelu(self.mid_proj(h))
        h = h + nn.gelu(self.down_proj(h))
        return self.head(h)


def windows(seq):
    ctx = mx.stack([seq[:, i:i + C] for i in range(seq.shape[1] - C)], axis=1).reshape(-1, C)
    nxt = seq[:, C:].reshape(-1)
    return ctx, nxt


tr_a, tr_b, va_b = windows(tr_a), windows(tr_b), windows(va_b)


def ce(model, ctx, nxt):
    return nn.losses.cross_entropy(model(ctx), nxt).mean()


def val_ce(model):
    return ce(model, *va_b).item()


# ---- stage 1: float fit on practice calls (quiet) ----
mx.random.seed(0)
base = CallNet()
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 300, end=1e-4), weight_decay=0.01)
step_fn = nn.value_and_grad(base, ce)
t0 = time.time()
for it in range(300):
    idx = mx.array(rs.integers(0, tr_a[1].shape[0], 512))
    loss, g = step_fn(base, tr_a[0][idx], tr_a[1][idx])
    opt.update(base, g)
    mx.eval(base.parameters(), opt.state)
tmp = tempfile.mkdtemp()
base.save_weights(os.path.join(tmp, "base.safetensors"))
print(f"[fit] practice calls: 300 steps, last train ce {loss.item():.3f} nats, {time.time() - t0:.1f}s (float base saved)")
print(f"[fit] race-day val ce with float base {val_ce(base):.3f}  (race entropy floor {floor_b:.3f}, uniform {math.log(V):.3f})")

TARGETS = ("mid_proj", "down_proj", "head")


def build():
    m = CallNet()
    m.load_weights(os.path.join(tmp, "base.safetensors"))
    nn.quantize(m, group_size=16, bits=4, mode="nvfp4",
                class_predicate=lambda p, mod: p in ("mid_proj", "down_proj", "head"))
    m.freeze()
    for name in TARGETS:
        setattr(m, name, DoRALinear.from_base(getattr(m, name), r=8, scale=2.0))
    mx.eval(m.parameters())
    return m


def schedule():
    return optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 30),
                                 optim.cosine_decay(2e-3, 210, end=1e-4)], [30])


model = build()
qbase = val_ce(model)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[pack] nvfp4 g16 base + DoRA r8 on {'/'.join(TARGETS)}: {n_train} trainable values; "
      f"race val ce packed, adapters at init {qbase:.3f}")

TOTAL, HALF = 240, 120


def run(model, opt, start, stop, tag):
    fn = nn.value_and_grad(model, ce)
    win = []
    for it in range(start, stop):
        idx = mx.array(rs.integers(0, tr_b[1].shape[0], 512))
        lr = opt.learning_rate.item()
        loss, g = fn(model, tr_b[0][idx], tr_b[1][idx])
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        win.append(loss.item())
        if it == start or (it + 1) % 30 == 0:
            v = val_ce(model)
            print(f"[{tag}] step {it + 1:3d}/{TOTAL}  lr {lr:.2e}  train ce {np.mean(win):.3f}  val ce {v:.3f}  "
                  f"ppl {math.exp(v):.2f}  | packed base {qbase:.3f}  floor {floor_b:.3f}")
            win = []


opt = optim.Adam(learning_rate=schedule())
run(model, opt, 0, HALF, "session-1")
mx.save_safetensors(os.path.join(tmp, "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"[ckpt] adapters + optimizer state written at step {HALF}; rebuilding from the packed base")
del model, opt

model = build()
model.load_weights(os.path.join(tmp, "adapters.safetensors"), strict=False)
opt = optim.Adam(learning_rate=schedule())
opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"[resume] restored at optimizer step {opt.step.item()}, val ce {val_ce(model):.3f}")
run(model, opt, HALF, TOTAL, "session-2")
v = val_ce(model)
print(f"[done] race val ce {v:.3f} (packed base {qbase:.3f}, floor {floor_b:.3f}); gap to floor {v - floor_b:.3f} nats; "
      f"total {time.time() - t0:.1f}s")
