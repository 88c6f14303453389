"""Rondel studio firing log: 5-way vitreous-paint grade from 14 kiln readings.

Float pretraining, then learned-step-size quantization of the weights,
stepped down 8 -> 4 -> 2 bits. Each rung restarts the step sizes and the
schedule (warmup from exactly 0), so the loss jumps at every rung on purpose.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

GRADES = ["underfired", "matte", "satin", "glossy", "overfired"]
N_FEAT, N_CLS = 14, 5


def make_firings(rng, n, law):
    w1, b1, w2 = law
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    logits = np.tanh(x @ w1 + b1) @ w2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.random((n, 1))
    y = (u > np.cumsum(p, 1)).sum(1).clip(0, N_CLS - 1)
    return x, y.astype(np.int32), p


class StepQuantLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lim = math.sqrt(1.0 / din)
        self.weight = mx.random.uniform(-lim, lim, (dout, din))
        self.bias = mx.zeros((dout,))
        self.step = mx.ones((dout, 1))
        self.bits = 0

    def set_bits(self, bits):
        self.bits = bits
        qp = 2 ** (bits - 1) - 1
        init = 2.0 * mx.mean(mx.abs(self.weight), axis=1, keepdims=True) / math.sqrt(qp)
        self.step = init

    def qweight(self):
        if self.bits == 0:
            return self.weight
        qp = 2 ** (self.bits - 1) - 1
        qn = 2 ** (self.bits - 1)
        g = 1.0 / math.sqrt(self.weight.shape[1] * qp)
        s = mx.stop_gradient(self.step - self.step * g) + self.step * g
        v = mx.clip(self.weight / s, -qn, qp)
        v = v + mx.stop_gradient(mx.round(v) - v)
        return v * s

    def __call__(self, x):
        return x @ self.qweight().T + self.bias


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = StepQuantLinear(N_FEAT, 96)
        self.l2 = StepQuantLinear(96, 96)
        self.l3 = StepQuantLinear(96, N_CLS)

    def layers(self):
        return [self.l1, self.l2, self.l3]

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.l3(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return nll.item(), acc.item()


def schedule(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm],
    )


def run_stage(model, opt, xtr, ytr, rng, steps, tag, log_every):
    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, 256))
        loss, grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if log_every and (step == 1 or step % log_every == 0):
            lr = opt.learning_rate.item()
            print(f"{tag} step {step:4d}  lr {lr:.2e}  loss {loss.item():.4f}")


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    law = (
        rng.normal(size=(N_FEAT, 24)).astype(np.float32) * 0.7,
        rng.normal(size=(24,)).astype(np.float32) * 0.3,
        rng.normal(size=(24, N_CLS)).astype(np.float32) * 1.6,
    )
    xtr, ytr, _ = make_firings(rng, 24000, law)
    xva, yva, pva = make_firings(rng, 2000, law)
    floor = float(-np.mean(np.log(pva[np.arange(len(yva)), yva])))
    bayes_acc = float(np.mean(pva.argmax(1) == yva))
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    counts = np.bincount(np.array(ytr), minlength=N_CLS)
    print("firings: train 24000, val 2000; grade mix " + ", ".join(
        f"{g} {c / 24000:.0%}" for g, c in zip(GRADES, counts)))
    print(f"label-noise floor on val: nll {floor:.3f}, acc {bayes_acc:.3f}")

    model = Grader()
    mx.eval(model.parameters())
    n_w = sum(l.weight.size for l in model.layers())
    print(f"weights to quantize: {n_w}")

    print("== float pretraining (600 steps) ==")
    opt = optim.Adam(learning_rate=schedule(3e-3, 40, 600))
    run_stage(model, opt, xtr, ytr, rng, 600, "float", 100)
    f_nll, f_acc = evaluate(model, xva, yva)
    print(f"float  val nll {f_nll:.3f}  acc {f_acc:.3f}")
    float_w = {i: mx.array(l.weight) for i, l in enumerate(model.layers())}

    for l in model.layers():
        l.set_bits(2)
    p_nll, p_acc = evaluate(model, xva, yva)
    print(f"2-bit round-to-nearest (no training) val nll {p_nll:.3f}  acc {p_acc:.3f}")
    for l in model.layers():
        l.bits = 0

    rows = []
    for bits, steps in [(8, 300), (4, 400), (2, 700)]:
        for l in model.layers():
            l.set_bits(bits)
        mx.eval(model.parameters())
        s_nll, s_acc = evaluate(model, xva, yva)
        print(f"== rung {bits}-bit: step sizes re-initialised, val nll {s_nll:.3f} ==")
        opt = optim.Adam(learning_rate=schedule(1e-3, 50, steps))
        run_stage(model, opt, xtr, ytr, rng, steps, f"q{bits}", 50)
        q_nll, q_acc = evaluate(model, xva, yva)
        drift = max(
            (mx.max(mx.abs(l.weight - float_w[i])).item() for i, l in enumerate(model.layers()))
        )
        steps_now = [f"{mx.mean(l.step).item():.4f}" for l in model.layers()]
        print(f"q{bits} val nll {q_nll:.3f}  acc {q_acc:.3f}  mean step sizes {steps_now}  "
              f"max weight drift from float {drift:.3f}")
        rows.append((bits, q_nll, q_acc))

    w2 = model.l2
    qp = 2 ** (w2.bits - 1) - 1
    codes = np.array(mx.clip(mx.round(w2.weight / w2.step), -qp - 1, qp)).ravel()
    hist = {int(c): float(np.mean(codes == c)) for c in range(-qp - 1, qp + 1)}
    print("layer-2 2-bit code usage " + "  ".join(f"{c:+d}:{v:.2f}" for c, v in hist.items()))

    print("summary (val):")
    print(f"  floor     nll {floor:.3f}  acc {bayes_acc:.3f}")
    print(f"  float     nll {f_nll:.3f}  acc {f_acc:.3f}")
    print(f"  2-bit RTN nll {p_nll:.3f}  acc {p_acc:.3f}")
    for bits, q_nll, q_acc in rows:
        print(f"  lsq {bits}-bit nll {q_nll:.3f}  acc {q_acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
