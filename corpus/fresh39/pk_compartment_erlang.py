# One-compartment oral-dose pharmacokinetic model, population fit with per-patient
# log-parameter offsets (MAP, Gaussian prior), log-normal observation noise.
# Every log line is an Erlang term terminated by '.'
import math, time, random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
P, DOSE, SD = 10, 100.0, 0.12
true_pop = [math.log(1.2), math.log(0.15), math.log(20.0)]   # ka, ke, V
true = [[m + random.gauss(0, 0.25) for m in true_pop] for _ in range(P)]
times = [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 12, 16, 24]
pid, tt, yy = [], [], []
def conc(lka, lke, lv, t):
    ka, ke, v = math.exp(lka), math.exp(lke), math.exp(lv)
    return DOSE * ka / (v * (ka - ke)) * (math.exp(-ke * t) - math.exp(-ka * t))
for p in range(P):
    for t in times:
        if random.random() < 0.8:
            pid.append(p); tt.append(t)
            yy.append(math.log(conc(*true[p], t)) + random.gauss(0, SD))
pid, tt, ly = mx.array(pid), mx.array(tt), mx.array(yy)

class PK(nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = mx.array([0.0, math.log(0.3), math.log(10.0)])
        self.eta = mx.zeros((P, 3))
    def __call__(self, pid, t):
        th = self.mu + self.eta[pid]
        ka, ke, v = mx.exp(th[:, 0]), mx.exp(th[:, 1]), mx.exp(th[:, 2])
        c = DOSE * ka / (v * (ka - ke)) * (mx.exp(-ke * t) - mx.exp(-ka * t))
        return mx.log(mx.maximum(c, 1e-6))

def objective(m):
    r = m(pid, tt) - ly
    return mx.mean(r * r) / (2 * SD * SD) + mx.sum(m.eta * m.eta) / (2 * 0.25 ** 2) / ly.size

model = PK()
vg = nn.value_and_grad(model, objective)
opt = optim.Adam(learning_rate=optim.exponential_decay(0.05, 0.999))
_, g = vg(model)
print("{gradcheck, [" + ", ".join(f"{{'{k}', {float(mx.abs(v).max()):.3e}}}" for k, v in tree_flatten(g)) + "]}.")
floor = 1.0 / (2.0) * (SD * SD) / (SD * SD)
print(f"{{setup, [{{observations, {ly.size}}}, {{patients, {P}}}, {{noise_sd, {SD}}}, {{noise_floor_term, {floor:.3f}}}]}}.")
t0 = time.time()
for step in range(1, 3001):
    loss, grads = vg(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50, 100) or step % 300 == 0:
        r = model(pid, tt) - ly
        rmse = math.sqrt(mx.mean(r * r).item())
        est = [math.exp(v) for v in model.mu.tolist()]
        th = (model.mu + model.eta).tolist()
        err = sum(abs(a - b) for row_a, row_b in zip(th, true) for a, b in zip(row_a, row_b)) / (3 * P)
        print(f"{{report, {step}, [{{objective, {loss.item():.5f}}}, {{log_rmse, {rmse:.4f}}}, "
              f"{{pop_ka, {est[0]:.3f}}}, {{pop_ke, {est[1]:.4f}}}, {{pop_v, {est[2]:.2f}}}, "
              f"{{mean_abs_logparam_err, {err:.4f}}}, {{wall_s, {time.time()-t0:.2f}}}]}}.")
print("{done, ok}.")
