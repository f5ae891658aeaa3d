#!/usr/bin/env python3
"""Tiny HuggingFace GPT-2 and Llama models with a reference forward/backward, for Lattice parity tests.

Usage: python3 make_hf_fixtures.py OUT_DIR

Writes, for family in (gpt2, llama):
  OUT_DIR/<family>/config.json, model.safetensors   -- save_pretrained(safe_serialization=True)
  OUT_DIR/<family>/expected.safetensors             -- input_ids [2,16] (I64), logits [2,16,100] (F32),
                                                       loss [1] (F32), grad.<hf parameter name> (F32) for every
                                                       parameter; metadata records seeds and versions
The loss is HF's causal-LM loss with labels = input_ids: logits[:, :-1] against input_ids[:, 1:], mean over the
2 x 15 predicted tokens. For GPT-2 the lm_head is tied: its gradient is included in grad.transformer.wte.weight
(there is no grad.lm_head.weight). Everything runs on the CPU in float32 with eager attention and no dropout.

Weights: HF's own init (std 0.02, norms at 1/0) is too gentle to tell mapping mistakes apart (e.g. a norm
weight mapped to the wrong layer, swapped gate/up), so after construction every parameter is redrawn from a
seeded generator: matrices and embeddings N(0, 0.2^2), biases N(0, 0.1^2), norm weights 1 + N(0, 0.1^2).
Nothing is downloaded: the models are built from configs, with the hub switched offline.
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM  # noqa: E402

SEED = 0
INPUT_SEED = 1234
BATCH, SEQ, VOCAB = 2, 16, 100


def gpt2_model():
    config = GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=None,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=1e-5, tie_word_embeddings=True, scale_attn_weights=True,
        scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
        bos_token_id=0, eos_token_id=0)
    return make(GPT2LMHeadModel, config)


def llama_model():
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False, hidden_act="silu",
        attention_dropout=0.0, bos_token_id=0, eos_token_id=0)
    # RoPE: the default (theta 10000, no scaling); transformers 4 keeps it in rope_theta/rope_scaling,
    # transformers 5 in rope_parameters. Leaving both at their defaults works with either.
    theta = getattr(config, "rope_theta", None)
    params = getattr(config, "rope_parameters", None) or {}
    theta = params.get("rope_theta", theta)
    scaling = getattr(config, "rope_scaling", None)
    if float(theta) != 10000.0 or (scaling and scaling.get("rope_type", scaling.get("type")) != "default"):
        raise SystemExit(f"llama: unexpected RoPE config theta={theta} scaling={scaling}")
    return make(LlamaForCausalLM, config)


def make(cls, config):
    torch.manual_seed(SEED)
    try:
        model = cls._from_config(config, attn_implementation="eager")
    except (TypeError, ValueError):
        config._attn_implementation = "eager"
        model = cls(config)
    impl = getattr(model.config, "_attn_implementation", "eager")
    if impl != "eager":
        raise SystemExit(f"{cls.__name__}: attention implementation is {impl}, wanted eager")
    model = model.to(dtype=torch.float32, device="cpu")
    redraw(model)
    model.eval()  # no dropout (all probabilities are 0 anyway)
    return model


@torch.no_grad()
def redraw(model):
    g = torch.Generator().manual_seed(SEED)
    norm_params = set()
    for module in model.modules():
        kind = type(module).__name__
        if isinstance(module, torch.nn.LayerNorm) or kind.endswith("RMSNorm") or kind.endswith("LayerNorm"):
            for p in module.parameters(recurse=False):
                norm_params.add(id(p))
    for name, p in model.named_parameters():  # shared (tied) parameters appear once
        noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
        if id(p) in norm_params and name.endswith("weight"):
            p.copy_(1.0 + 0.1 * noise)
        elif p.dim() == 1:
            p.copy_(0.1 * noise)
        else:
            p.copy_(0.2 * noise)


def run(family, model, out_dir):
    target = os.path.join(out_dir, family)
    os.makedirs(target, exist_ok=True)
    g = torch.Generator().manual_seed(INPUT_SEED)
    input_ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=g, dtype=torch.long)

    model.zero_grad(set_to_none=True)
    out = model(input_ids=input_ids, labels=input_ids)
    out.loss.backward()

    # the same loss by hand, to pin down the convention
    logits = out.logits.detach()
    manual = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, VOCAB), input_ids[:, 1:].reshape(-1), reduction="mean")
    if not torch.allclose(manual, out.loss.detach(), rtol=1e-6, atol=1e-6):
        raise SystemExit(f"{family}: HF loss {out.loss.item()} differs from the manual shift-and-mean {manual.item()}")

    tensors = {
        "input_ids": input_ids.contiguous(),
        "logits": logits.to(torch.float32).contiguous(),
        "loss": out.loss.detach().reshape(1).to(torch.float32).contiguous(),
    }
    names = []
    for name, p in model.named_parameters():
        if p.grad is None:
            raise SystemExit(f"{family}: parameter {name} got no gradient")
        tensors["grad." + name] = p.grad.detach().to(torch.float32).contiguous().clone()
        names.append(name)
    if family == "gpt2":
        if model.lm_head.weight is not model.transformer.wte.weight:
            raise SystemExit("gpt2: lm_head is not tied to wte")
        if "lm_head.weight" in names:
            raise SystemExit("gpt2: lm_head.weight listed as its own parameter")

    try:
        model.save_pretrained(target, safe_serialization=True)
    except TypeError:  # transformers versions that always write safetensors
        model.save_pretrained(target)
    metadata = {
        "format": "pt",
        "family": family,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": str(SEED),
        "input_seed": str(INPUT_SEED),
        "loss": repr(out.loss.item()),
        "loss_convention": "mean over logits[:, :-1] vs input_ids[:, 1:] (2 x 15 tokens)",
    }
    save_file(tensors, os.path.join(target, "expected.safetensors"), metadata=metadata)

    stored = sorted(os.listdir(target))
    if "model.safetensors" not in stored:
        raise SystemExit(f"{family}: save_pretrained wrote {stored}, no model.safetensors")
    size = sum(os.path.getsize(os.path.join(target, f)) for f in stored)
    print(f"{family}: loss {out.loss.item():.8f}  ({len(names)} parameters, {size} bytes in {target}: "
          f"{', '.join(stored)})")
    return size


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python3 make_hf_fixtures.py OUT_DIR")
    out_dir = sys.argv[1]
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    total = run("gpt2", gpt2_model(), out_dir)
    total += run("llama", llama_model(), out_dir)
    print(f"total {total} bytes; torch {torch.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
