"""Bend a BK7 singlet (with an aspheric front surface) so that it focuses
on a fixed sensor plane: differentiable meridional ray tracing, the
optimiser only sees the RMS spot sizes (a tiny 'lens design' merit run).

Units: millimetres.  Three design variables in a plain dict.
"""
import math
import time

import mlx.core as mx
import mlx.optimizers as optim

N_GLASS = 1.5168          # BK7 @ 587.6 nm
THICK = 6.0               # centre thickness
Z_IMG = 6.0 + 48.0        # sensor plane, 48 mm behind the back vertex
APERTURE = 9.0            # semi-diameter of the entrance beam
FIELDS_DEG = [0.0, 2.0]
SCALE = 0.02              # design variables are curvature / SCALE


def sag(y, c, k):
    return c * y * y / (1.0 + mx.sqrt(mx.maximum(1.0 - (1.0 + k) * c * c * y * y, 1e-9)))


def dsag(y, c, k):
    root = mx.sqrt(mx.maximum(1.0 - (1.0 + k) * c * c * y * y, 1e-9))
    return c * y / root


def hit(y0, z0, uy, uz, z_vertex, c, k):
    """Newton solve for the ray parameter t at which the ray meets the surface."""
    t = (z_vertex - z0) / uz
    for _ in range(4):
        y = y0 + t * uy
        f = z0 + t * uz - z_vertex - sag(y, c, k)
        df = uz - dsag(y, c, k) * uy
        t = t - f / df
    return y0 + t * uy, z0 + t * uz


def refract(uy, uz, y, c, k, n1, n2):
    # surface normal pointing back toward the incoming light
    ny, nz = dsag(y, c, k), -mx.ones_like(y)
    norm = mx.sqrt(ny * ny + nz * nz)
    ny, nz = ny / norm, nz / norm
    cos_i = -(ny * uy + nz * uz)
    eta = n1 / n2
    cos_t = mx.sqrt(mx.maximum(1.0 - eta * eta * (1.0 - cos_i * cos_i), 1e-9))
    ty = eta * uy + (eta * cos_i - cos_t) * ny
    tz = eta * uz + (eta * cos_i - cos_t) * nz
    return ty, tz


def trace(p, field_deg, n_rays=41):
    c1, c2, k1 = p["c1"] * SCALE, p["c2"] * SCALE, p["k1"]
    a = math.radians(field_deg)
    y0 = mx.linspace(-APERTURE, APERTURE, n_rays) - 10.0 * math.tan(a)
    z0 = mx.full(y0.shape, -10.0)
    uy, uz = mx.full(y0.shape, math.sin(a)), mx.full(y0.shape, math.cos(a))
    y, z = hit(y0, z0, uy, uz, 0.0, c1, k1)
    uy, uz = refract(uy, uz, y, c1, k1, 1.0, N_GLASS)
    y, z = hit(y, z, uy, uz, THICK, c2, mx.array(0.0))
    uy, uz = refract(uy, uz, y, c2, mx.array(0.0), N_GLASS, 1.0)
    return y + (Z_IMG - z) / uz * uy          # ray heights on the sensor


def merit(p):
    total = 0.0
    spots = []
    for f in FIELDS_DEG:
        yi = trace(p, f)
        rms2 = ((yi - yi.mean()) ** 2).mean()
        spots.append(rms2)
        total = total + rms2
    return total, spots


# start: a symmetric biconvex lens that focuses well short of the sensor
params = {"c1": mx.array(1.6), "c2": mx.array(-1.6), "k1": mx.array(0.0)}

value_and_grad = mx.value_and_grad(lambda p: merit(p)[0])
_, g0 = value_and_grad(params)
print("GRADCHK  " + "  ".join(f"d/d{k}={v.item():+.3e}" for k, v in g0.items()))
assert all(abs(v.item()) > 0 for v in g0.values())

steps = 1500
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-2, steps, 1e-3))
print(f"{'CYCLE':>6} {'MERIT mm^2':>12} {'RMS 0deg um':>12} {'RMS 2deg um':>12} "
      f"{'R1 mm':>9} {'R2 mm':>9} {'K1':>7}")
t0 = time.time()
for cycle in range(steps + 1):
    if cycle > 0:
        m, g = value_and_grad(params)
        params = opt.apply_gradients(g, params)
        mx.eval(params, opt.state)
    if cycle % 150 == 0:
        m, spots = merit(params)
        r1 = 1.0 / (params["c1"].item() * SCALE)
        r2 = 1.0 / (params["c2"].item() * SCALE)
        print(f"{cycle:6d} {m.item():12.5f} {1e3 * math.sqrt(spots[0].item()):12.1f} "
              f"{1e3 * math.sqrt(spots[1].item()):12.1f} {r1:9.2f} {r2:9.2f} {params['k1'].item():7.3f}")
print(f"DONE {steps} cycles in {time.time() - t0:.1f}s")
