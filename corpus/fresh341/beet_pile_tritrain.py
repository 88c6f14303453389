"""Sugar-beet storage pile condition with tri-training.

Three condition classes (sound / sprouting / rotting) from 8 probe readings
taken in the clamp (core temperature, CO2, humidity, days stored, ...).
Only 90 probe holes were opened and inspected; 5000 readings were never
inspected.  Three small nets are first fitted on bootstrap resamples of the
inspected set; then, round after round, each net is refitted on the inspected
set plus readings that the OTHER two nets agree on: per class a random draw of
60 x round of the agreed readings (a pair whose agreement is mistaken
too often on the inspected holes is not used).  Each net is rebuilt from a
fresh initialisation every round.  Each refit uses a fresh SGD optimizer with its own
cosine schedule, so every round starts again at the peak learning rate.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 5
N_LAB, N_UNL, N_TEST = 90, 5000, 2000
N_FEAT, N_CLASS = 8, 3
ROUNDS = 6
EPOCHS_INIT, EPOCHS_ROUND = 60, 20
BATCH = 64
WIDTHS = (32, 40, 48)
MAX_PEER_ERR = 0.35
QUOTA = 60


def make_pile(rng, n):
    rig = np.random.default_rng(3)
    centres = rig.normal(0, 2.5, (N_CLASS * 3, 3))
    lift = rig.normal(0, 1, (3, N_FEAT)) / 1.8
    y = rng.integers(0, N_CLASS, n)
    pocket = y * 3 + rng.integers(0, 3, n)
    z = centres[pocket] + rng.normal(0, 0.5, (n, 3))
    x = np.tanh(z @ lift) * 2.0 + 0.3 * (z @ lift) + rng.normal(0, 0.2, (n, N_FEAT))
    return x.astype(np.float32), y.astype(np.int32)


class ProbeNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.a = nn.Linear(N_FEAT, width)
        self.b = nn.Linear(width, width)
        self.c = nn.Linear(width, N_CLASS)

    def __call__(self, x):
        return self.c(nn.relu(self.b(nn.relu(self.a(x)))))


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def fit(model, x, y, epochs, peak_lr):
    n = x.shape[0]
    steps_per_epoch = max(1, int(np.ceil(n / BATCH)))
    sched = optim.cosine_decay(peak_lr, epochs * steps_per_epoch, peak_lr * 0.02)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4)
    vg = nn.value_and_grad(model, ce_loss)
    first = last = None
    for ep in range(epochs):
        order = np.random.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n, BATCH):
            idx = mx.array(order[s:s + BATCH])
            loss, g = vg(model, x[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        if first is None:
            first = tot / cnt
        last = tot / cnt
    return first, last


def predict(model, x):
    return np.array(mx.argmax(model(x), axis=1))


def main():
    t0 = time.time()
    np.random.seed(SEED)
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    x_all, y_all = make_pile(rng, N_LAB + N_UNL + N_TEST)
    mu, sd = x_all.mean(0), x_all.std(0)
    x_all = (x_all - mu) / sd
    x_lab_np, y_lab_np = x_all[:N_LAB], y_all[:N_LAB]
    x_unl_np, y_unl_hidden = x_all[N_LAB:N_LAB + N_UNL], y_all[N_LAB:N_LAB + N_UNL]
    x_test, y_test = mx.array(x_all[-N_TEST:]), y_all[-N_TEST:]
    x_lab, y_lab = mx.array(x_lab_np), mx.array(y_lab_np)
    x_unl = mx.array(x_unl_np)
    shares = np.bincount(y_test, minlength=N_CLASS) / N_TEST
    print(f"inspected {N_LAB}, uninspected {N_UNL}, test {N_TEST}; "
          f"majority-class acc {shares.max():.3f}")

    nets = [ProbeNet(w) for w in WIDTHS]
    for i, net in enumerate(nets):
        boot = np.random.randint(0, N_LAB, N_LAB)
        first, last = fit(net, x_lab[mx.array(boot)], y_lab[mx.array(boot)], EPOCHS_INIT, 0.05)
        acc = (predict(net, x_test) == y_test).mean()
        print(f"init net {i}: bootstrap fit loss {first:.3f} -> {last:.4f}, test acc {acc:.3f}")

    def vote_acc():
        votes = np.stack([predict(n, x_test) for n in nets], 1)
        maj = np.array([np.bincount(v, minlength=N_CLASS).argmax() for v in votes])
        return (maj == y_test).mean()

    acc0 = vote_acc()
    print(f"round 0 | ensemble vote acc {acc0:.3f}")
    for r in range(1, ROUNDS + 1):
        preds_unl = [predict(n, x_unl) for n in nets]
        preds_lab = [predict(n, x_lab) for n in nets]
        picks = [None] * 3
        for i in range(3):
            j, k = [m for m in range(3) if m != i]
            both = preds_lab[j] == preds_lab[k]
            err = ((preds_lab[j] != y_lab_np) & both).sum() / max(both.sum(), 1)
            sure = preds_unl[j] == preds_unl[k]
            if err > MAX_PEER_ERR or sure.sum() == 0:
                continue
            chosen = []
            for c in range(N_CLASS):
                cand = np.nonzero(sure & (preds_unl[j] == c))[0]
                if len(cand) > QUOTA * r:
                    cand = np.random.choice(cand, QUOTA * r, replace=False)
                chosen.append(cand)
            picks[i] = (np.concatenate(chosen), err)
        changed = False
        for i in range(3):
            if picks[i] is None:
                print(f"round {r} net {i}: no pseudo set this round, weights kept")
                continue
            idx, err = picks[i]
            j, k = [m for m in range(3) if m != i]
            pseudo = preds_unl[j][idx]
            prec = (pseudo == y_unl_hidden[idx]).mean()
            xs = mx.concatenate([x_lab, x_unl[mx.array(idx)]], axis=0)
            ys = mx.concatenate([y_lab, mx.array(pseudo.astype(np.int32))], axis=0)
            nets[i] = ProbeNet(WIDTHS[i])
            first, last = fit(nets[i], xs, ys, EPOCHS_ROUND, 0.05)
            acc = (predict(nets[i], x_test) == y_test).mean()
            print(f"round {r} net {i}: +{len(idx)} pseudo (peer err on inspected {err:.3f}, "
                  f"hidden precision {prec:.3f}) | refit loss {first:.3f} -> {last:.3f} "
                  f"| test acc {acc:.3f}")
            changed = True
        print(f"round {r} | ensemble vote acc {vote_acc():.3f}")
        if not changed:
            print(f"no net accepted a new pseudo set in round {r}; stopping")
            break

    print(f"final ensemble vote acc {vote_acc():.3f} | inspected-only ensemble {acc0:.3f} | majority-class {shares.max():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
