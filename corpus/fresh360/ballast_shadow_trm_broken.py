# Ship ballast planner: 8 tank readings (codes 0..3), target = running trim code mod 4.
# Tiny recursive reasoner with an ACT halting head (q_halt / q_continue), deep supervision
# and halt exploration during training.
import time
from dataclasses import dataclass
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
L, K, D = 8, 4, 96

@dataclass
class Config:
    halt_max_steps: int = 4
    halt_exploration_prob: float = 0.1
    L_cycles: int = 3

def make(n):
    x = mx.random.randint(0, K, (n, L))
    return x, mx.cumsum(x, axis=1) % K

xtr, ytr = make(4096)
xva, yva = make(1024)

class TRMACT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(K, 24)
        self.inp = nn.Linear(L * 24, D)
        self.core = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        self.norm = nn.RMSNorm(D)
        self.lm_head = nn.Linear(D, L * K)
        self.q_head = nn.Linear(D, 2)

    def __call__(self, x, y, z, steps):
        xe = self.inp(self.emb(x).reshape(x.shape[0], -1))
        for _ in range(self.config.L_cycles):
            z = self.norm(z + self.core(xe + y + z))
        y = self.norm(y + self.core(y + z))
        logits = self.lm_head(y).reshape(-1, L, K)
        q = self.q_head(y)
        q_halt_logits, q_continue_logits = q[:, 0], q[:, 1]

        new_steps = steps + 1
        is_last_step = new_steps >= self.config.halt_max_steps
        halted = is_last_step
        if self.training and self.config.halt_max_steps > 1:
            halted = halted | (q_halt_logits > q_continue_logits)

            # Exploration
            min_halt_steps = (mx.random.uniform(q_halt_logits.shape) < self.config.halt_exploration_prob) * mx.random.randint(2, self.config.halt_max_steps + 1, q_halt_logits.shape)
            halted = halted & (new_steps >= min_halt_steps)
        return logits, q_halt_logits, y, z, new_steps, halted

config = Config()
model = TRMACT(config)
mx.eval(model.parameters())

def loss_fn(model, x, t, y, z, steps):
    logits, q_halt, y2, z2, new_steps, halted = model(x, y, z, steps)
    ce = nn.losses.cross_entropy(logits, t).mean()
    seq_ok = (mx.argmax(logits, -1) == t).all(axis=1).astype(mx.float32)
    q_loss = nn.losses.binary_cross_entropy(q_halt, mx.stop_gradient(seq_ok), with_logits=True).mean()
    return ce + 0.5 * q_loss, (ce, q_loss, y2, z2, new_steps, halted)

STEPS, B = 90, 128
opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, STEPS * config.halt_max_steps, 1e-4))
vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    model.eval()
    n = xva.shape[0]
    y = mx.zeros((n, D)); z = mx.zeros((n, D)); steps = mx.zeros((n,), dtype=mx.int32)
    for _ in range(config.halt_max_steps):
        logits, _, y, z, steps, _ = model(xva, y, z, steps)
    pred = mx.argmax(logits, -1)
    model.train()
    return (pred == yva).astype(mx.float32).mean().item(), (pred == yva).all(axis=1).astype(mx.float32).mean().item()

print(f"chance token acc 0.250 | copy-input baseline {(xva == yva).astype(mx.float32).mean().item():.3f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, xtr.shape[0], (B,))
    x, t = xtr[idx], ytr[idx]
    y = mx.zeros((B, D)); z = mx.zeros((B, D)); steps = mx.zeros((B,), dtype=mx.int32)
    used = 0
    for _ in range(config.halt_max_steps):
        (loss, (ce, ql, y, z, steps, halted)), g = vg(model, x, t, y, z, steps)
        y, z = mx.stop_gradient(y), mx.stop_gradient(z)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, y, z, steps, halted)
        used += 1
        if halted.all().item():
            break
    if step == 1 or step % 15 == 0:
        acc, exact = evaluate()
        print(f"step {step:4d} ce {ce.item():.4f} q_loss {ql.item():.4f} sup_steps {used} val acc {acc:.3f} exact {exact:.3f}")
acc, exact = evaluate()
print(f"final val token acc {acc:.3f} exact {exact:.3f} time {time.time() - t0:.1f}s")
