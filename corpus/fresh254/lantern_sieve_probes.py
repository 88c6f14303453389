"""Layer-wise linear probes with control tasks (Hewitt & Liang style selectivity).

A small MLP is first trained on a 4-way task and then frozen.  For each of its
hidden layers a fresh linear probe and a fresh optimizer are fitted twice: once
on a hidden binary property of the input, once on a control task that assigns
each input type one constant random label.  Probes print only when a layer finishes.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(5)
mx.random.seed(5)
N_TYPES, DIM = 4000, 20
protos = rng.normal(size=(N_TYPES, DIM)).astype(np.float32)
prop = (protos[:, :3].sum(1) > 0).astype(np.int32)          # property a probe can read
task = (protos[:, 3] > 0).astype(np.int32) * 2 + (protos[:, 4] > 0)  # 4-way training target
control = rng.integers(0, 2, size=N_TYPES).astype(np.int32)  # one constant random label per type
train_types = rng.permutation(N_TYPES)[:3000]
test_types = np.setdiff1d(np.arange(N_TYPES), train_types)


def draw(types, n):
    idx = rng.choice(types, size=n)
    x = protos[idx] + 0.3 * rng.normal(size=(n, DIM)).astype(np.float32)
    return mx.array(x), idx


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(DIM, 48), nn.Linear(48, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 4)

    def hidden(self, x):
        outs = []
        for l in self.layers:
            x = nn.relu(l(x))
            outs.append(x)
        return outs

    def __call__(self, x):
        return self.head(self.hidden(x)[-1])


t0 = time.time()
net = Net()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.1)
lg = nn.value_and_grad(net, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for it in range(1, 401):
    x, idx = draw(train_types, 128)
    loss, g = lg(net, x, mx.array(task[idx]))
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
    if it % 100 == 0:
        xt, it_idx = draw(test_types, 1000)
        acc = (net(xt).argmax(-1) == mx.array(task[it_idx])).astype(mx.float32).mean().item()
        print(f"base net  it={it:4d}  ce={loss.item():.3f}  held-out acc={acc:.3f}")
net.freeze()

Xtr, itr = draw(train_types, 3000)
Xte, ite = draw(test_types, 1500)
feats_tr = [mx.stop_gradient(h) for h in net.hidden(Xtr)]
feats_te = [mx.stop_gradient(h) for h in net.hidden(Xte)]
mx.eval(feats_tr, feats_te)


def fit_probe(ftr, ytr, fte, yte, epochs=60):
    probe = nn.Linear(ftr.shape[1], 2)
    popt = optim.SGD(learning_rate=0.05, momentum=0.9)
    fn = nn.value_and_grad(
        probe, lambda p, x, y: nn.losses.cross_entropy(p(x), y, reduction="mean") + 1e-3 * (p.weight ** 2).sum()
    )
    n = ftr.shape[0]
    for ep in range(epochs):
        perm = mx.array(rng.permutation(n))
        for s in range(0, n, 250):
            b = perm[s:s + 250]
            _, g = fn(probe, ftr[b], ytr[b])
            popt.update(probe, g)
            mx.eval(probe.parameters(), popt.state)
    tr_acc = (probe(ftr).argmax(-1) == ytr).astype(mx.float32).mean().item()
    te_acc = (probe(fte).argmax(-1) == yte).astype(mx.float32).mean().item()
    return tr_acc, te_acc


print("layer | property train/test | control train/test | selectivity | majority")
ptr, pte = mx.array(prop[itr]), mx.array(prop[ite])
ctr, cte = mx.array(control[itr]), mx.array(control[ite])
raw = [mx.array(np.array(Xtr))] + feats_tr
raw_te = [mx.array(np.array(Xte))] + feats_te
for li, (ftr, fte) in enumerate(zip(raw, raw_te)):
    p_tr, p_te = fit_probe(ftr, ptr, fte, pte)
    c_tr, c_te = fit_probe(ftr, ctr, fte, cte)
    maj = max(prop[ite].mean(), 1 - prop[ite].mean())
    name = "input" if li == 0 else f"h{li}"
    print(f"{name:>5} | {p_tr:.3f} / {p_te:.3f}       | {c_tr:.3f} / {c_te:.3f}      | {p_te - c_te:+.3f}      | {maj:.3f}")
print(f"wall {time.time() - t0:.1f}s")
