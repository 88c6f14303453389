"""Hand papermaking: sheet grade (good / cockled / pinholed / thick-edged) from seven vat readings.

A classifier fitted at the old mill is moved to a second mill with LoRA+ (Hayou et al. 2024):
the up-projection B of every adapter learns 16x faster than the down-projection A,
done with one optimizer per group through optim.MultiOptimizer. The schedule is two
cosine cycles, each restarting from a zero learning rate. At the end the adapters are
folded into plain Linear layers and the folded classifier is checked against the adapted one.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["good", "cockled", "pinholed", "thick-edge"]
FLIP = 0.05


def vat_log(key, n, mill):
    k1, k2, k3 = mx.random.split(key, 3)
    x = mx.random.normal((n, 7), key=k1)
    consist, fibre, temp, couch, press, rh, aid = [x[:, i] for i in range(7)]
    if mill == "old":
        shift, rh_w, aid_w = 0.0, 1.2, 0.8
    else:
        shift, rh_w, aid_w = 0.6, -0.9, 1.6
    logits = mx.stack([
        1.0 - 0.5 * mx.abs(consist) - 0.3 * mx.abs(rh),
        rh_w * rh + 0.8 * press - 0.4 * fibre + shift,
        1.1 * fibre - aid_w * aid + 0.5 * temp - shift,
        1.3 * consist + 0.7 * couch - 0.5 * press,
    ], axis=1)
    y = mx.argmax(logits, axis=1)
    flip = mx.random.uniform(shape=(n,), key=k2) < FLIP
    y = mx.where(flip, mx.random.randint(0, 4, (n,), key=k3), y)
    return x, y


class SheetGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


class LoRALinear(nn.Module):
    def __init__(self, base, rank=4, alpha=8.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((rank, in_dims)) / in_dims**0.5
        self.lora_b = mx.zeros((out_dims, rank))

    def __call__(self, x):
        return self.base(x) + ((x @ self.lora_a.T) @ self.lora_b.T) * self.scale

    def folded(self):
        lin = nn.Linear(self.base.weight.shape[1], self.base.weight.shape[0])
        lin.weight = self.base.weight + self.scale * (self.lora_b @ self.lora_a)
        lin.bias = self.base.bias
        return lin


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def two_cycles(peak, cycle, warm):
    one = [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, cycle - warm, peak * 0.02)]
    return optim.join_schedules(one + one, [warm, cycle, cycle + warm])


def main():
    t0 = time.time()
    mx.random.seed(11)
    ks = mx.random.split(mx.random.key(5), 5)
    x_old, y_old = vat_log(ks[0], 6000, "old")
    x_new, y_new = vat_log(ks[1], 1500, "new")
    x_test, y_test = vat_log(ks[2], 3000, "new")
    x_test_old, y_test_old = vat_log(ks[3], 3000, "old")

    base = SheetGrader()
    mx.eval(base.parameters())
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 1200, 1e-4))
    fn = nn.value_and_grad(base, ce)
    for _ in range(1200):
        idx = mx.random.randint(0, x_old.shape[0], (128,))
        _, g = fn(base, x_old[idx], y_old[idx])
        opt.update(base, g)
        mx.eval(base.parameters(), opt.state)
    majority = max(mx.mean(y_test == c).item() for c in range(4))
    ceiling = 1.0 - FLIP * 3 / 4
    print(f"[old mill] accuracy {accuracy(base, x_test_old, y_test_old):.3f} "
          f"(label-noise ceiling ~{ceiling:.3f}), fitted in {time.time()-t0:.1f}s")
    before = accuracy(base, x_test, y_test)
    print(f"[new mill] before adapting: accuracy {before:.3f}, majority-class baseline {majority:.3f}")

    base.freeze()
    model = base
    model.l1 = LoRALinear(model.l1)
    model.l2 = LoRALinear(model.l2)
    model.head = LoRALinear(model.head)
    frozen_sum = sum(float(mx.sum(mx.abs(v))) for k, v in tree_flatten(model.parameters()) if "lora_" not in k)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"[lora+] trainable parameters {n_train}; B learns 16x faster than A")

    cycle, warm, ratio, peak_a = 300, 20, 16.0, 1.5e-3
    sched_a = two_cycles(peak_a, cycle, warm)
    sched_b = two_cycles(peak_a * ratio, cycle, warm)
    opt = optim.MultiOptimizer(
        [optim.Adam(learning_rate=sched_b), optim.Adam(learning_rate=sched_a)],
        [lambda path, w: path.endswith("lora_b")],
    )
    fn = nn.value_and_grad(model, ce)
    running = []
    for step in range(1, 2 * cycle + 1):
        idx = mx.random.randint(0, x_new.shape[0], (64,))
        loss, g = fn(model, x_new[idx], y_new[idx])
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        running.append(loss.item())
        if step % 50 == 0 or step in (1, cycle + 1):
            print(f"step {step:4d} | lr A {sched_a(step - 1).item():.2e} B {sched_b(step - 1).item():.2e} | "
                  f"train CE {sum(running)/len(running):.4f} | test acc {accuracy(model, x_test, y_test):.3f}")
            running = []
        if step == cycle:
            print(f"-- cycle 1 done: test CE {ce(model, x_test, y_test).item():.4f}; restarting the rate from 0")

    adapted = accuracy(model, x_test, y_test)
    frozen_after = sum(float(mx.sum(mx.abs(v))) for k, v in tree_flatten(model.parameters()) if "lora_" not in k)
    print(f"[lora+] frozen weights |sum| {frozen_sum:.5f} -> {frozen_after:.5f}")

    logits_live = model(x_test)
    folded = SheetGrader()
    folded.l1, folded.l2, folded.head = model.l1.folded(), model.l2.folded(), model.head.folded()
    gap = mx.max(mx.abs(folded(x_test) - logits_live)).item()
    n_folded = sum(v.size for _, v in tree_flatten(folded.parameters()))
    print(f"[fold] adapters folded into {n_folded} plain weights; max |logit diff| {gap:.2e}; "
          f"accuracy {accuracy(folded, x_test, y_test):.3f}")
    print(f"[summary] new mill accuracy {before:.3f} -> {adapted:.3f} "
          f"(majority {majority:.3f}, ceiling ~{ceiling:.3f}); {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
