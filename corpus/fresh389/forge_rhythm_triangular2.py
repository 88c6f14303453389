"""Which of 4 smiths is at the anvil? 48 inter-blow intervals (ms) from a forge microphone.
Cyclical learning rate, 'triangular2' policy: lr climbs base->peak->base each cycle and the
peak is halved after every cycle. Loss rises while the lr climbs; that is expected."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SMITHS = ["Aldous", "Brannagh", "Corwin", "Dafydd"]
L = 48
rng = np.random.default_rng(38905)
def make(n):
    y = rng.integers(0, 4, n)
    base = np.array([410., 395., 420., 400.])[y]
    group = np.array([3, 4, 2, 5])[y]                 # blows per phrase before a pause
    pause = np.array([1.30, 1.22, 1.38, 1.26])[y]
    swing = np.array([0.00, 0.03, 0.015, -0.025])[y]    # alternate-blow lilt
    tempo = rng.uniform(0.85, 1.15, n)[:, None]
    i = np.arange(L)[None, :]
    x = base[:, None] * tempo * (1 + swing[:, None] * (-1) ** i)
    phase = rng.integers(0, 6, n)[:, None]
    x = np.where(((i + phase) % group[:, None]) == 0, x * pause[:, None], x)
    x = x * np.exp(rng.normal(0, 0.16, (n, L)))
    return np.log(x / 400.0).astype(np.float32)[:, :, None], y.astype(np.int32)
Xtr, ytr = make(6000); Xva, yva = make(1200)
Xtr, Xva, ytr, yva = map(mx.array, (Xtr, Xva, ytr, yva))

class RhythmNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(32, 4)
    def __call__(self, x):                 # x: (N, L, 1)
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        feat = mx.concatenate([mx.mean(h, axis=1), mx.max(h, axis=1)], axis=-1)
        return self.head(feat)

mx.random.seed(5)
model = RhythmNet()
BASE, PEAK, HALF = 2e-4, 6e-3, 80           # half-cycle = 80 steps
N_CYCLES = 4
def clr(t):
    cycle = t // (2 * HALF)
    x = abs(t / HALF - 2 * cycle - 1)
    return BASE + (PEAK - BASE) * max(0.0, 1 - x) / (2 ** cycle), cycle

opt = optim.AdamW(learning_rate=BASE, weight_decay=1e-3)
loss_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

def val():
    lg = model(Xva)
    return (nn.losses.cross_entropy(lg, yva, reduction="mean").item(),
            mx.mean(mx.argmax(lg, -1) == yva).item())

print(f"forge rhythm ID: {Xtr.shape[0]} train / {Xva.shape[0]} val windows of {L} intervals, smiths {SMITHS}")
print(f"chance 25.0%; triangular2 CLR base {BASE:.0e} peak {PEAK:.0e} half-cycle {HALF} steps x {N_CYCLES} cycles")
ce, acc = val()
print(f"[start]            val ce {ce:.4f}  val acc {100*acc:5.1f}%")
t0, run = time.time(), []
for t in range(2 * HALF * N_CYCLES):
    lr, cyc = clr(t)
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
    loss, g = loss_grad(model, Xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if (t + 1) % HALF == 0:
        where = "peak " if ((t + 1) // HALF) % 2 == 1 else "trough"
        ce, acc = val()
        print(f"[cycle {cyc+1} {where}] step {t+1:4d} lr {lr:.2e}  train ce {np.mean(run):.4f}"
              f"  val ce {ce:.4f}  val acc {100*acc:5.1f}%  ({time.time()-t0:.1f}s)")
        run = []
pred = np.array(mx.argmax(model(Xva), -1)); truth = np.array(yva)
print("per-smith val accuracy: " + "  ".join(
    f"{s} {100*np.mean(pred[truth == k] == k):.1f}%" for k, s in enumerate(SMITHS)))
