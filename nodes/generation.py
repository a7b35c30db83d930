"""Generate: text sampled from a trained language model, decoded with its data's tokenizer (a
Pretrained causal LM's data was tokenized with the model's own tokenizer: that decodes it)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodeflow.core.errors import CheckpointError, DataError, Issue
from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import LANGUAGE_MODELLING


def run_generate(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from nodeflow.training.generate import sample
    from nodeflow.training.tokenizer import load_tokenizer, tokenizer_mismatch

    model, data = inputs["model"], inputs["dataset"]
    if not hasattr(model, "generate"):
        raise DataError(Issue("the connected model cannot generate text (use a GPT, a ModernTransformer or a "
                              "Pretrained causal-lm model)",
                              field="model"))
    if "tokenizer" not in data.info:
        raise DataError(Issue(f"'{data.name}' has no tokenizer to decode with", field="dataset"))
    mismatch = tokenizer_mismatch(getattr(model, "nodeflow_data", None), data.info)
    if mismatch:
        raise DataError(Issue(mismatch, field="dataset"))
    tokenizer = load_tokenizer(data.info["tokenizer"])
    new_tokens = 8 if ctx.dry_run else params["max_new_tokens"]
    try:
        text = sample(model, tokenizer, params["prompt"], new_tokens, params["temperature"], params["top_k"],
                      params["seed"])
    except CheckpointError as exc:
        raise DataError(Issue(exc.issues[0].message, field="prompt")) from None
    ctx.log("Generated:\n" + text)
    if not ctx.dry_run:  # eight tokens of a dry run are no result
        ctx.emit("result", summary=text.strip().splitlines()[0][:60] if text.strip() else "(empty)", text=text)
    return {}


GENERATE = NodeSpec(
    type="eval.generate", title="Generate", category="Evaluation", run=run_generate,
    inputs=(PortSpec("model", "model", "A trained GPT, ModernTransformer or Pretrained causal-lm model"),
            PortSpec("dataset", "dataset", "The data it was trained on: its tokenizer decodes the tokens",
                     tasks=(LANGUAGE_MODELLING,))),
    description="Samples text from a trained language model and prints it (the same seed gives the same text).",
    params=(
        ParamSpec("prompt", "str", "\n", "Text to continue", allow_empty=True),
        ParamSpec("max_new_tokens", "int", 300, "Tokens to sample", min=1, max=100_000),
        ParamSpec("temperature", "float", 0.8, "Higher: more varied; 0: always the likeliest token", min=0.0,
                  max=10.0),
        ParamSpec("top_k", "int", 200, "Sample among the k likeliest tokens (0: all)", min=0, max=1_000_000),
        ParamSpec("seed", "int", 0, "Seed of the sampling", min=0, max=2**31 - 1),
    ),
)

NODES = [GENERATE]
