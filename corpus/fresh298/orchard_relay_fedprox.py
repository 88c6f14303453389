import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_SITES, DIM, CLASSES = 10, 16, 4
W_true = rng.normal(size=(DIM, CLASSES)).astype(np.float32)

def make_site(k):
    n = int(rng.integers(60, 240))
    shift = rng.normal(scale=0.6, size=DIM).astype(np.float32)
    x = rng.normal(size=(n, DIM)).astype(np.float32) + shift
    logits = x @ W_true + rng.normal(scale=0.3, size=(n, CLASSES))
    y = logits.argmax(1)
    keep = np.isin(y, [(k % CLASSES), ((k + 1) % CLASSES), ((k + 2) % CLASSES)])
    return mx.array(x[keep]), mx.array(y[keep].astype(np.int32))

sites = [make_site(k) for k in range(N_SITES)]
xt = rng.normal(size=(800, DIM)).astype(np.float32)
yt = (xt @ W_true).argmax(1).astype(np.int32)
xt, yt = mx.array(xt), mx.array(yt)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 48)
        self.l2 = nn.Linear(48, CLASSES)
    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))

def accuracy(m):
    return (m(xt).argmax(1) == yt).astype(mx.float32).mean().item()

MU = 0.05
def local_loss(m, x, y, anchor):
    ce = nn.losses.cross_entropy(m(x), y, reduction="mean")
    prox = sum(mx.sum((p - a) ** 2) for (_, p), (_, a) in zip(tree_flatten(m.parameters()), tree_flatten(anchor)))
    return ce + 0.5 * MU * prox, ce

server = Net()
mx.eval(server.parameters())
velocity = tree_map(mx.zeros_like, server.parameters())
ROUNDS, PER_ROUND, LOCAL_STEPS, WARM = 40, 4, 8, 6
ckpt = os.path.join(tempfile.mkdtemp(), "server_r20.safetensors")
base_acc = accuracy(server)
print(f"chance-level baseline acc={1/CLASSES:.3f}  untrained acc={base_acc:.3f}")

def run_rounds(start, stop):
    global velocity
    for r in range(start, stop):
        client_lr = 0.08 * min(1.0, r / WARM)        # warmup begins at exactly 0
        picked = rng.choice(N_SITES, size=PER_ROUND, replace=False)
        gparams = server.parameters()
        deltas, weights, ces = [], [], []
        for k in picked:
            x, y = sites[k]
            local = Net()
            local.update(tree_map(lambda a: a, gparams))
            opt = optim.SGD(learning_rate=client_lr)
            vg = nn.value_and_grad(local, lambda m, xb, yb: local_loss(m, xb, yb, gparams)[0])
            for s in range(LOCAL_STEPS):
                idx = mx.array(rng.integers(0, x.shape[0], size=32))
                _, g = vg(local, x[idx], y[idx])
                opt.update(local, g)
                mx.eval(local.parameters())
            ces.append(local_loss(local, x, y, gparams)[1].item())
            deltas.append(tree_map(lambda a, b: a - b, local.parameters(), gparams))
            weights.append(float(x.shape[0]))
        tot = sum(weights)
        avg = tree_map(lambda *ds: sum(w / tot * d for w, d in zip(weights, ds)), *deltas)
        velocity = tree_map(lambda v, d: 0.7 * v + d, velocity, avg)
        server.update(tree_map(lambda p, v: p + v, gparams, velocity))
        mx.eval(server.parameters(), velocity)
        if r % 4 == 0 or r == stop - 1:
            print(f"round {r:02d} client_lr={client_lr:.4f} sites={sorted(picked.tolist())} "
                  f"local_ce={np.mean(ces):.4f} global_acc={accuracy(server):.3f}")

run_rounds(0, 20)
server.save_weights(ckpt)
mx.savez(ckpt.replace(".safetensors", "_vel.npz"), **dict(tree_flatten(velocity)))
print(f"checkpoint written after round 19 -> {os.path.basename(ckpt)}")
# simulate a restart of the coordinator
server = Net()
server.load_weights(ckpt)
velocity = tree_unflatten(list(mx.load(ckpt.replace(".safetensors", "_vel.npz")).items()))
print(f"resumed: global_acc={accuracy(server):.3f}")
run_rounds(20, ROUNDS)
final = accuracy(server)
print(f"final global_acc={final:.3f} (baseline {1/CLASSES:.3f}, untrained {base_acc:.3f})")
