"""Per-example image transforms on uint8 `[H, W, C]` numpy arrays (run in grain workers).

Training: `crop_flip` (pad 4, random crop back to the size, horizontal flip: the CIFAR
recipe) or `resize_crop_flip` (shorter side to 256/224 * size, random crop `size`,
flip: the ImageNet recipe). Evaluation: the same resize with a centre crop, or nothing.
"""

import numpy as np
from PIL import Image

from nlx.errors import ConfigError

KINDS = ("none", "crop_flip", "resize_crop_flip")


def resize_shorter(image: np.ndarray, size: int) -> np.ndarray:
  h, w = image.shape[:2]
  scale = size / min(h, w)
  new = (max(size, round(w * scale)), max(size, round(h * scale)))
  if (new[1], new[0]) == (h, w):
    return image
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize(new, Image.BILINEAR))
  return out[..., None] if squeeze else out


def crop(image: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
  return image[top:top + h, left:left + w]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
  h, w = image.shape[:2]
  return crop(image, (h - size) // 2, (w - size) // 2, size, size)


def random_crop_flip(image: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  top, left = rng.integers(0, 2 * pad + 1, size=2)
  out = crop(padded, top, left, h, w)
  return out[:, ::-1] if rng.random() < 0.5 else out


def resize_size(image_size: int) -> int:
  return round(image_size * 256 / 224)


def train_transform(kind: str, image_size: int):
  """Returns `f(image, rng) -> image` for grain's `random_map`."""
  if kind not in KINDS:
    raise ConfigError(f"data.augment must be one of {KINDS}, got {kind!r}")
  if kind == "resize_crop_flip" and image_size <= 0:
    raise ConfigError("data.augment='resize_crop_flip' needs data.image_size > 0 (e.g. 224)")

  def f(image, rng):
    if kind == "crop_flip":
      return np.ascontiguousarray(random_crop_flip(fixed_size(image, image_size), rng))
    if kind == "resize_crop_flip":
      image = resize_shorter(image, resize_size(image_size))
      h, w = image.shape[:2]
      top, left = rng.integers(0, h - image_size + 1), rng.integers(0, w - image_size + 1)
      out = crop(image, top, left, image_size, image_size)
      return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)
    return fixed_size(image, image_size)
  return f


def eval_transform(kind: str, image_size: int):
  def f(image):
    if kind == "resize_crop_flip":
      return np.ascontiguousarray(center_crop(resize_shorter(image, resize_size(image_size)),
                                              image_size))
    return fixed_size(image, image_size)
  return f


def fixed_size(image: np.ndarray, image_size: int) -> np.ndarray:
  """Resizes to `image_size` x `image_size` when set and different; else unchanged."""
  if image_size <= 0 or image.ndim != 3 or image.shape[:2] == (image_size, image_size):
    return image
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize((image_size, image_size), Image.BILINEAR))
  return out[..., None] if squeeze else out
