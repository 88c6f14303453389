# Lighting desk: compress a theatre cue (24 dimmer channels, 0..255 DMX) into 6 latent
# "faders" stored at a fixed bit depth. Straight-through rounding via a custom VJP.
# Stage A stores faders at 8 bits, stage B drops to 3 bits (harder: error rises first).
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
CH, Z = 24, 6
looks = rng.uniform(0, 1, size=(5, CH)) ** 2            # wash, specials, cyc, ...
def cues(n):
    w = rng.dirichlet(np.full(5, 0.6), size=n) * rng.uniform(0.4, 1.2, size=(n, 1))
    x = w @ looks + rng.normal(0, 0.02, size=(n, CH))
    return np.clip(x, 0, 1).astype(np.float32)
Xtr, Xte = mx.array(cues(6000)), mx.array(cues(1000))
base_rmse = float(np.sqrt(((np.array(Xte) - np.array(Xtr).mean(0)) ** 2).mean())) * 255

@mx.custom_function
def fader_round(u, levels):
    return mx.round(u * levels) / levels

@fader_round.vjp
def fader_round_vjp(primals, cotangent, output):
    return cotangent, mx.zeros_like(primals[1])

class CueCodec(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(CH, 64), nn.Linear(64, Z)
        self.dec1, self.dec2 = nn.Linear(Z, 64), nn.Linear(64, CH)
    def __call__(self, x, levels):
        u = mx.sigmoid(self.enc2(nn.relu(self.enc1(x))))
        q = fader_round(u, levels)
        return mx.sigmoid(self.dec2(nn.relu(self.dec1(q))))

def mse(model, x, levels):
    return ((model(x, levels) - x) ** 2).mean()

model = CueCodec()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, mse)

# audit: every weight gets a gradient through the rounding
_, g0 = vg(model, Xtr[:256], mx.array(255.0))
gn = {k: float(mx.linalg.norm(v)) for k, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(g0)}
print(f"audit  min|grad| {min(gn.values()):.2e} over {len(gn)} tensors, base rmse {base_rmse:.1f} DMX")

def bar(i, n, width=20):
    k = int(width * i / n)
    return "#" * k + "." * (width - k)

BS = 128
for stage, bits, steps in (("A", 8, 2500), ("B", 3, 2000)):
    levels = mx.array(float(2 ** bits - 1))
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100), optim.cosine_decay(3e-3, steps - 100, 5e-5)], [100])
    opt = optim.RMSprop(learning_rate=sched)
    t0 = time.time()
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, Xtr.shape[0], BS))
        loss, grads = vg(model, Xtr[idx], levels)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 250 == 0:
            te = mse(model, Xte, levels).item()
            sys.stdout.write(f"stage {stage} {bits}bit |{bar(it, steps)}| {it}/{steps} "
                             f"[{time.time() - t0:4.1f}s, lr={opt.learning_rate.item():.1e}, "
                             f"batch={loss.item() ** 0.5 * 255:.2f}, test={te ** 0.5 * 255:.2f} DMX, base={base_rmse:.1f}]\n")
    sys.stdout.flush()
print(f"done: test rmse {mse(model, Xte, levels).item() ** 0.5 * 255:.2f} DMX at 3 bits vs mean-cue {base_rmse:.1f} DMX")
