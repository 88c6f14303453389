"""Beehive acoustics: colony state (queenright / queenless / pre-swarm) from 10 hum
spectral bands + hive temperature. Forward/backward in bfloat16, float32 master weights,
hand-written momentum SGD with linear warm-up from lr 0."""
import logging
import sys
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d hive %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("hive")

rng = np.random.default_rng(2087)
N_TR, N_TE, D, C = 9000, 2000, 11, 3
centres = rng.normal(0, 1.0, (C, D))
def make(n):
    lab = rng.choice(C, n, p=[0.6, 0.25, 0.15])
    x = centres[lab] + rng.normal(0, 1.3, (n, D))
    x[:, 3] += 0.6 * x[:, 5] ** 2 * (lab == 2)      # pre-swarm piping shows up nonlinearly
    return x.astype(np.float32), lab.astype(np.int32)
Xtr, ytr = make(N_TR); Xte, yte = make(N_TE)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd; Xte = (Xte - mu) / sd
log.info("data train=%d test=%d class share=%s", N_TR, N_TE,
         np.round(np.bincount(ytr) / N_TR, 3).tolist())

def init_layer(key, fan_in, fan_out):
    k1, _ = mx.random.split(key)
    lim = (6.0 / (fan_in + fan_out)) ** 0.5
    return {"w": mx.random.uniform(-lim, lim, (fan_in, fan_out), key=k1), "b": mx.zeros((fan_out,))}

keys = mx.random.split(mx.random.key(7), 3)
master = {"l1": init_layer(keys[0], D, 128), "l2": init_layer(keys[1], 128, 128), "l3": init_layer(keys[2], 128, C)}

def forward(p, x):
    h = mx.maximum(x @ p["l1"]["w"] + p["l1"]["b"], 0)
    h = mx.maximum(h @ p["l2"]["w"] + p["l2"]["b"], 0)
    return h @ p["l3"]["w"] + p["l3"]["b"]

def loss_fn(p32, x, y):
    p16 = tree_map(lambda a: a.astype(mx.bfloat16), p32)     # compute copy in bf16
    logits = forward(p16, x.astype(mx.bfloat16))
    lp = logits.astype(mx.float32)                            # softmax/CE in float32
    lse = mx.logsumexp(lp, axis=-1)
    return mx.mean(lse - mx.take_along_axis(lp, y[:, None], axis=-1).squeeze(-1))

val_grad = mx.value_and_grad(loss_fn)
Xte_m, yte_m = mx.array(Xte), mx.array(yte)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)

def evaluate(p):
    p16 = tree_map(lambda a: a.astype(mx.bfloat16), p)
    logits = forward(p16, Xte_m.astype(mx.bfloat16)).astype(mx.float32)
    ce = float(mx.mean(mx.logsumexp(logits, -1) - mx.take_along_axis(logits, yte_m[:, None], -1).squeeze(-1)))
    acc = float(mx.mean(mx.argmax(logits, -1) == yte_m))
    return ce, acc

PEAK, WARM, STEPS, BS, MOM = 0.02, 200, 1200, 128, 0.9
velocity = tree_map(mx.zeros_like, master)
ce0, acc0 = evaluate(master)
log.info("step 0 lr 0 test_ce %.4f test_acc %.1f%%", ce0, 100 * acc0)

cursor, perm = 0, rng.permutation(N_TR)
t0, window = time.time(), []
for step in range(1, STEPS + 1):
    if cursor + BS > N_TR:
        perm, cursor = rng.permutation(N_TR), 0
    idx = mx.array(perm[cursor:cursor + BS]); cursor += BS
    lr = PEAK * min(1.0, (step - 1) / WARM)               # 0 on the first step
    loss, g = val_grad(master, Xtr_m[idx], ytr_m[idx])
    if step == 1:
        flat = tree_flatten(g)
        log.info("grad check leaves=%d dtypes=%s zero=%s", len(flat),
                 sorted({str(v.dtype) for _, v in flat}),
                 [k for k, v in flat if float(mx.abs(v).max()) == 0.0])
    velocity = tree_map(lambda v, gg: MOM * v + gg, velocity, g)
    master = tree_map(lambda w, v: w - lr * v, master, velocity)
    mx.eval(master, velocity, loss)
    window.append(float(loss))
    if step in (1, 50) or step % 200 == 0:
        ce, acc = evaluate(master)
        log.info("step %d lr %.4f train_ce %.4f test_ce %.4f test_acc %.1f%% %.1fs",
                 step, lr, float(np.mean(window)), ce, 100 * acc, time.time() - t0)
        window = []
log.info("done master dtype %s, %d steps", master["l1"]["w"].dtype, STEPS)
