"""Dipole-like vector regression on small 3-D point clouds with an
E(3)-equivariant readout (scalars 0e + vectors 1o) and equivariant dropout
on the irreps features, ported from e3nn-mlx's nn.Dropout."""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N_ATOMS = 12
N_TRAIN = 4096
N_VAL = 1024
BATCH = 64
STEPS = 400
LR = 3e-3


# ---------------------------------------------------------------- irreps ---
class Irreps:
    """Tiny stand-in for o3.Irreps: '16x0e + 8x1o' -> [(16, (0, 1)), (8, (1, -1))]."""

    def __init__(self, text):
        self.items = []
        for part in text.split("+"):
            mul, ir = part.strip().split("x")
            l, p = int(ir[:-1]), (1 if ir[-1] == "e" else -1)
            self.items.append((int(mul), (l, p)))

    def __iter__(self):
        return iter(self.items)

    @property
    def dim(self):
        return sum(mul * (2 * l + 1) for mul, (l, _) in self.items)

    def __repr__(self):
        return " + ".join(f"{m}x{l}{'e' if p == 1 else 'o'}" for m, (l, p) in self.items)


class Dropout(nn.Module):
    """Equivariant Dropout: one Bernoulli draw per irrep copy, shared over
    its 2l+1 components, scaled by 1/(1-p)."""

    def __init__(self, irreps, p) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        self.p = p

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps}, p={self.p})"

    def __call__(self, x):
        if not self.training:
            return x

        batch = x.shape[0]

        noises = []
        for mul, (l, _p) in self.irreps:
            dim = 2 * l + 1

            if self.p >= 1:
                noise = mx.zeros((batch, mul))
            elif self.p <= 0:
                noise = mx.ones((batch, mul))
            else:
                # Generate Bernoulli random variable and scale
                noise = mx.random.bernoulli(1 - self.p, (batch, mul)) / (1 - self.p)

            noise = mx.repeat(noise[:, :, None], dim, axis=2).reshape(batch, mul * dim)
            noises.append(noise)

        noise = mx.concatenate(noises, axis=-1)
        while noise.ndim < x.ndim:
            noise = noise[:, None]
        return x * noise


# ------------------------------------------------------------------ data ---
def make_clouds(n):
    """Random 'molecules': 12 points, anisotropic Gaussian blobs; each point
    carries a hidden charge that depends on its distance from the centroid.
    Target = sum_i q_i (r_i - centroid) (a dipole-like vector)."""
    scales = mx.random.uniform(0.6, 1.6, (n, 1, 3))
    pts = mx.random.normal((n, N_ATOMS, 3)) * scales
    pts = pts + mx.random.normal((n, 1, 3)) * 3.0
    rel = pts - pts.mean(axis=1, keepdims=True)
    r = mx.linalg.norm(rel, axis=-1, keepdims=True)
    q = mx.tanh(2.0 * (r - 1.3)) + 0.3 * mx.exp(-r * r)
    y = (q * rel).sum(axis=1)
    return pts, y


def random_rotations(n):
    """Uniform random rotation matrices from unit quaternions."""
    q = mx.random.normal((n, 4))
    q = q / mx.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return mx.stack([mx.stack(r, axis=-1) for r in rows], axis=-2)


# ----------------------------------------------------------------- model ---
class CloudDipoleNet(nn.Module):
    def __init__(self, n_rbf=10, hidden=48, n_scalar=16, n_vector=8, p_drop=0.1):
        super().__init__()
        self.centers = mx.linspace(0.0, 4.5, n_rbf)
        self.n_scalar, self.n_vector = n_scalar, n_vector
        self.radial = nn.Sequential(
            nn.Linear(n_rbf, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, n_scalar + n_vector),
        )
        self.drop = Dropout(f"{n_scalar}x0e + {n_vector}x1o", p_drop)
        self.gate = nn.Linear(n_scalar, n_vector)

    def __call__(self, pts):
        rel = pts - pts.mean(axis=1, keepdims=True)                 # (B,N,3)
        r = mx.sqrt((rel * rel).sum(axis=-1, keepdims=True) + 1e-9)  # (B,N,1)
        rbf = mx.exp(-((r - self.centers) ** 2) / 0.25)              # (B,N,R)
        f = self.radial(rbf)                                         # (B,N,S+V)
        s = f[..., : self.n_scalar].mean(axis=1)                     # (B,S)   0e
        c = f[..., self.n_scalar:]                                   # (B,N,V)
        v = (c[..., :, None] * rel[..., None, :]).sum(axis=1)        # (B,V,3) 1o
        B = pts.shape[0]
        feats = mx.concatenate([s, v.reshape(B, -1)], axis=-1)       # (B,S+3V)
        feats = self.drop(feats)
        s = feats[:, : self.n_scalar]
        v = feats[:, self.n_scalar:].reshape(B, self.n_vector, 3)
        w = self.gate(s)                                             # (B,V)
        return (w[..., None] * v).sum(axis=1)                        # (B,3)


def main():
    t0 = time.time()
    x_tr, y_tr = make_clouds(N_TRAIN)
    x_va, y_va = make_clouds(N_VAL)
    mx.eval(x_tr, y_tr, x_va, y_va)

    zero_mse = (y_va ** 2).sum(axis=-1).mean().item()
    print(f"train clouds {N_TRAIN}  val clouds {N_VAL}  points/cloud {N_ATOMS}")
    print(f"baseline (predict zero vector) val mse {zero_mse:.4f}")

    model = CloudDipoleNet()
    print(f"irreps dropout: {model.drop}")
    n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    print(f"params {n_params}")
    opt = optim.Adam(learning_rate=LR)

    def loss_fn(m, xb, yb):
        pred = m(xb)
        return ((pred - yb) ** 2).sum(axis=-1).mean()

    step_fn = nn.value_and_grad(model, loss_fn)

    model.train()
    running = 0.0
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if step % 25 == 0:
            model.eval()
            val = loss_fn(model, x_va, y_va).item()
            model.train()
            print(f"step {step:4d}  train mse {running / 25:.4f}  val mse {val:.4f}")
            running = 0.0

    model.eval()
    val = loss_fn(model, x_va, y_va).item()
    R = random_rotations(N_VAL)
    pred = model(x_va)
    pred_rot = model(mx.einsum("bij,bnj->bni", R, x_va))
    eq_err = mx.abs(pred_rot - mx.einsum("bij,bj->bi", R, pred)).max().item()
    print(f"final val mse {val:.4f}  (baseline {zero_mse:.4f}, ratio {val / zero_mse:.3f})")
    print(f"rotation equivariance max abs err {eq_err:.2e}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
