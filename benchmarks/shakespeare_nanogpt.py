"""nanoGPT's own recipe on Tiny Shakespeare, to put shakespeare_gpt.json's val loss beside it.

A standalone transcription of nanoGPT's model.py (GPT-2 blocks, bias=False, tied head,
its init) and train.py loop at the README's CPU command: config/train_shakespeare_char.py
(lr 1e-3, min_lr 1e-4, warmup 100, beta2 0.99, weight decay 0.1, grad clip 1.0, eval every
250 iterations) with --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
--max_iters=2000 --lr_decay_iters=2000 --dropout=0.0 --eval_iters=20. Random batches
(torch.randint offsets), its seed (1337), 90/10 split, 65 characters.

For each seed it prints nanoGPT's own estimate at step 2000 (20 random batches of 12
blocks: the number its README quotes as 1.88) and the loss over every validation token
once (non-overlapping blocks, how NodeFlow's Evaluate scores shakespeare_gpt.json).

    python benchmarks/shakespeare_nanogpt.py [--seeds 1337 1 2] [--iters 2000]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

TEXT = Path(__file__).resolve().parent.parent / "workflows" / "data" / "tinyshakespeare.txt"
BLOCK, BATCH, LAYERS, HEADS, WIDTH = 64, 12, 4, 4, 128
LR, MIN_LR, WARMUP, BETA2, DECAY, CLIP, EVAL_EVERY, EVAL_ITERS = 1e-3, 1e-4, 100, 0.99, 0.1, 1.0, 250, 20


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(WIDTH, 3 * WIDTH, bias=False), nn.Linear(WIDTH, WIDTH, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in self.c_attn(x).split(WIDTH, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(WIDTH, bias=False), Attention()
        self.ln_2 = nn.LayerNorm(WIDTH, bias=False)
        self.c_fc, self.c_proj = nn.Linear(WIDTH, 4 * WIDTH, bias=False), nn.Linear(4 * WIDTH, WIDTH, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, WIDTH), nn.Embedding(BLOCK, WIDTH)
        self.h = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(WIDTH, bias=False)
        self.lm_head = nn.Linear(WIDTH, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * LAYERS))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def get_lr(it: int, iters: int) -> float:
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > iters:
        return MIN_LR
    ratio = (it - WARMUP) / (iters - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def get_batch(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ix = torch.randint(len(data) - BLOCK, (BATCH,))
    return torch.stack([data[i:i + BLOCK] for i in ix]), torch.stack([data[i + 1:i + 1 + BLOCK] for i in ix])


@torch.no_grad()
def estimate(model: nn.Module, data: torch.Tensor) -> float:
    model.eval()
    losses = [model(*get_batch(data)).item() for _ in range(EVAL_ITERS)]
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def every_token(model: nn.Module, data: torch.Tensor) -> float:
    model.eval()
    starts = range(0, len(data) - BLOCK, BLOCK)
    total = count = 0.0
    for chunk in range(0, len(starts), 256):
        ix = starts[chunk:chunk + 256]
        x = torch.stack([data[i:i + BLOCK] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + BLOCK] for i in ix])
        total += model(x, y).item() * y.numel()
        count += y.numel()
    model.train()
    return total / count


def run(seed: int, iters: int, train: torch.Tensor, val: torch.Tensor, vocab: int) -> tuple[float, float, float]:
    torch.manual_seed(seed)
    model = NanoGPT(vocab)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": DECAY},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR, betas=(0.9, BETA2))
    started = time.perf_counter()
    x, y = get_batch(train)
    it = 0
    while True:
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it, iters)
        if it % EVAL_EVERY == 0 or it == iters:
            estimate(model, train)
            val_estimate = estimate(model, val)
            if it == iters:
                return val_estimate, every_token(model, val), time.perf_counter() - started
        loss = model(x, y)
        x, y = get_batch(train)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        it += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1, 2])
    parser.add_argument("--iters", type=int, default=2000)
    args = parser.parse_args()
    text = TEXT.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    print(f"nanoGPT recipe, {len(chars)} characters, {args.iters} iterations, {torch.get_num_threads()} threads")
    for seed in args.seeds:
        estimated, full, seconds = run(seed, args.iters, data[:n], data[n:], len(chars))
        print(f"seed {seed:>5}: val loss {estimated:.4f} (nanoGPT's 20-batch estimate)  "
              f"{full:.4f} (every validation token)  {seconds:.0f} s")


if __name__ == "__main__":
    main()
