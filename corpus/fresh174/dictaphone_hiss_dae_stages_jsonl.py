# Dictaphone clean-up: a small denoising autoencoder that removes tape hiss from
# 32-sample envelope frames of dictated speech.  Trained with a hiss curriculum
# (light -> medium -> heavy tape hiss); each stage restarts its epoch counter,
# uses early stopping with patience and puts back the best weights of the stage.
# One JSON object per line.
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(4)
T = 32


def syllables(n):
    t = np.linspace(0.0, 1.0, T, dtype=np.float32)
    out = np.zeros((n, T), np.float32)
    k = rs.randint(1, 4, n)
    for i in range(n):
        for _ in range(k[i]):
            c = rs.uniform(0.1, 0.9)
            w = rs.uniform(0.03, 0.12)
            a = rs.uniform(0.4, 1.0)
            out[i] += a * np.exp(-0.5 * ((t - c) / w) ** 2)
    # slow formant wobble on top of the syllable envelope
    ph = rs.uniform(0, 2 * np.pi, (n, 1))
    out *= 1.0 + 0.15 * np.sin(2 * np.pi * 3.0 * t[None, :] + ph)
    return out.astype(np.float32)


clean_tr = syllables(2000)
clean_va = syllables(400)


def hiss(x, sigma, seed):
    r = np.random.RandomState(seed)
    return (x + sigma * r.randn(*x.shape)).astype(np.float32)


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(T, 64)
        self.enc2 = nn.Linear(64, 16)
        self.dec1 = nn.Linear(16, 64)
        self.dec2 = nn.Linear(64, T)

    def __call__(self, x):
        z = nn.gelu(self.enc2(nn.gelu(self.enc1(x))))
        return x + self.dec2(nn.gelu(self.dec1(z)))   # predicts a correction


net = DAE()
mx.eval(net.parameters())


def mse(m, noisy, clean):
    return mx.mean((m(noisy) - clean) ** 2)


vg = nn.value_and_grad(net, mse)
_, g = vg(net, mx.array(hiss(clean_tr[:64], 0.1, 1)), mx.array(clean_tr[:64]))
zero = [k for k, v in tree_flatten(g) if float(mx.sum(v * v)) == 0.0]
print(json.dumps({"event": "gradcheck", "tensors": len(tree_flatten(g)), "zero": zero}))

stages = [("light", 0.05), ("medium", 0.15), ("heavy", 0.30)]
bs = 100
t_start = time.time()
for s_i, (name, sigma) in enumerate(stages):
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    noisy_va = hiss(clean_va, sigma, 1000 + s_i)
    ref = float(np.mean((noisy_va - clean_va) ** 2))    # doing nothing
    best, best_ep, wait, patience = float("inf"), 0, 0, 4
    best_w = None
    for ep in range(1, 41):
        noisy_tr = hiss(clean_tr, sigma, 100 * s_i + ep)
        order = rs.permutation(len(clean_tr))
        acc = 0.0
        for b in range(0, len(order), bs):
            j = order[b:b + bs]
            loss, grads = vg(net, mx.array(noisy_tr[j]), mx.array(clean_tr[j]))
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            acc += float(loss)
        va = float(mse(net, mx.array(noisy_va), mx.array(clean_va)))
        gain = 10.0 * np.log10(ref / va)
        print(json.dumps({"stage": name, "sigma": sigma, "epoch": ep,
                          "train_mse": round(acc / (len(order) // bs), 5),
                          "val_mse": round(va, 5), "noisy_mse": round(ref, 5),
                          "gain_db": round(float(gain), 2)}))
        if va < best - 1e-5:
            best, best_ep, wait = va, ep, 0
            best_w = tree_map(lambda a: a, net.parameters())
        else:
            wait += 1
            if wait >= patience:
                break
    net.update(best_w)
    mx.eval(net.parameters())
    va = float(mse(net, mx.array(noisy_va), mx.array(clean_va)))
    print(json.dumps({"event": "stage_end", "stage": name, "stopped_at": ep,
                      "restored_epoch": best_ep, "val_mse": round(va, 5),
                      "gain_db": round(float(10.0 * np.log10(ref / va)), 2)}))

print(json.dumps({"event": "done", "seconds": round(time.time() - t_start, 1)}))
