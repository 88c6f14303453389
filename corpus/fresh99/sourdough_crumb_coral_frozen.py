"""Sourdough crumb grading (grades 1..5) from bake-log sensor readings.

Stage 1: a denoising autoencoder learns a 6-d code of the 12 readings from
unlabelled bakes.  Stage 2: the encoder is frozen and a small CORAL ordinal
head (one shared score, four learned cut-points) is trained on the graded
bakes.  Both stages use a compiled step whose model and optimizer state are
passed through mx.compile(inputs=..., outputs=...).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = 5
RNG = np.random.default_rng(11)
MIX = RNG.normal(size=(3, 12)).astype(np.float32)  # how the latents show up in the 12 readings


def make_bakes(n, rng):
    # latent: hydration, fermentation vigour, oven spring
    z = rng.normal(size=(n, 3)).astype(np.float32)
    x = np.tanh(z @ MIX) + 0.3 * np.sin(2.0 * z[:, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]])
    x = x + rng.normal(scale=0.25, size=x.shape)
    quality = 1.1 * z[:, 0] + 0.8 * z[:, 1] - 0.5 * z[:, 1] ** 2 + 0.7 * z[:, 2] + rng.normal(scale=0.45, size=n)
    cuts = np.array([-1.6, -0.6, 0.3, 1.2])
    grade = (quality[:, None] > cuts[None, :]).sum(1)  # 0..4, shown as 1..5
    return x.astype(np.float32), grade.astype(np.int32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 128)
        self.l2 = nn.Linear(128, 6)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(6, 128), nn.SiLU(), nn.Linear(128, 12))

    def __call__(self, x):
        return self.decoder(self.encoder(x))


class CoralGrader(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.hidden = nn.Linear(6, 16)
        self.score = nn.Linear(16, 1, bias=False)
        self.cuts = mx.linspace(1.5, -1.5, GRADES - 1)  # one bias per "grade > k" logit

    def __call__(self, x):
        h = nn.gelu(self.hidden(self.encoder(x)))
        return self.score(h) + self.cuts  # (n, GRADES-1) cumulative logits


def coral_loss(model, x, y):
    logits = model(x)
    levels = (y[:, None] > mx.arange(GRADES - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, levels, with_logits=True, reduction="mean")


def dae_loss(model, x, noise):
    return nn.losses.mse_loss(model(x + noise), x)


def compiled_step(model, opt, loss_fn):
    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    def _step(*args):
        loss, grads = vg(model, *args)
        opt.update(model, grads)
        return loss

    step = mx.compile(_step, inputs=state, outputs=state)
    return step, state


def predict_grade(model, x):
    return (mx.sigmoid(model(x)) > 0.5).sum(axis=1)


def quadratic_kappa(y, p, k=GRADES):
    conf = np.zeros((k, k))
    np.add.at(conf, (y, p), 1)
    w = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2 / (k - 1) ** 2
    expected = np.outer(conf.sum(1), conf.sum(0)) / conf.sum()
    return 1.0 - (w * conf).sum() / (w * expected).sum()


def box_row(cells, widths):
    return "│" + "│".join(f" {c:>{w}} " for c, w in zip(cells, widths)) + "│"


def main():
    mx.random.seed(11)
    x_unl, _ = make_bakes(60000, RNG)
    x_tr, y_tr = make_bakes(4000, RNG)
    x_va, y_va = make_bakes(1500, RNG)
    mu, sd = x_unl.mean(0), x_unl.std(0)
    x_unl, x_tr, x_va = [(a - mu) / sd for a in (x_unl, x_tr, x_va)]
    print(f"bakes: {len(x_unl)} unlabelled, {len(x_tr)} graded train, {len(x_va)} graded valid")
    print("grade shares (valid):", " ".join(f"{g + 1}:{100 * np.mean(y_va == g):.1f}%" for g in range(GRADES)))

    # ---- stage 1: denoising autoencoder on unlabelled bakes
    ae = Autoencoder()
    mx.eval(ae.parameters())
    opt1 = optim.Adam(learning_rate=1e-3)
    step1, state1 = compiled_step(ae, opt1, dae_loss)
    xu = mx.array(x_unl)
    t0 = time.perf_counter()
    for epoch in range(1, 13):
        perm = mx.array(RNG.permutation(len(x_unl)))
        tot = 0.0
        for i in range(0, len(x_unl) - 255, 256):
            xb = xu[perm[i:i + 256]]
            loss = step1(xb, 0.3 * mx.random.normal(xb.shape))
            mx.eval(state1, loss)
            tot += loss.item()
        rec = nn.losses.mse_loss(ae(mx.array(x_va)), mx.array(x_va)).item()
        print(f"[stage 1] epoch {epoch}  denoise mse {tot / (len(x_unl) // 256):.4f}  "
              f"clean recon mse (valid) {rec:.4f}  {time.perf_counter() - t0:.1f}s")

    # ---- stage 2: freeze the encoder, train the ordinal head
    enc = ae.encoder
    enc.freeze()
    frozen_before = {k: np.array(v) for k, v in tree_flatten(enc.parameters())}
    grader = CoralGrader(enc)
    mx.eval(grader.parameters())
    n_train = sum(v.size for _, v in tree_flatten(grader.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(grader.parameters()))
    xt, yt, xv = mx.array(x_tr), mx.array(y_tr), mx.array(x_va)

    _, g0 = nn.value_and_grad(grader, coral_loss)(grader, xt[:64], yt[:64])
    leaves = tree_flatten(g0)
    print(f"[stage 2] trainable {n_train} of {n_all} weights; first-step grad leaves: "
          + ", ".join(f"{k}={float(mx.abs(v).max()):.2e}" for k, v in leaves))

    opt2 = optim.AdamW(learning_rate=optim.cosine_decay(5e-3, 60 * (len(x_tr) // 50), 2e-4), weight_decay=1e-3)
    step2, state2 = compiled_step(grader, opt2, coral_loss)

    widths = (5, 9, 9, 7, 10, 6)
    head = ("epoch", "train_bce", "valid_mae", "qwk", "far_miss%", "secs")
    print("┌" + "┬".join("─" * (w + 2) for w in widths) + "┐")
    print(box_row(head, widths))
    print("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")

    def report(epoch, tr):
        p = np.array(predict_grade(grader, xv))
        mae = np.abs(p - y_va).mean()
        qwk = quadratic_kappa(y_va, p)
        far = 100.0 * np.mean(np.abs(p - y_va) >= 2)
        print(box_row((epoch, "-" if tr is None else f"{tr:.4f}", f"{mae:.3f}", f"{qwk:.3f}",
                       f"{far:.2f}", f"{time.perf_counter() - t0:.1f}"), widths))

    t0 = time.perf_counter()
    report(0, None)
    for epoch in range(1, 61):
        perm = mx.array(RNG.permutation(len(x_tr)))
        tot = 0.0
        for i in range(0, len(x_tr), 50):
            idx = perm[i:i + 50]
            loss = step2(xt[idx], yt[idx])
            mx.eval(state2, loss)
            tot += loss.item()
        if epoch in (1, 2, 3, 5, 10, 20, 40, 60):
            report(epoch, tot / (len(x_tr) // 50))
    print("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max()) for k, v in tree_flatten(enc.parameters()))
    print(f"qwk = quadratic weighted kappa (1 = perfect agreement, 0 = chance); "
          f"frozen encoder max change {drift:.1e}")


if __name__ == "__main__":
    main()
