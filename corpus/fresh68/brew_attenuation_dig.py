# Homebrew fermentation: predict apparent attenuation (%) of a beer batch from
# yeast strain (learned embedding), mash temperature, original gravity, pitch
# rate, fermentation temperature and days in fermenter. Synthetic batches from
# a made-up response surface. Gradients accumulated over 4 micro-batches and
# averaged before each Adafactor step. Report imitates `dig` output.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

STRAINS = ["US-05", "S-04", "W-34/70", "Belle-Saison", "WLP001", "Nottingham"]
BASE = np.array([78.0, 71.0, 80.0, 88.0, 77.0, 76.0])
rs = np.random.default_rng(31)


def batches(n):
    s = rs.integers(0, 6, n)
    mash = rs.uniform(62.0, 70.0, n)            # deg C
    og = rs.uniform(1.035, 1.095, n)
    pitch = rs.lognormal(0.0, 0.45, n)          # relative to nominal
    ferm = rs.uniform(12.0, 24.0, n)
    days = rs.uniform(3.0, 21.0, n)
    potential = BASE[s] - 1.6 * (mash - 65.0) - 0.12 * ((og - 1.0) * 1000 - 50)
    kinetics = 1 - np.exp(-days * (0.25 + 0.02 * (ferm - 12)) * np.clip(pitch, 0.3, 2.0) ** 0.5)
    att = potential * kinetics + rs.normal(0, 1.2, n)
    x = np.stack([(mash - 66) / 2.3, (og - 1.065) / 0.017, np.log(pitch) / 0.45,
                  (ferm - 18) / 3.5, (days - 12) / 5.2], 1).astype(np.float32)
    return s.astype(np.int32), x, att.astype(np.float32)


class AttenuationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.strain = nn.Embedding(6, 8)
        self.l1 = nn.Linear(13, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, s, x):
        h = mx.concatenate([self.strain(s), x], axis=1)
        h = nn.silu(self.l1(h))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(1)


s_tr, x_tr, y_tr = batches(12000)
s_va, x_va, y_va = batches(2000)
MU, SD = float(y_tr.mean()), float(y_tr.std())
S_tr, X_tr, Y_tr = mx.array(s_tr), mx.array(x_tr), mx.array((y_tr - MU) / SD)
S_va, X_va = mx.array(s_va), mx.array(x_va)

mx.random.seed(5)
net = AttenuationNet()
opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)


def loss_fn(m, s, x, y):
    return nn.losses.huber_loss(m(s, x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(net, loss_fn)
MICRO, ACCUM, STEPS = 32, 4, 900


def valid():
    p = np.array(net(S_va, X_va)) * SD + MU
    err = p - y_va
    return float(np.sqrt((err ** 2).mean())), float(np.abs(err).mean())


l0, g0 = grad_fn(net, S_tr[:MICRO], X_tr[:MICRO], Y_tr[:MICRO])
gl = tree_flatten(g0)
nz = sum(1 for _, g in gl if mx.any(g != 0).item())
base_rmse = float(np.sqrt(((y_va - MU) ** 2).mean()))

t0 = time.time()
answers = []
order = rs.permutation(len(y_tr))
cursor = 0
window = []
for step in range(1, STEPS + 1):
    acc = None
    tot = 0.0
    for _ in range(ACCUM):
        if cursor + MICRO > len(order):
            order = rs.permutation(len(y_tr)); cursor = 0
        idx = mx.array(order[cursor:cursor + MICRO].astype(np.int32)); cursor += MICRO
        loss, g = grad_fn(net, S_tr[idx], X_tr[idx], Y_tr[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        tot = tot + loss
    acc = tree_map(lambda a: a / ACCUM, acc)
    opt.update(net, acc)
    mx.eval(net.parameters(), opt.state, tot)
    window.append(tot.item() / ACCUM)
    if step in (1, 10, 50) or step % 150 == 0:
        rmse, mae = valid()
        ttl = int(1000 * (time.time() - t0))
        answers.append(f"step{step:04d}.attenuation.brew.\t{ttl}\tIN\tTXT\t\"huber={np.mean(window[-50:]):.4f}\" \"valid_rmse_pct={rmse:.3f}\" \"valid_mae_pct={mae:.3f}\"")

probe_s = mx.array(np.array([0, 3, 1], np.int32))
probe_x = mx.array(np.array([[-0.43, 0.0, 0.0, -0.57, 1.5], [-0.43, 0.0, 0.0, 1.14, 1.5], [1.7, 1.76, -1.5, -0.57, -1.4]], np.float32))
probe = np.array(net(probe_s, probe_x)) * SD + MU
el = time.time() - t0
print(f"; <<>> DiG 9.18.24 <<>> @brewlab attenuation.brew TXT +train")
print(";; global options: +cmd")
print(";; Got answer:")
print(f";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: {len(y_tr)}")
print(f";; flags: qr rd ra; QUERY: 1, ANSWER: {len(answers)}, AUTHORITY: 0, ADDITIONAL: 1")
print()
print(";; OPT PSEUDOSECTION:")
print(f"; gradcheck: leaves={len(gl)} nonzero={nz} loss0={l0.item():.4f}")
print(f"; baseline: predict-mean valid_rmse_pct={base_rmse:.3f}; noise floor 1.200")
print(";; QUESTION SECTION:")
print(";attenuation.brew.\t\tIN\tTXT")
print()
print(";; ANSWER SECTION:")
for a in answers:
    print(a)
print()
print(";; ADDITIONAL SECTION:")
for name, p in zip(["US-05 64C 10d", "Belle-Saison warm 10d", "S-04 hot-mash big-OG underpitched 5d"], probe):
    print(f"probe.attenuation.brew.\t0\tIN\tTXT\t\"{name}\" \"{p:.1f}%\"")
print()
print(f";; Query time: {int(el * 1000)} msec")
print(f";; SERVER: 127.0.0.1#53(127.0.0.1) (UDP)")
print(f";; MSG SIZE  rcvd: {STEPS * ACCUM * MICRO}")
