"""Image augmentation in plain torch ops (no torchvision: its wheels do not load with our torch).

`fixed` (resize, normalize) applies to every sample, training or not; `random` (crop, flips,
rotation, colour jitter, erasing) to training batches only, drawing every choice from the
generator it is given, so a seed reproduces it. Images are [B, C, H, W] floats; when `masks`
is set the target is a [B, H, W] class mask and gets the same geometric transform (nearest).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    resize: int = 0  # pixels square; 0 keeps the size
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    crop_padding: int = 0  # random crop of the image padded by this many pixels
    hflip: float = 0.0  # probability
    vflip: float = 0.0
    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation]
    brightness: float = 0.0  # factor uniform in [1 - b, 1 + b]
    contrast: float = 0.0
    saturation: float = 0.0
    erasing: float = 0.0  # probability of blanking one random rectangle
    masks: bool = False

    @property
    def has_random(self) -> bool:
        return any((self.crop_padding, self.hflip, self.vflip, self.rotation, self.brightness,
                    self.contrast, self.saturation, self.erasing))

    def random_only(self) -> Augment | None:
        rest = replace(self, resize=0, mean=(), std=())
        return rest if rest.has_random else None

    def fixed(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A sample [C, H, W] (mask [H, W]) or a batch [B, C, H, W] (masks [B, H, W])."""
        single = x.dim() == 3
        x, y = (x[None], y[None]) if single else (x, y)
        if self.resize and tuple(x.shape[-2:]) != (self.resize, self.resize):
            size = (self.resize, self.resize)
            x = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
            if self.masks:
                y = F.interpolate(y[:, None].float(), size=size, mode="nearest")[:, 0].long()
        if self.mean:
            mean = torch.tensor(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
            std = torch.tensor(self.std or (1.0,), dtype=x.dtype).reshape(1, -1, 1, 1)
            x = (x - mean) / std
        return (x[0], y[0]) if single else (x, y)

    def random(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch; every random number comes from `g` (a CPU generator), in a fixed order."""
        b = x.shape[0]
        if self.crop_padding:
            x, y = self._crop(x, y, g)
        for prob, dim in ((self.hflip, -1), (self.vflip, -2)):
            if prob:
                flip = (torch.rand(b, generator=g) < prob).to(x.device)
                x = torch.where(flip[:, None, None, None], x.flip(dim), x)
                if self.masks:
                    y = torch.where(flip[:, None, None], y.flip(dim), y)
        if self.rotation:
            x, y = self._rotate(x, y, g)
        x = self._jitter(x, g)
        if self.erasing:
            x = self._erase(x, g)
        return x, y

    def _crop(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        p, (h, w) = self.crop_padding, x.shape[-2:]
        offsets = torch.randint(0, 2 * p + 1, (x.shape[0], 2), generator=g).tolist()
        padded = F.pad(x, (p, p, p, p))
        x = torch.stack([padded[i, :, r:r + h, c:c + w] for i, (r, c) in enumerate(offsets)])
        if self.masks:
            padded_y = F.pad(y, (p, p, p, p))
            y = torch.stack([padded_y[i, r:r + h, c:c + w] for i, (r, c) in enumerate(offsets)])
        return x, y

    def _rotate(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        angles = (torch.rand(x.shape[0], generator=g) * 2 - 1) * math.radians(self.rotation)
        cos, sin = angles.cos(), angles.sin()
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.masks:
            y = F.grid_sample(y[:, None].to(x.dtype), grid, mode="nearest", align_corners=False)[:, 0].long()
        return x, y

    def _jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        shape = (x.shape[0], 1, 1, 1)
        for amount, kind in ((self.brightness, "b"), (self.contrast, "c"), (self.saturation, "s")):
            if not amount:
                continue
            factor = (1 + (torch.rand(shape, generator=g) * 2 - 1) * amount).to(x.device, x.dtype)
            if kind == "b":
                x = x * factor
            elif kind == "c":
                mean = x.mean(dim=(1, 2, 3), keepdim=True)
                x = (x - mean) * factor + mean
            elif x.shape[1] == 3:
                grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).reshape(1, 3, 1, 1)).sum(1, True)
                x = (x - grey) * factor + grey
        return x

    def _erase(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        h, w = x.shape[-2:]
        draws = torch.rand(x.shape[0], 5, generator=g).tolist()
        x = x.clone()
        for i, (chance, area, aspect, top, left) in enumerate(draws):
            if chance >= self.erasing:
                continue
            size = (0.02 + area * 0.31) * h * w
            ratio = math.exp(math.log(0.3) + aspect * (math.log(3.3) - math.log(0.3)))
            eh, ew = min(h, max(1, round(math.sqrt(size * ratio)))), min(w, max(1, round(math.sqrt(size / ratio))))
            r, c = int(top * (h - eh + 1)), int(left * (w - ew + 1))
            x[i, :, r:r + eh, c:c + ew] = 0
        return x
