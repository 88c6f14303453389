# E-scooter fleet rebalancing: will a kerbside parking corral be empty, fine or full one hour from now?
# Three seeds, each a fresh model; a progress bar per epoch and one table at the end.
import math, sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ("empty", "fine", "full")


def make(n, key):
    k = mx.random.split(key, 9)
    hour = mx.random.uniform(0, 24, (n,), key=k[0])
    weekday = (mx.random.uniform(0, 1, (n,), key=k[1]) < 5 / 7).astype(mx.float32)
    temp = mx.random.uniform(-5, 32, (n,), key=k[2])
    rain = mx.maximum(mx.random.normal((n,), key=k[3]) * 3 - 1, 0)
    elev = mx.random.uniform(0, 120, (n,), key=k[4])
    transit = (mx.random.uniform(0, 1, (n,), key=k[5]) < 0.3).astype(mx.float32)
    fill = mx.random.uniform(0, 1, (n,), key=k[6])
    commute = weekday * (mx.exp(-((hour - 8.5) ** 2) / 2) - mx.exp(-((hour - 17.5) ** 2) / 2))
    drift = (0.35 * commute * (1 - 2 * transit) - 0.0025 * (elev - 60)
             + 0.004 * (temp - 15) * (1 - transit) - 0.02 * rain)
    nxt = fill + drift + 0.07 * mx.random.normal((n,), key=k[7])
    label = (nxt > 0.12).astype(mx.int32) + (nxt > 0.88).astype(mx.int32)
    X = mx.stack([mx.sin(hour / 24 * 2 * math.pi), mx.cos(hour / 24 * 2 * math.pi), weekday,
                  (temp - 13) / 10, rain, (elev - 60) / 35, transit, (fill - 0.5) * 3], axis=1)
    return X, label


Xtr, ytr = make(9000, mx.random.key(101))
Xva, yva = make(2500, mx.random.key(102))
counts = [int((ytr == c).sum().item()) for c in range(3)]
majority = max(range(3), key=lambda c: counts[c])
maj_acc = (yva == majority).astype(mx.float32).mean().item()
print("class shares (train): " + ", ".join(f"{CLASSES[c]}={counts[c] / 9000:.1%}" for c in range(3)))


def bar(done, total, width=28):
    f = int(width * done / total)
    return "[" + "#" * f + "." * (width - f) + f"] {100 * done / total:5.1f}%"


def one_run(seed, epochs=6, bs=96):
    mx.random.seed(seed)
    model = nn.Sequential(nn.Linear(8, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3))
    opt = optim.RMSprop(learning_rate=2e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, label_smoothing=0.05, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    nb = math.ceil(9000 / bs)
    step, t0 = 0, time.time()
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(9000)
        run_loss = mx.array(0.0)
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            run_loss = run_loss + loss
            mx.eval(model.parameters(), opt.state, run_loss)
            step += 1
            if (b + 1) % 12 == 0 or b + 1 == nb:
                sys.stdout.write(f"\rseed {seed} ep {ep}/{epochs} {bar(b + 1, nb)} "
                                 f"step {step:4d} loss {run_loss.item() / (b + 1):.4f}")
                sys.stdout.flush()
        acc = (mx.argmax(model(Xva), axis=1) == yva).astype(mx.float32).mean().item()
        sys.stdout.write(f" | val acc {acc:.3f}\n")
    return step, run_loss.item() / nb, acc, time.time() - t0


rows = []
for seed in (0, 1, 2):
    rows.append((seed,) + one_run(seed))

print()
print(f"{'seed':>4} | {'steps':>5} | {'loss [nats]':>11} | {'val acc %':>9} | {'majority %':>10} | {'err×100':>7} | {'wall s':>6}")
print("-" * 72)
for seed, steps, loss, acc, wall in rows:
    print(f"{seed:>4} | {steps:>5} | {loss:>11.4f} | {100 * acc:>9.2f} | {100 * maj_acc:>10.2f} | {100 * (1 - acc):>7.2f} | {wall:>6.2f}")
accs = [r[3] for r in rows]
m = sum(accs) / len(accs)
s = math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1))
print("-" * 72)
print(f"{'mean':>4} | {'':>5} | {'':>11} | {100 * m:>6.2f}±{100 * s:.2f} | {100 * maj_acc:>10.2f} | {100 * (1 - m):>7.2f} |")
