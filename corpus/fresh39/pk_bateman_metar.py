# population pharmacokinetics: oral one-compartment (Bateman) model, 10 subjects
# every report is written as an aviation METAR line (because why not)
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
NS, DOSE = 10, 100.0
times = mx.array([0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24], dtype=mx.float32)
NT = times.shape[0]
weight = mx.random.uniform(50, 100, (NS,))                     # kg
true_lka = mx.log(1.2) + 0.25 * mx.random.normal((NS,))
true_lke = mx.log(0.15) + 0.20 * mx.random.normal((NS,))
true_lv = mx.log(30.0) + 0.8 * mx.log(weight / 70.0) + 0.10 * mx.random.normal((NS,))

def bateman(lka, lke, lv, t):
    ka, ke, v = mx.exp(lka)[:, None], mx.exp(lke)[:, None], mx.exp(lv)[:, None]
    return DOSE * ka / (v * (ka - ke)) * (mx.exp(-ke * t) - mx.exp(-ka * t))

clean = bateman(true_lka, true_lke, true_lv, times[None, :])
SIG = 0.12                                                     # proportional error sd
obs = clean * mx.exp(SIG * mx.random.normal(clean.shape))
log_obs = mx.log(obs)

class PopPK(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = mx.array([math.log(2.0), math.log(0.1), math.log(40.0)])  # typical values
        self.eta = nn.Embedding(NS, 3)                                          # subject effects
        self.eta.weight = mx.zeros((NS, 3))
        self.wt_on_v = nn.Linear(1, 1, bias=False)                              # allometric exponent
        self.wt_on_v.weight = mx.zeros((1, 1))
    def __call__(self, ids):
        e = self.eta(ids)
        lka = self.theta[0] + e[:, 0]
        lke = self.theta[1] + e[:, 1]
        lv = self.theta[2] + e[:, 2] + self.wt_on_v(mx.log(weight[ids] / 70.0)[:, None])[:, 0]
        return lka, lke, lv

model = PopPK()
ids = mx.arange(NS)
OMEGA = mx.array([0.3, 0.3, 0.3])

def objective(m):
    lka, lke, lv = m(ids)
    pred = bateman(lka, lke, lv, times[None, :])
    r = log_obs - mx.log(mx.maximum(pred, 1e-6))
    nll = 0.5 * mx.mean(r ** 2) / SIG ** 2
    prior = 0.5 * mx.sum((m.eta.weight / OMEGA) ** 2) / (NS * NT)
    return nll + prior

vg = nn.value_and_grad(model, objective)
_, g0 = vg(model)
print("RMK GRADCHECK " + " ".join(f"{k}={mx.max(mx.abs(v)).item():.2e}" for k, v in tree_flatten(g0)))
print(f"RMK NOISE error sd {SIG} on log scale: rmse_log~{SIG:.3f} and objective~0.50 if residuals match it (fitted subject effects absorb some, so a bit lower is expected)")

sched = optim.linear_schedule(0.0, 0.05, 100)
opt = optim.Adam(learning_rate=sched)
t0 = time.time()
for step in range(1, 2501):
    loss, g = vg(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50, 100, 200) or step % 300 == 0:
        lka, lke, lv = model(ids)
        pred = bateman(lka, lke, lv, times[None, :])
        rmse = mx.sqrt(mx.mean((log_obs - mx.log(pred)) ** 2)).item()
        e_ka = mx.mean(mx.abs(lka - true_lka)).item()
        e_ke = mx.mean(mx.abs(lke - true_lke)).item()
        e_v = mx.mean(mx.abs(lv - true_lv)).item()
        th = model.theta.tolist()
        allo = model.wt_on_v.weight.item()
        hhmm = time.gmtime()
        print(f"METAR PKFT {hhmm.tm_mday:02d}{hhmm.tm_hour:02d}{hhmm.tm_min:02d}Z STEP{step:04d} "
              f"OBJ{loss.item():07.4f} RMSE{rmse:.3f} KA{math.exp(th[0]):.2f} KE{math.exp(th[1]):.3f} "
              f"V{math.exp(th[2]):04.1f} ALLO{allo:+.2f} ERR/{e_ka:.3f}/{e_ke:.3f}/{e_v:.3f} "
              f"LR{float(opt.learning_rate):.3f} T{time.time()-t0:04.1f}S=")
print("METAR PKFT END NOSIG")
