"""Locate a local earthquake from P and S arrival picks at 14 stations.

Unknowns (raw arrays of an nn.Module): epicentre x/y (km east/north of the network
centre), depth through a softplus, origin time, log P velocity and log Vp/Vs.
Robust (Huber) misfit of travel-time residuals, because two picks are blunders.
Full-batch Adam, silent while fitting; the only output is one GeoJSON FeatureCollection.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
REF_LAT, REF_LON = 38.25, 15.60          # network centre
KM_PER_DEG_LAT = 111.19
KM_PER_DEG_LON = 111.19 * math.cos(math.radians(REF_LAT))

# stations scattered over ~60 km
N_STA = 14
sta_xy = rng.uniform(-30, 30, size=(N_STA, 2))
sta_elev_km = rng.uniform(0.0, 1.2, size=N_STA)

TRUE = dict(x=7.4, y=-11.2, z=9.3, t0=2.35, vp=5.9, vpvs=1.76)


def travel(x, y, z, xs, ys, zs, v):
    return np.sqrt((x - xs) ** 2 + (y - ys) ** 2 + (z + zs) ** 2) / v


tp = TRUE["t0"] + travel(TRUE["x"], TRUE["y"], TRUE["z"], sta_xy[:, 0], sta_xy[:, 1], sta_elev_km, TRUE["vp"])
ts = TRUE["t0"] + travel(TRUE["x"], TRUE["y"], TRUE["z"], sta_xy[:, 0], sta_xy[:, 1], sta_elev_km,
                         TRUE["vp"] / TRUE["vpvs"])
PICK_SD = 0.04
tp_obs = tp + PICK_SD * rng.standard_normal(N_STA)
ts_obs = ts + 2 * PICK_SD * rng.standard_normal(N_STA)
tp_obs[3] += 0.9      # a blunder: a late P pick on a noisy trace
ts_obs[9] -= 1.4      # a blunder: an S pick on a converted phase

XS = mx.array(sta_xy[:, 0].astype(np.float32))
YS = mx.array(sta_xy[:, 1].astype(np.float32))
ZS = mx.array(sta_elev_km.astype(np.float32))
TP = mx.array(tp_obs.astype(np.float32))
TS = mx.array(ts_obs.astype(np.float32))


class Hypocentre(nn.Module):
    def __init__(self, x0, y0, t0):
        super().__init__()
        self.x = mx.array(x0, dtype=mx.float32)
        self.y = mx.array(y0, dtype=mx.float32)
        self.zraw = mx.array(math.log(math.expm1(5.0)), dtype=mx.float32)   # 5 km start
        self.t0 = mx.array(t0, dtype=mx.float32)
        self.log_vp = mx.array(math.log(6.2), dtype=mx.float32)
        self.log_vpvs = mx.array(math.log(1.73), dtype=mx.float32)

    def depth(self):
        return nn.softplus(self.zraw)

    def __call__(self):
        vp = mx.exp(self.log_vp)
        vs = vp / mx.exp(self.log_vpvs)
        r = mx.sqrt((self.x - XS) ** 2 + (self.y - YS) ** 2 + (self.depth() + ZS) ** 2)
        return self.t0 + r / vp, self.t0 + r / vs


def huber(r, delta):
    a = mx.abs(r)
    return mx.where(a < delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def misfit(model):
    p, s = model()
    return mx.mean(huber(p - TP, 0.1)) + 0.5 * mx.mean(huber(s - TS, 0.2))


# start at the station with the earliest P pick, origin time 1 s before it
first = int(np.argmin(tp_obs))
model = Hypocentre(sta_xy[first, 0], sta_xy[first, 1], tp_obs[first] - 1.0)
mx.eval(model.parameters())

vg = nn.value_and_grad(model, misfit)
opt = optim.Adam(learning_rate=0.05)

_, g0 = vg(model)
zero_leaves = [k for k, g in tree_flatten(g0) if float(mx.abs(g)) == 0.0]

history = []
t_start = time.perf_counter()
ITERS = 4000
for it in range(1, ITERS + 1):
    loss, grads = vg(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (1, 10, 100) or it % 500 == 0:
        history.append({"iter": it, "misfit": round(loss.item(), 6)})
elapsed = time.perf_counter() - t_start

p, s = model()
res_p = np.array(p) - tp_obs
res_s = np.array(s) - ts_obs
fit = dict(x=model.x.item(), y=model.y.item(), z=model.depth().item(), t0=model.t0.item(),
           vp=math.exp(model.log_vp.item()), vpvs=math.exp(model.log_vpvs.item()))


def lonlat(x, y):
    return [round(REF_LON + x / KM_PER_DEG_LON, 5), round(REF_LAT + y / KM_PER_DEG_LAT, 5)]


features = [{
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": lonlat(fit["x"], fit["y"]) + [round(-fit["z"], 3)]},
    "properties": {
        "kind": "hypocentre",
        "depth_km": round(fit["z"], 3),
        "origin_time_s": round(fit["t0"], 4),
        "vp_km_s": round(fit["vp"], 4),
        "vp_vs": round(fit["vpvs"], 4),
        "epicentre_error_km": round(math.hypot(fit["x"] - TRUE["x"], fit["y"] - TRUE["y"]), 3),
        "depth_error_km": round(fit["z"] - TRUE["z"], 3),
        "true": {k: v for k, v in TRUE.items()},
        "rms_p_s": round(float(np.sqrt(np.mean(np.delete(res_p, 3) ** 2))), 4),
        "rms_s_s": round(float(np.sqrt(np.mean(np.delete(res_s, 9) ** 2))), 4),
        "pick_sd_s": PICK_SD,
        "gradcheck": {"leaves": len(tree_flatten(g0)), "zero": zero_leaves},
        "history": history,
        "elapsed_s": round(elapsed, 2),
    },
}]
for i in range(N_STA):
    features.append({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": lonlat(*sta_xy[i]) + [round(sta_elev_km[i], 3)]},
        "properties": {"kind": "station", "code": f"ST{i:02d}",
                       "res_p_s": round(float(res_p[i]), 3), "res_s_s": round(float(res_s[i]), 3)},
    })

print(json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
