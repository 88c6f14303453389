"""Which of 8 wren populations sang this phrase?

Each phrase is 20 syllables drawn from a population-specific Markov chain over
a 24-syllable repertoire. Syllables are looked up in a FIXED embedding table
(a spectral-feature table measured once, never trained). The trainable part is
a width-3 temporal filter bank + mean/max pooling + a linear read-out.

Mixed precision: master weights stay float32; every forward/backward pass runs
on a bfloat16 copy; the cross-entropy is taken in float32. The update is a
hand-written heavy-ball SGD over tree_map.
Progress is printed as JSON lines; 'err_pct' is the error rate (lower = better).
"""
import json
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

N_SYL, N_POP, LEN, DIM, HID = 24, 8, 20, 16, 96
EPOCHS, BATCH, LR, MOM = 10, 100, 0.02, 0.9

rng = np.random.default_rng(7)


def population_chains():
    chains = []
    shared = rng.dirichlet(np.full(N_SYL, 0.3), size=N_SYL)
    for _ in range(N_POP):
        own = rng.dirichlet(np.full(N_SYL, 0.3), size=N_SYL)
        chains.append(0.55 * shared + 0.45 * own)   # populations overlap a lot
    return chains


def sing(chains, n):
    pops = rng.integers(0, N_POP, n)
    phr = np.zeros((n, LEN), np.int32)
    for i, p in enumerate(pops):
        s = rng.integers(0, N_SYL)
        for t in range(LEN):
            phr[i, t] = s
            s = rng.choice(N_SYL, p=chains[p][s])
    return phr, pops.astype(np.int32)


chains = population_chains()
Xtr, Ytr = sing(chains, 10000)
Xte, Yte = sing(chains, 1500)

# fixed, untrained syllable feature table (not part of params on purpose)
SYL_TABLE = mx.array(rng.normal(0, 1, (N_SYL, DIM)).astype(np.float32))


def init_params(key_rng):
    def glorot(fan_in, fan_out):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return mx.array(key_rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32))
    return {
        "filt": {"w": glorot(3 * DIM, HID), "b": mx.zeros((HID,))},
        "head": {"w": glorot(2 * HID, N_POP), "b": mx.zeros((N_POP,))},
    }


def forward(params, phrases):
    p = tree_map(lambda a: a.astype(mx.bfloat16), params)   # bf16 working copy
    e = SYL_TABLE[phrases].astype(mx.bfloat16)              # (B, L, D)
    win = mx.concatenate([e[:, :-2], e[:, 1:-1], e[:, 2:]], axis=-1)
    h = mx.maximum(win @ p["filt"]["w"] + p["filt"]["b"], 0)
    pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
    return pooled @ p["head"]["w"] + p["head"]["b"]


def loss_fn(params, phrases, pops):
    logits = forward(params, phrases).astype(mx.float32)
    lse = mx.logsumexp(logits, axis=-1)
    picked = mx.take_along_axis(logits, pops[:, None], axis=-1)[:, 0]
    return (lse - picked).mean()


def evaluate(params, X, Y):
    ce, wrong = 0.0, 0
    for s in range(0, X.shape[0], 500):
        xb, yb = mx.array(X[s:s + 500]), mx.array(Y[s:s + 500])
        logits = forward(params, xb).astype(mx.float32)
        ce += loss_fn(params, xb, yb).item() * xb.shape[0]
        wrong += int((logits.argmax(-1) != yb).sum().item())
    return ce / X.shape[0], 100.0 * wrong / X.shape[0]


def emit(**kw):
    print(json.dumps(kw), flush=True)


params = init_params(np.random.default_rng(3))
velocity = tree_map(mx.zeros_like, params)
grad_fn = mx.value_and_grad(loss_fn)
mx.eval(params, velocity)

ce0, err0 = evaluate(params, Xte, Yte)
emit(event="start", train=int(Xtr.shape[0]), test=int(Xte.shape[0]),
     chance_err_pct=round(100 * (1 - 1 / N_POP), 1),
     test_ce=round(ce0, 4), test_err_pct=round(err0, 2),
     master_dtype=str(params["filt"]["w"].dtype), compute_dtype="bfloat16")

t0 = time.time()
steps_per_epoch = Xtr.shape[0] // BATCH
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(Xtr.shape[0])
    run = 0.0
    for k in range(steps_per_epoch):
        sel = order[k * BATCH:(k + 1) * BATCH]
        loss, grads = grad_fn(params, mx.array(Xtr[sel]), mx.array(Ytr[sel]))
        if epoch == 1 and k == 0:
            flat = tree_flatten(grads)
            emit(event="grad_check", leaves=len(flat),
                 grad_dtypes=sorted({str(g.dtype) for _, g in flat}),
                 zero_leaves=[n for n, g in flat if not mx.any(g != 0).item()])
        velocity = tree_map(lambda v, g: MOM * v + g, velocity, grads)
        params = tree_map(lambda p, v: p - LR * v, params, velocity)
        mx.eval(params, velocity, loss)
        run += loss.item()
    ce, err = evaluate(params, Xte, Yte)
    emit(event="epoch", epoch=epoch, train_ce=round(run / steps_per_epoch, 4),
         test_ce=round(ce, 4), test_err_pct=round(err, 2),
         secs=round(time.time() - t0, 1))

per_pop = []
logits = forward(params, mx.array(Xte)).astype(mx.float32)
pred = np.array(logits.argmax(-1))
for c in range(N_POP):
    m = Yte == c
    per_pop.append(round(100.0 * float((pred[m] != c).mean()), 1))
emit(event="done", per_population_err_pct=per_pop,
     master_dtype=str(params["head"]["w"].dtype),
     secs=round(time.time() - t0, 1))
