# Sugar-bush sap model: predict sap sugar content (deg Brix) from freeze-thaw weather
# and tree features. Stage 1 trains in full precision, stage 2 switches on int4
# fake-quantized weights (straight-through custom VJP) and fine-tunes with a fresh
# warmup that starts from a learning rate of exactly 0. Logs JSON lines.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@mx.custom_function
def fake_quant4(w):
    s = mx.max(mx.abs(w)) / 7.0 + 1e-8
    return mx.clip(mx.round(w / s), -8, 7) * s


@fake_quant4.vjp
def fake_quant4_vjp(primals, cotangent, output):
    return cotangent  # straight-through estimator


class QLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lim = 1.0 / math.sqrt(din)
        self.weight = mx.random.uniform(-lim, lim, (dout, din))
        self.bias = mx.zeros((dout,))
        self.quant = False

    def __call__(self, x):
        w = fake_quant4(self.weight) if self.quant else self.weight
        return x @ w.T + self.bias


class SapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QLinear(6, 48)
        self.l2 = QLinear(48, 48)
        self.out = QLinear(48, 1)

    def set_quant(self, flag):
        for m in (self.l1, self.l2, self.out):
            m.quant = flag

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)[:, 0]


def make_sap(n, key):
    k1, k2 = mx.random.split(key)
    f = mx.random.normal((n, 6), key=k1)
    # night low, day high, tree diameter, crown size, days into season, snow cover
    swing = f[:, 1] - f[:, 0]
    brix = (2.2 + 0.35 * mx.tanh(swing) + 0.25 * f[:, 2] + 0.2 * f[:, 3]
            - 0.3 * mx.maximum(f[:, 4], 0) ** 2 + 0.1 * f[:, 5] * f[:, 2])
    return f, brix + 0.08 * mx.random.normal((n,), key=k2)


mx.random.seed(11)
xtr, ytr = make_sap(2048, mx.random.key(5))
xva, yva = make_sap(512, mx.random.key(6))
base_rmse = mx.sqrt(mx.mean((yva - ytr.mean()) ** 2)).item()

model = SapNet()


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


grad_fn = nn.value_and_grad(model, mse)
stages = [("fp32", 900, 2e-3, False), ("int4_qat", 700, 4e-4, True)]
for name, steps, peak, quant in stages:
    model.set_quant(quant)
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    for step in range(steps):
        idx = mx.random.randint(0, 2048, (96,))
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            rmse = mx.sqrt(mse(model, xva, yva)).item()
            print(json.dumps({"stage": name, "step": step, "lr": round(opt.learning_rate.item(), 7),
                              "train_mse": round(loss.item(), 5), "val_rmse_brix": round(rmse, 4),
                              "baseline_rmse_brix": round(base_rmse, 4)}))

model.set_quant(True)
final = mx.sqrt(mse(model, xva, yva)).item()
print(json.dumps({"summary": True, "int4_val_rmse_brix": round(final, 4),
                  "baseline_rmse_brix": round(base_rmse, 4), "ratio": round(final / base_rmse, 3)}))
