# DTMF keypad decoder training - 12-way classification of 32 ms telephone tone bursts
# (8 kHz, two sinusoids + noise) with a small channels-last Conv1d network.
# Log imitates `systemctl status` followed by its journal lines.
import math, time, datetime
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LOW = [697, 770, 852, 941]
HIGH = [1209, 1336, 1477]
SYMS = [(r, c) for r in range(4) for c in range(3)]          # 12 keys, no A-D
NAMES = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]
FS, L = 8000, 256
rng = np.random.default_rng(2024)


def synth(n):
    y = rng.integers(0, 12, n)
    t = np.arange(L) / FS
    x = np.zeros((n, L), np.float32)
    for i in range(n):
        r, c = SYMS[y[i]]
        fl = LOW[r] * (1 + rng.normal(0, 0.012))
        fh = HIGH[c] * (1 + rng.normal(0, 0.012))
        twist = 10 ** (rng.uniform(-4, 4) / 20)               # +-4 dB twist
        a = rng.uniform(0.2, 1.0)
        on = rng.integers(0, 80)                              # burst onset
        env = (np.arange(L) >= on).astype(np.float32)
        sig = np.sin(2 * np.pi * fl * t + rng.uniform(0, 6.3)) + twist * np.sin(
            2 * np.pi * fh * t + rng.uniform(0, 6.3))
        x[i] = a * env * sig + rng.normal(0, rng.uniform(0.2, 0.8), L)
    return x[..., None], y.astype(np.int32)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 24, kernel_size=15, stride=2)
        self.c2 = nn.Conv1d(24, 32, kernel_size=9, stride=2)
        self.c3 = nn.Conv1d(32, 32, kernel_size=5)
        self.head = nn.Linear(32, 12)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        return self.head(mx.max(h, axis=1))


xtr, ytr = synth(3200)
xva, yva = synth(800)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

mx.random.seed(11)
model = Decoder()
EPOCHS, BS = 4, 64
steps_per_epoch = len(ytr) // BS
sched = optim.exponential_decay(2e-3, 0.997)
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# first-step gradient audit
l0, g0 = vg(model, Xtr[:BS], Ytr[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.all(v == 0).item()]
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))


def evaluate():
    model.eval()
    ce, correct = 0.0, 0
    for i in range(0, len(yva), 300):
        out = model(Xva[i:i + 300])
        ce += nn.losses.cross_entropy(out, Yva[i:i + 300], reduction="sum").item()
        correct += mx.sum(mx.argmax(out, 1) == Yva[i:i + 300]).item()
    model.train()
    return ce / len(yva), correct / len(yva)


start = datetime.datetime(2026, 3, 14, 9, 26, 53)
t0 = time.time()
journal = []


def stamp():
    return (start + datetime.timedelta(seconds=time.time() - t0)).strftime("%b %d %H:%M:%S")


journal.append(f"{stamp()} dsp01 dtmf-train[4242]: gradcheck leaves={len(leaves)} zero_grad_leaves={len(zero)} loss0={l0.item():.4f} chance={math.log(12):.4f}")
ce0, acc0 = evaluate()
journal.append(f"{stamp()} dsp01 dtmf-train[4242]: untrained valid_ce={ce0:.4f} valid_acc={acc0:.3f}")
step_no = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(ytr)).astype(np.int32))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step_no += 1
    vce, vacc = evaluate()
    journal.append(f"{stamp()} dsp01 dtmf-train[4242]: epoch {ep:02d}/{EPOCHS} train_ce={run / steps_per_epoch:.4f} valid_ce={vce:.4f} valid_acc={vacc:.3f} lr={opt.learning_rate.item():.2e} steps={step_no}")

model.eval()
pred = np.array(mx.argmax(model(Xva), 1))
per_key = " ".join(f"{NAMES[k]}:{(pred[yva == k] == k).mean():.2f}" for k in range(12))
journal.append(f"{stamp()} dsp01 dtmf-train[4242]: per-key recall {per_key}")
journal.append(f"{stamp()} dsp01 systemd[1]: dtmf-train.service: Deactivated successfully.")
el = time.time() - t0
print("\u25cf dtmf-train.service - DTMF keypad decoder training (Conv1d, Adam)")
print("     Loaded: loaded (/etc/systemd/system/dtmf-train.service; enabled; preset: disabled)")
print(f"     Active: inactive (dead) since {stamp()}; {el:.1f}s ago")
print(f"    Process: 4242 ExecStart=/usr/bin/python3 train.py --train {len(ytr)} --valid {len(yva)} --epochs {EPOCHS} (code=exited, status=0/SUCCESS)")
print(f"   Main PID: 4242 (code=exited, status=0/SUCCESS)")
print(f"        CPU: {el:.3f}s  Params: {nparams}")
print()
for line in journal:
    print(line)
