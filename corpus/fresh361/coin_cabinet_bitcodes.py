"""Coin-cabinet near-duplicate search: 48-d die-study measurements of catalogued coins,
queries are re-measured strikes. Stage A fits a float encoder with a triplet margin loss.
Stage B fine-tunes a 64-bit code layer through tanh(beta * z) while beta is annealed
1 -> 16; the relaxed loss need not keep falling as the codes harden. Codes are then
compared by Hamming distance, int8 scalar codes by dot product, both beside float."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
N_DIES, D_IN, D_EMB, BITS = 400, 48, 64, 64
dies = rng.normal(size=(N_DIES, 12))
lift = rng.normal(size=(12, D_IN)) / np.sqrt(12)
def strike(ids, wear):
    base = np.sin(dies[ids] @ lift) + 0.3 * (dies[ids] @ lift)
    out = base + wear * rng.normal(size=(len(ids), D_IN))
    out[:, :16] += 2.5 * rng.normal(size=(len(ids), 16))  # patina / lighting channels, unrelated to the die
    return (out + rng.normal(size=(len(ids), 1))).astype(np.float32)

catalogue = mx.array(strike(np.arange(N_DIES), 0.05))
q_ids = rng.integers(0, N_DIES, size=800)
queries = mx.array(strike(q_ids, 0.55))
q_ids_mx = mx.array(q_ids)

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D_IN, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, D_EMB))
        self.code = nn.Linear(D_EMB, BITS)
    def __call__(self, x):
        e = self.body(x)
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)

def recall_at1(qv, cv, hamming=False):
    if hamming:
        sim = -((qv[:, None, :] != cv[None, :, :]).sum(-1))
    else:
        sim = qv @ cv.T
    return (sim.argmax(1) == q_ids_mx).mean().item()

def batch(bs=96):
    ids = rng.integers(0, N_DIES, size=bs)
    neg = (ids + rng.integers(1, N_DIES, size=bs)) % N_DIES
    return mx.array(strike(ids, 0.55)), mx.array(strike(ids, 0.55)), mx.array(strike(neg, 0.55))

enc = Encoder()
mx.eval(enc.parameters())
# LSH baseline: signs of a random projection of the raw measurements
proj = mx.array(rng.normal(size=(D_IN, BITS)).astype(np.float32))
print(f"baseline raw-cosine R@1={recall_at1(queries / mx.linalg.norm(queries, axis=1, keepdims=True), catalogue / mx.linalg.norm(catalogue, axis=1, keepdims=True)):.3f} "
      f"LSH-{BITS}bit R@1={recall_at1(queries @ proj > 0, catalogue @ proj > 0, hamming=True):.3f} chance={1 / N_DIES:.4f}")

# ---- stage A: float metric learning
def loss_a(model, a, p, n):
    return nn.losses.triplet_loss(model(a), model(p), model(n), margin=0.4, reduction="mean")
opt_a = optim.Adam(learning_rate=2e-3)
step_a = nn.value_and_grad(enc, loss_a)
for it in range(1, 401):
    l, g = step_a(enc, *batch())
    opt_a.update(enc, g)
    mx.eval(enc.parameters(), opt_a.state)
    if it % 100 == 0:
        print(f"A {it:4d} triplet={l.item():.4f} float R@1={recall_at1(enc(queries), enc(catalogue)):.3f}")

# ---- stage B: relaxed binary codes, body frozen, warm-up from exactly 0
enc.body.freeze()
def relaxed(model, x, beta):
    return mx.tanh(beta * model.code(model(x)))
def loss_b(model, a, p, n, beta):
    ca, cp, cn = relaxed(model, a, beta), relaxed(model, p, beta), relaxed(model, n, beta)
    d_pos = ((ca - cp) ** 2).sum(-1) / (4 * BITS)
    d_neg = ((ca - cn) ** 2).sum(-1) / (4 * BITS)
    balance = (ca.mean(0) ** 2).mean()
    return mx.maximum(d_pos - d_neg + 0.25, 0).mean() + 0.1 * balance
warm = optim.linear_schedule(0.0, 3e-3, 60)
opt_b = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(3e-3, 340, 1e-4)], [60]))
step_b = nn.value_and_grad(enc, loss_b)
B_STEPS = 400
for it in range(1, B_STEPS + 1):
    beta = 1.0 + 15.0 * (it / B_STEPS) ** 2
    l, g = step_b(enc, *batch(), beta)
    opt_b.update(enc, g)
    mx.eval(enc.parameters(), opt_b.state)
    if it in (1, 60) or it % 100 == 0:
        hq, hc = enc.code(enc(queries)) > 0, enc.code(enc(catalogue)) > 0
        print(f"B {it:4d} lr={float(opt_b.learning_rate):.5f} beta={beta:5.2f} relaxed={l.item():.4f} "
              f"hamming R@1={recall_at1(hq, hc, hamming=True):.3f} bits-on={hc.mean().item():.2f}")

# ---- export: int8 scalar codes calibrated on the catalogue, binary codes, float
fq, fc = enc(queries), enc(catalogue)
lo, hi = fc.min(0), fc.max(0)
def to_int8(v):
    return mx.clip(mx.round((v - lo) / (hi - lo + 1e-8) * 255 - 128), -128, 127)
hq, hc = enc.code(fq) > 0, enc.code(fc) > 0
# binary shortlist of 10, then float rescoring
ham = (hq[:, None, :] != hc[None, :, :]).sum(-1)
short = mx.argsort(ham, axis=1)[:, :10]
resc = mx.take_along_axis(fq @ fc.T, short, axis=1)
pick = mx.take_along_axis(short, resc.argmax(1, keepdims=True), axis=1)[:, 0]
print(f"float32 {D_EMB * 4} B R@1={recall_at1(fq, fc):.3f} | int8 {D_EMB} B R@1={recall_at1(to_int8(fq), to_int8(fc)):.3f} | "
      f"binary {BITS // 8} B R@1={recall_at1(hq, hc, hamming=True):.3f} | binary+rescore R@1={(pick == q_ids_mx).mean().item():.3f}")
