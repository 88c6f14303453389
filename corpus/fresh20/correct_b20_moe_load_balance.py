"""Top-1 mixture-of-experts classifier with a Switch-style load-balancing
auxiliary loss. Each expert is a small MLP; a router picks one expert per
example. Logs the routing share of every expert next to the losses.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_EXPERTS, D_IN, HID, N_CLS = 4, 16, 48, 6
AUX_WEIGHT = 0.05
STEPS, BATCH = 1600, 128
mx.random.seed(5)

# data: 4 regions of input space, each with its own linear labelling rule
centers = mx.random.normal((4, D_IN)) * 3.0
rules = mx.random.normal((4, D_IN, N_CLS))


def batch(n):
    region = mx.random.randint(0, 4, (n,))
    x = centers[region] + mx.random.normal((n, D_IN))
    logits = mx.einsum("bd,bdc->bc", x, rules[region])
    y = mx.argmax(logits + 0.5 * mx.random.normal(logits.shape), axis=1)
    return x, y


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, HID)
        self.l2 = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class SwitchMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(D_IN, N_EXPERTS)
        self.experts = [Expert() for _ in range(N_EXPERTS)]

    def __call__(self, x):
        probs = mx.softmax(self.router(x), axis=-1)              # (B, E)
        choice = mx.argmax(probs, axis=-1)                       # (B,)
        onehot = (choice[:, None] == mx.arange(N_EXPERTS)[None]).astype(x.dtype)
        gate = (probs * onehot).sum(axis=-1, keepdims=True)      # prob of chosen expert
        outs = mx.stack([e(x) for e in self.experts], axis=1)    # (B, E, C)
        y = (outs * onehot[..., None]).sum(axis=1) * gate
        # Switch Transformer balance loss: E * sum_e f_e * P_e
        frac = onehot.mean(axis=0)
        mean_prob = probs.mean(axis=0)
        aux = N_EXPERTS * (frac * mean_prob).sum()
        return y, aux, frac


def loss_fn(model, x, y):
    logits, aux, frac = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce + AUX_WEIGHT * aux, (ce, aux, frac, logits)


model = SwitchMoE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, lambda m, x, y: loss_fn(m, x, y)[0])

xv, yv = batch(2048)
print(f"{'step':>5} {'total':>8} {'ce':>8} {'aux':>7} {'val_acc':>8}   expert share")
for step in range(1, STEPS + 1):
    x, y = batch(BATCH)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 100 == 0:
        _, (ce, aux, _, _) = loss_fn(model, x, y)
        _, (_, _, frac, logits) = loss_fn(model, xv, yv)
        acc = (mx.argmax(logits, axis=1) == yv).mean().item()
        share = " ".join(f"{f:.2f}" for f in frac.tolist())
        print(f"{step:5d} {loss.item():8.4f} {ce.item():8.4f} {aux.item():7.4f} {acc:8.3f}   [{share}]")
