"""Fungal mycelium networks: which growth form (0 sparse explorer, 1 hub-forming,
2 dense mat) produced a hyphal graph. Edge attention with a per-receiver
softmax built from scatter ops, mean readout per graph, two sessions with a
checkpoint in between."""
import json
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)


def hyphal_graph(kind):
    n = int(rng.integers(10, 24))
    edges = set()
    for i in range(1, n):
        if kind == 1 and rng.random() < 0.7:
            j = int(rng.integers(0, min(3, i)))  # attach to an early hub
        else:
            j = int(rng.integers(max(0, i - 3), i))  # chain-like growth
        edges.add((i, j))
    extra = {0: 0, 1: n // 8, 2: n}[kind]
    for _ in range(extra):
        a, b = rng.integers(0, n, 2)
        if a != b:
            edges.add((int(a), int(b)))
    e = np.array(sorted(edges), dtype=np.int32)
    e = np.concatenate([e, e[:, ::-1]])
    deg = np.bincount(e[:, 1], minlength=n)
    thick = rng.normal(1.0 + 0.1 * kind, 0.4, n)  # weak per-node cue
    x = np.stack([deg / 6.0, thick, rng.normal(0, 1, n)], 1).astype(np.float32)
    return x, e, kind


def collate(graphs):
    xs, es, gid, ys, off = [], [], [], [], 0
    for k, (x, e, y) in enumerate(graphs):
        xs.append(x); es.append(e + off); gid.append(np.full(len(x), k)); ys.append(y); off += len(x)
    return (mx.array(np.concatenate(xs)), mx.array(np.concatenate(es)),
            mx.array(np.concatenate(gid).astype(np.int32)), mx.array(np.array(ys, dtype=np.int32)), len(graphs))


def receiver_softmax(score, dst, n):
    peak = mx.stop_gradient(mx.full((n,), -1e9).at[dst].maximum(score))
    w = mx.exp(score - peak[dst])
    den = mx.zeros((n,)).at[dst].add(w)
    return w / (den[dst] + 1e-9)


class EdgeAttention(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.proj = nn.Linear(din, dout, bias=False)
        self.a_src = nn.Linear(dout, 1, bias=False)
        self.a_dst = nn.Linear(dout, 1, bias=False)
        self.skip = nn.Linear(din, dout)

    def __call__(self, h, src, dst):
        z = self.proj(h)
        s = nn.leaky_relu(self.a_src(z)[src, 0] + self.a_dst(z)[dst, 0], 0.2)
        alpha = receiver_softmax(s, dst, h.shape[0])
        msg = mx.zeros_like(z).at[dst].add(alpha[:, None] * z[src])
        return nn.elu(msg + self.skip(h))


class MyceliumNet(nn.Module):
    def __init__(self, hid=32):
        super().__init__()
        self.l1 = EdgeAttention(3, hid)
        self.l2 = EdgeAttention(hid, hid)
        self.out = nn.Linear(hid, 3)

    def __call__(self, x, e, gid, ng):
        h = self.l2(self.l1(x, e[:, 0], e[:, 1]), e[:, 0], e[:, 1])
        tot = mx.zeros((ng, h.shape[1])).at[gid].add(h)
        cnt = mx.zeros((ng, 1)).at[gid].add(1.0)
        return self.out(tot / cnt)


def loss_fn(m, x, e, gid, y, ng):
    return nn.losses.cross_entropy(m(x, e, gid, ng), y, label_smoothing=0.1, reduction="mean")


train = [hyphal_graph(int(k)) for k in rng.integers(0, 3, 900)]
valid = collate([hyphal_graph(int(k)) for k in rng.integers(0, 3, 300)])


def evaluate(m):
    x, e, gid, y, ng = valid
    logits = m(x, e, gid, ng)
    l = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, 1) == y)
    return float(l), 100 * float(acc)


def make(seed):
    mx.random.seed(seed)
    m = MyceliumNet()
    o = optim.SGD(learning_rate=optim.step_decay(0.05, 0.3, 270), momentum=0.9)
    return m, o


def run(m, o, epochs, tag, first_epoch):
    vg = nn.value_and_grad(m, loss_fn)
    for ep in range(first_epoch, first_epoch + epochs):
        order = rng.permutation(len(train))
        losses = []
        t0 = time.time()
        for i in range(0, len(order), 30):
            x, e, gid, y, ng = collate([train[j] for j in order[i:i + 30]])
            loss, g = vg(m, x, e, gid, y, ng)
            o.update(m, g)
            mx.eval(m.parameters(), o.state, loss)
            losses.append(loss.item())
        vl, va = evaluate(m)
        print(f"{tag}:\n  epoch: {ep}\n  step: {int(o.step)}\n  lr: {float(o.learning_rate):.4f}\n"
              f"  train_smoothed_ce: {np.mean(losses):.4f}\n  valid_ce: {vl:.4f}\n  valid_acc_pct: {va:.1f}\n"
              f"  secs: {time.time() - t0:.2f}")


print("---")
print(f"majority_class_pct: {100 * np.bincount([g[2] for g in train]).max() / len(train):.1f}")
model, opt = make(1)
vl0, va0 = evaluate(model)
print(f"untrained:\n  valid_ce: {vl0:.4f}\n  valid_acc_pct: {va0:.1f}")
run(model, opt, 6, "session_1", 1)
ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "w.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved = evaluate(model)
print(f"checkpoint:\n  dir_files: {sorted(os.listdir(ckpt))}\n  valid_ce: {saved[0]:.4f}")
del model, opt

model, opt = make(99)
model.load_weights(os.path.join(ckpt, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
restored = evaluate(model)
print(f"resumed:\n  step: {int(opt.step)}\n  valid_ce: {restored[0]:.4f}\n  matches: {json.dumps(abs(restored[0] - saved[0]) < 1e-5)}")
run(model, opt, 6, "session_2", 7)
print("...")
