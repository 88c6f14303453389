"""Fit the two pKa values and the analyte concentration of a diprotic weak acid
from a (simulated) pH-meter titration against NaOH.

Forward model (closed form, volume of base as a function of the measured pH):
    h = 10^-pH, oh = Kw / h
    a1 = K1 h / D, a2 = K1 K2 / D, D = h^2 + K1 h + K1 K2
    Vb = Va * (Ca (a1 + 2 a2) - h + oh) / (Cb + h - oh)
We regress the delivered burette volume (mL) from the logged pH readings.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

KW = 1e-14
VA = 25.0        # mL of acid in the beaker
CB = 0.100       # mol/L NaOH in the burette
TRUE = dict(pka1=2.95, pka2=5.41, ca=0.0480)   # "unknown" sample (phthalic-acid like)


def volume_of_base(ph, pka1, pka2, ca):
    h = mx.power(10.0, -ph)
    oh = KW / h
    k1 = mx.power(10.0, -pka1)
    k2 = mx.power(10.0, -pka2)
    d = h * h + k1 * h + k1 * k2
    n_bound = ca * (k1 * h + 2.0 * k1 * k2) / d
    return VA * (n_bound - h + oh) / (CB + h - oh)


N_REP = 8          # replicate titrations (pipetting error: each aliquot has its own Ca)


def simulate(rng, n=700):
    phs, vols, reps, cas = [], [], [], []
    for r in range(N_REP):
        ca_r = TRUE["ca"] * (1.0 + rng.normal(0.0, 0.02))
        # autotitrator log: readings between pH 2.6 and 11.0 (past the 2nd equivalence point)
        ph = np.sort(rng.uniform(2.6, 11.0, size=n)).astype(np.float32)
        v = np.array(volume_of_base(mx.array(ph), TRUE["pka1"], TRUE["pka2"], ca_r))
        keep = (v > 0.05) & (v < 30.0)           # the burette holds 30 mL
        ph, v = ph[keep], v[keep]
        v = v + rng.normal(0.0, 0.03, size=v.shape)   # 0.03 mL reading noise
        phs.append(ph); vols.append(v.astype(np.float32)); reps.append(np.full(ph.shape, r, np.int32))
        cas.append(ca_r)
    return (mx.array(np.concatenate(phs)), mx.array(np.concatenate(vols)),
            mx.array(np.concatenate(reps)), np.array(cas))


class DiproticAcid(nn.Module):
    def __init__(self):
        super().__init__()
        # starting guesses a chemist would write down before the run
        self.pka = mx.array([3.5, 6.0])
        self.log_ca = mx.full((N_REP,), math.log(0.03))

    def __call__(self, ph, rep):
        ca = mx.exp(self.log_ca)[rep]
        return volume_of_base(ph, self.pka[0], self.pka[1], ca)


def loss_fn(model, ph, v, rep):
    return mx.mean(mx.square(model(ph, rep) - v))


def main():
    rng = np.random.default_rng(7)
    ph, v, rep, true_ca = simulate(rng)
    model = DiproticAcid()
    mx.eval(model.parameters())

    value_and_grad = nn.value_and_grad(model, loss_fn)
    loss0, g0 = value_and_grad(model, ph, v, rep)
    mx.eval(loss0, g0)
    leaves = tree_flatten(g0)
    zero = [k for k, gg in leaves if float(mx.max(mx.abs(gg))) == 0.0]
    print(f"## titration of {VA:.0f} mL unknown with {CB:.3f} M NaOH, {N_REP} replicates, "
          f"{ph.size} readings, reading noise 0.030 mL")
    print(f"## gradient leaves: {len(leaves)}, all-zero leaves: {zero if zero else 'none'}")

    iters = 12000
    sched = optim.cosine_decay(0.05, iters, end=1e-3)
    opt = optim.Adam(learning_rate=sched)
    t0 = time.perf_counter()
    for it in range(1, iters + 1):
        loss, grads = value_and_grad(model, ph, v, rep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 1000 == 0:
            rmse = math.sqrt(loss.item())
            p1, p2 = model.pka.tolist()
            ca = float(mx.mean(mx.exp(model.log_ca)))
            print(f"T+{time.perf_counter() - t0:06.2f}s  ITER {it:05d}  resid-rms={rmse:7.4f} mL  "
                  f"pKa=({p1:5.3f}, {p2:5.3f})  mean Ca={1000 * ca:6.2f} mM")

    p1, p2 = model.pka.tolist()
    ca = np.exp(np.array(model.log_ca))
    print("\n  quantity      fitted     true")
    print(f"  pKa1        {p1:8.3f} {TRUE['pka1']:8.3f}")
    print(f"  pKa2        {p2:8.3f} {TRUE['pka2']:8.3f}")
    for r in range(N_REP):
        print(f"  Ca[{r}] (mM)  {1000 * ca[r]:8.2f} {1000 * true_ca[r]:8.2f}   "
              f"2nd equiv. {2 * ca[r] * VA / CB:6.2f} mL")


if __name__ == "__main__":
    main()
