"""SegmentationOverlay: PNGs of image, true mask and predicted mask, side by side."""
from __future__ import annotations

import io
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.files import write_bytes
from nodeflow.core.outputs import output_problem, write_output
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import SEGMENTATION

PALETTE = np.array([[0, 0, 0], [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178],
                    [213, 94, 0], [204, 121, 167]], dtype=np.float32)  # Okabe-Ito: tells classes apart for all


def overlay_png(image: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, scale: int = 4) -> bytes:
    """[image | truth over image | prediction over image] as PNG bytes; background is left clear."""
    from PIL import Image

    grey = image.float().mean(dim=0).numpy()
    grey = (grey - grey.min()) / max(float(grey.max() - grey.min()), 1e-8) * 255
    base = np.repeat(grey[..., None], 3, axis=2)

    def paint(mask: torch.Tensor) -> np.ndarray:
        m = mask.numpy() % len(PALETTE)
        colour = PALETTE[m]
        alpha = np.where(m[..., None] > 0, 0.55, 0.0)
        return base * (1 - alpha) + colour * alpha

    gap = np.full((base.shape[0], 2, 3), 255.0)
    row = np.concatenate([base, gap, paint(truth), gap, paint(pred)], axis=1).astype(np.uint8)
    picture = Image.fromarray(row).resize((row.shape[1] * scale, row.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def run_overlay(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, data = inputs["model"], inputs["dataset"]
    if data is None or len(data) == 0:
        raise DataError(Issue("the connected dataset is empty (is its Split fraction 0?)", field="dataset"))
    folder = resolve_path(params["folder"], Path.cwd())
    count = min(params["count"], len(data))
    paths = [folder / f"overlay_{i}.png" for i in range(count)]
    for path in paths:  # all checked before any is written: a refusal leaves nothing half done
        problem = output_problem(path, params["overwrite"], "set overwrite=true to replace it")
        if problem:
            raise DataError(Issue(problem, field="folder"))
    if ctx.dry_run:
        ctx.log(f"dry run: would write {count} overlays to {folder}")
        return {}
    device = next(model.parameters()).device
    model.eval()
    for i, path in enumerate(paths):
        image, truth = data.sample(i)
        with torch.no_grad():
            pred = model(image[None].to(device)).argmax(dim=1)[0].cpu()
        png = overlay_png(image, truth, pred)
        write_output(path, partial(write_bytes, png), ctx.node_name)
    ctx.log(f"Wrote {count} overlays (image | true mask | prediction) to {folder}")
    ctx.emit("result", summary=f"{count} overlays in {folder.name}/", image=str(paths[0]) if paths else "")
    return {}


SEGMENTATION_OVERLAY = NodeSpec(
    type="eval.segmentation_overlay", title="SegmentationOverlay", category="Evaluation", run=run_overlay,
    inputs=(PortSpec("model", "model", "Trained segmentation model"),
            PortSpec("dataset", "dataset", "Images and masks to draw", tasks=(SEGMENTATION,))),
    description="Writes overlay_N.png for the first samples: the image, the true mask over it and the "
                "predicted mask over it, side by side.",
    params=(
        ParamSpec("folder", "outdir", "overlays", "Folder for the PNGs (relative to the current folder)"),
        ParamSpec("count", "int", 4, "How many samples to draw", min=1, max=10_000),
        ParamSpec("overwrite", "bool", False, "Replace PNGs NodeFlow did not write (its own are always replaced)"),
    ),
)

NODES = [SEGMENTATION_OVERLAY]
