# Pallet localisation at a loading dock: regress one box (x1, y1, x2, y2 in [0, 1])
# per synthetic 20x20 overhead frame with a small conv net, GIoU + L1 loss.
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(message)s")
logger = logging.getLogger("boxfit")

S = 20
rng = np.random.default_rng(3)


def make_frames(n):
    imgs = rng.normal(0.0, 0.25, (n, S, S, 1)).astype(np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for i in range(n):
        w, h = rng.integers(4, 11, 2)
        x1, y1 = rng.integers(0, S - w + 1), rng.integers(0, S - h + 1)
        imgs[i, y1:y1 + h, x1:x1 + w, 0] += 1.0
        # slats
        imgs[i, y1:y1 + h:2, x1:x1 + w, 0] += 0.3
        # forklift shadow clutter
        cy, cx = rng.integers(0, S, 2)
        imgs[i, max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2, 0] -= 0.6
        boxes[i] = [x1 / S, y1 / S, (x1 + w) / S, (y1 + h) / S]
    return mx.array(imgs), mx.array(boxes)


class BoxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32 * 5 * 5, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        x = nn.relu(self.fc(x.reshape(x.shape[0], -1)))
        raw = mx.sigmoid(self.head(x))
        # keep x2 >= x1, y2 >= y1
        x1 = mx.minimum(raw[:, 0], raw[:, 2])
        x2 = mx.maximum(raw[:, 0], raw[:, 2])
        y1 = mx.minimum(raw[:, 1], raw[:, 3])
        y2 = mx.maximum(raw[:, 1], raw[:, 3])
        return mx.stack([x1, y1, x2, y2], axis=1)


def box_iou_parts(p, t):
    ix1 = mx.maximum(p[:, 0], t[:, 0])
    iy1 = mx.maximum(p[:, 1], t[:, 1])
    ix2 = mx.minimum(p[:, 2], t[:, 2])
    iy2 = mx.minimum(p[:, 3], t[:, 3])
    inter = mx.maximum(ix2 - ix1, 0) * mx.maximum(iy2 - iy1, 0)
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    area_t = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = area_p + area_t - inter + 1e-7
    cx1 = mx.minimum(p[:, 0], t[:, 0])
    cy1 = mx.minimum(p[:, 1], t[:, 1])
    cx2 = mx.maximum(p[:, 2], t[:, 2])
    cy2 = mx.maximum(p[:, 3], t[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-7
    return inter / union, hull, union


def loss_fn(model, x, t):
    p = model(x)
    iou, hull, union = box_iou_parts(p, t)
    giou = iou - (hull - union) / hull
    return (1 - giou).mean() + 2.0 * mx.abs(p - t).mean()


@dataclass
class TrainConfig:
    steps: int = 200
    batch_size: int = 32
    lr: float = 2e-3
    logging_steps: int = 20
    save_steps: int = 80
    checkpoint_dir: str = ""


class BoxTrainer:
    def __init__(self, model, config, train, valid):
        self.model = model
        self.config = config
        self.train_x, self.train_t = train
        self.valid_x, self.valid_t = valid
        sched = optim.cosine_decay(config.lr, config.steps, 1e-4)
        self.optimizer = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        self.global_step = 0
        self.step_fn = nn.value_and_grad(model, loss_fn)

    def evaluate(self):
        p = self.model(self.valid_x)
        iou, _, _ = box_iou_parts(p, self.valid_t)
        return iou.mean().item(), (iou > 0.5).mean().item()

    def save_checkpoint(self, name):
        checkpoint_path = Path(self.config.checkpoint_dir) / name
        checkpoint_path.mkdir(parents=True, exist_ok=True)
        self.model.save_weights(str(checkpoint_path / "model.safetensors"))

        # Save optimizer state
        optimizer_path = checkpoint_path / "optimizer.safetensors"
        mx.save_safetensors(
            str(optimizer_path),
            {"optimizer": self.optimizer.state},
        )

        state_path = checkpoint_path / "trainer_state.json"
        with open(state_path, "w") as f:
            json.dump({"global_step": self.global_step}, f)
        logger.info(f"Checkpoint saved to {checkpoint_path}")

    def train(self):
        n = self.train_x.shape[0]
        bs = self.config.batch_size
        running, t0 = 0.0, time.time()
        while self.global_step < self.config.steps:
            perm = mx.array(rng.permutation(n))
            for s in range(n // bs):
                idx = perm[s * bs:(s + 1) * bs]
                loss, grads = self.step_fn(self.model, self.train_x[idx], self.train_t[idx])
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state, loss)
                running += loss.item()
                self.global_step += 1
                if self.global_step % self.config.logging_steps == 0:
                    miou, hit = self.evaluate()
                    logger.info(
                        f"step {self.global_step:4d} | loss {running / self.config.logging_steps:.4f} | "
                        f"val mIoU {miou:.3f} | IoU>0.5 {hit:.3f} | {time.time() - t0:.1f}s"
                    )
                    running = 0.0
                if self.global_step % self.config.save_steps == 0:
                    self.save_checkpoint(f"checkpoint-{self.global_step}")
                if self.global_step >= self.config.steps:
                    break


def main():
    mx.random.seed(0)
    train = make_frames(1600)
    valid = make_frames(400)
    centre = mx.broadcast_to(mx.array([[0.25, 0.25, 0.75, 0.75]]), valid[1].shape)
    base_iou, _, _ = box_iou_parts(centre, valid[1])
    logger.info(f"frames train=1600 valid=400 | centre-box baseline mIoU {base_iou.mean().item():.3f}")
    cfg = TrainConfig(checkpoint_dir=tempfile.mkdtemp())
    trainer = BoxTrainer(BoxNet(), cfg, train, valid)
    trainer.train()
    miou, hit = trainer.evaluate()
    logger.info(f"final val mIoU {miou:.3f} | IoU>0.5 {hit:.3f} | steps {trainer.global_step}")


if __name__ == "__main__":
    main()
