# Mixture density network for a multi-valued inverse problem (x -> y has up to 3 branches).
# Progress: one line per 150 steps with a unicode sparkline of the batch NLLs in that window.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
M = 5            # mixture components
BARS = " ▁▂▃▄▅▆▇█"


def sample(n):
    y = mx.random.uniform(0, 1, (n, 1))
    x = y + 0.3 * mx.sin(2 * math.pi * y) + 0.05 * mx.random.normal((n, 1))
    return x, y          # inverse direction: predict y from x


class MDN(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, M)
        self.mu = nn.Linear(hidden, M)
        self.log_sigma = nn.Linear(hidden, M)

    def __call__(self, x):
        h = self.body(x)
        return self.logits(h), self.mu(h), mx.clip(self.log_sigma(h), -7.0, 3.0)


def nll(model, x, y):
    logit, mu, ls = model(x)
    log_pi = logit - mx.logsumexp(logit, axis=-1, keepdims=True)
    z = (y - mu) / mx.exp(ls)
    log_n = -0.5 * z * z - ls - 0.5 * math.log(2 * math.pi)
    return -mx.logsumexp(log_pi + log_n, axis=-1).mean()


def spark(vals):
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    # 16 buckets of the window, each the mean of its values
    k = max(1, len(vals) // 16)
    pts = [sum(vals[i:i + k]) / len(vals[i:i + k]) for i in range(0, len(vals), k)]
    return "".join(BARS[int((p - lo) / span * (len(BARS) - 1))] for p in pts)


model = MDN()
mx.eval(model.parameters())
sched = optim.cosine_decay(4e-3, 3000, end=2e-4)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, nll)
xh, yh = sample(4000)

window = []
for step in range(1, 3001):
    x, y = sample(128)
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 150 == 0:
        held = nll(model, xh, yh).item()
        logit, _, _ = model(mx.array([[0.5]]))
        w = mx.softmax(logit, axis=-1)[0].tolist()
        used = sum(1 for v in w if v > 0.05)
        print(f"{step:5d} {spark(window)}  lo {min(window):+.3f} hi {max(window):+.3f}"
              f"  held-out nll {held:+.4f}  branches@x=0.5: {used}", flush=True)
        window = []
