# Canal lock-keeper tally: each of 8 barges logs a water-level code (0..3); the keeper's
# ledger at each lock is the running total mod 4. A tiny recursive reasoner (TRM-style:
# latent z refined n times, answer y refined once per cycle, deep supervision over cycles
# with the carry detached between supervision steps, plus a halting head) learns the ledger.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
L, K, D = 8, 4, 96
N_INNER, T_CYCLES, N_SUP = 3, 2, 3

def make(n):
    x = mx.random.randint(0, K, (n, L))
    y = mx.cumsum(x, axis=1) % K
    return x, y

xtr, ytr = make(4096)
xva, yva = make(1024)

class Reasoner(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(K, D // L * 2)
        self.inp = nn.Linear(L * (D // L * 2), D)
        self.core = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, L * K)
        self.halt = nn.Linear(D, 1)

    def cycle(self, xe, y, z):
        for _ in range(N_INNER):
            z = self.norm(z + self.core(xe + y + z))
        y = self.norm(y + self.core(y + z))
        return y, z

    def __call__(self, x, y, z):
        xe = self.inp(self.emb(x).reshape(x.shape[0], -1))
        for _ in range(T_CYCLES - 1):
            y, z = self.cycle(xe, y, z)
        y, z = mx.stop_gradient(y), mx.stop_gradient(z)
        y, z = self.cycle(xe, y, z)
        logits = self.head(y).reshape(-1, L, K)
        return logits, self.halt(y).squeeze(-1), y, z

model = Reasoner()
mx.eval(model.parameters())

def loss_fn(model, x, t, y, z):
    logits, q, y2, z2 = model(x, y, z)
    ce = nn.losses.cross_entropy(logits, t).mean()
    solved = (mx.argmax(logits, -1) == t).all(axis=1).astype(mx.float32)
    hl = nn.losses.binary_cross_entropy(q, mx.stop_gradient(solved), with_logits=True).mean()
    return ce + 0.5 * hl, (ce, hl, y2, z2)

STEPS, WARM, B = 120, 20, 128
U, UW = STEPS * N_SUP, WARM * N_SUP  # schedule counts optimizer updates
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, UW),
                              optim.cosine_decay(2e-3, U - UW, 1e-4)], [UW])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

def evaluate(x, t):
    y = mx.zeros((x.shape[0], D)); z = mx.zeros((x.shape[0], D))
    accs = []
    for _ in range(N_SUP):
        logits, q, y, z = model(x, y, z)
        pred = mx.argmax(logits, -1)
        accs.append((pred == t).astype(mx.float32).mean().item())
    exact = (pred == t).all(axis=1).astype(mx.float32).mean().item()
    halt_rate = (mx.sigmoid(q) > 0.5).astype(mx.float32).mean().item()
    return accs, exact, halt_rate

copy_base = (xva == yva).astype(mx.float32).mean().item()
print(f"baselines: chance token acc 0.250 | copy-input token acc {copy_base:.3f}")
t0 = time.time()
step = 0
while step < STEPS:
    idx = mx.random.randint(0, xtr.shape[0], (B,))
    x, t = xtr[idx], ytr[idx]
    y = mx.zeros((B, D)); z = mx.zeros((B, D))
    for s in range(N_SUP):  # deep supervision: one optimizer step per supervision step
        (loss, (ce, hl, y, z)), g = vg(model, x, t, y, z)
        y, z = mx.stop_gradient(y), mx.stop_gradient(z)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, y, z, loss)
    step += 1
    if step % 20 == 0 or step == 1:
        accs, exact, hr = evaluate(xva, yva)
        print(f"step {step:4d} lr {opt.learning_rate.item():.2e} ce {ce.item():.4f} halt_bce {hl.item():.4f} "
              f"val acc per sup " + " ".join(f"{a:.3f}" for a in accs) + f" exact {exact:.3f} halt {hr:.2f}")
accs, exact, hr = evaluate(xva, yva)
print(f"final: val token acc {accs[-1]:.3f} exact {exact:.3f} (copy baseline {copy_base:.3f}) time {time.time()-t0:.1f}s")
