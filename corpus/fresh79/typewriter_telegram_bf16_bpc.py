"""Next-character model for typed telegram text (a telegraph office's typewriter log).

bf16 compute with float32 master weights: the loss casts a copy of the master
parameters to bfloat16, the gradients come back in float32 and Adam updates the
float32 masters. Loss is reported in bits per character. Reports go to stderr.
"""
import sys
import time
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

WORDS = ("arrive stop send money stop father ill stop come home stop train late stop "
         "meet station noon stop regards stop urgent stop ship sails friday stop "
         "letter follows stop all well stop baby born monday stop love mother stop").split()
ALPHA = sorted(set(" ".join(WORDS)) | {"."})
V = len(ALPHA)
CTX = 6


def telegrams(n_msgs, rng):
    out = []
    for _ in range(n_msgs):
        k = rng.integers(4, 12)
        msg = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), k))
        # a typist's slips: ~2% of letters replaced
        chars = list(msg)
        for i in range(len(chars)):
            if chars[i] != " " and rng.random() < 0.02:
                chars[i] = ALPHA[rng.integers(1, V)]
        out.append("".join(chars) + ".")
    return " ".join(out)


def windows(text):
    ids = np.array([ALPHA.index(c) for c in text], dtype=np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(ids) - CTX)[:, None]
    return ids[idx], ids[CTX:]


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.hidden = nn.Linear(CTX * 16, 192)
        self.head = nn.Linear(192, V)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.head(nn.gelu(self.hidden(h)))


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    Xtr, ytr = windows(telegrams(3000, rng))
    Xva, yva = windows(telegrams(300, rng))
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
    say(f"telegram corpus: {Xtr.shape[0]} train windows, {Xva.shape[0]} valid windows, "
        f"alphabet {V} symbols (uniform = {math.log2(V):.3f} bits/char)")

    mx.random.seed(0)
    model = CharMLP()
    master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
    mx.eval(master)
    opt = optim.Adam(learning_rate=2e-3)
    opt.init(master)
    LN2 = math.log(2.0)

    def loss_fn(params, x, y):
        model.update(tree_map(lambda p: p.astype(mx.bfloat16), params))
        logits = model(x).astype(mx.float32)
        return nn.losses.cross_entropy(logits, y, reduction="mean") / LN2   # bits/char

    vg = mx.value_and_grad(loss_fn)

    def valid_bpc(params):
        tot = 0.0
        for s in range(0, Xva.shape[0], 4096):
            xb, yb = Xva[s:s + 4096], yva[s:s + 4096]
            tot += float(loss_fn(params, xb, yb)) * xb.shape[0]
        return tot / Xva.shape[0]

    say(f"untrained   valid {valid_bpc(master):.3f} bits/char")
    batch, n = 256, Xtr.shape[0]
    steps_per_epoch = n // batch
    step = 0
    for epoch in range(1, 7):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = vg(master, Xtr[idx], ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                dtypes = sorted({str(g.dtype) for _, g in flat})
                say(f"first step  {len(flat)} gradient leaves, zero: {zero or 'none'}, "
                    f"grad dtypes {dtypes}, master dtype {master['head']['weight'].dtype}")
            master = opt.apply_gradients(grads, master)
            mx.eval(master, opt.state, loss)
            run += float(loss)
            step += 1
        say(f"epoch {epoch}     train {run / steps_per_epoch:.3f} bits/char   "
            f"valid {valid_bpc(master):.3f} bits/char   step {step}   {time.time() - t0:.1f}s")
    say(f"done        {step} steps, masters {master['hidden']['weight'].dtype}, "
        f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
