"""Training and generation speed of hfpretrain's GPT against transformers' own models of the same shape.

In one process, alternating between the two models so that machine noise hits both alike:
- training step (forward + backward + AdamW step), tokens/s, in fp32 and in bf16 autocast, for the GPT-2 family
  (vs `GPT2LMHeadModel`) and the modern family (vs `LlamaForCausalLM`), plus MFU: achieved FLOP/s (6N + attention,
  `hfpretrain.accounting`) over the matmul peak of this machine measured in the same run;
- `generate()` time per new token: greedy with the KV cache, batch 1 and 8, 128 new tokens.

Ratios > 1 mean hfpretrain is faster. Targets (issue 2): training >= 1.10x GPT2LMHeadModel and >= 1.00x
LlamaForCausalLM; generation >= 1.0x both; fp32 MFU >= 60% on CPU for small models with vocab <= 8k.

    python benchmarks/model_speed.py                 # CPU defaults: 6 layers x 384, context 256, vocab 8192
    python benchmarks/model_speed.py --size gpt2-small --seq-len 1024 --batch-size 8 --device cuda   # on a GPU
"""

import argparse
import json
import platform
import statistics
import time
from contextlib import nullcontext

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from hfpretrain import GPTConfig, GPTForCausalLM
from hfpretrain.accounting import training_flops_per_token
from hfpretrain.runtime import tune_cpu_allocator

# A CPU-sized shape of each family (same depth/width/heads for both families).
CPU_SHAPE = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, vocab_size=8192)


def family_configs(family: str, size: str | None, seq_len: int):
    """Our config and the equivalent transformers config, same shapes, no dropout."""
    if family == "gpt2":
        ours = GPTConfig.from_preset(
            size or "gpt2-small", max_position_embeddings=seq_len, **({} if size else CPU_SHAPE)
        )
        ref = GPT2Config(
            vocab_size=ours.vocab_size,
            n_positions=seq_len,
            n_embd=ours.hidden_size,
            n_layer=ours.num_hidden_layers,
            n_head=ours.num_attention_heads,
            n_inner=ours.intermediate_size,
            activation_function="gelu_new",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            layer_norm_epsilon=ours.norm_eps,
            bos_token_id=None,
            eos_token_id=None,
        )
        return ours, ref, GPT2LMHeadModel
    ours = GPTConfig.from_preset(
        size or "modern-small",
        max_position_embeddings=seq_len,
        **({} if size else {**CPU_SHAPE, "num_key_value_heads": 2}),
    )
    ref = LlamaConfig(
        vocab_size=ours.vocab_size,
        hidden_size=ours.hidden_size,
        intermediate_size=ours.intermediate_size,
        num_hidden_layers=ours.num_hidden_layers,
        num_attention_heads=ours.num_attention_heads,
        num_key_value_heads=ours.num_key_value_heads,
        max_position_embeddings=seq_len,
        rms_norm_eps=ours.norm_eps,
        tie_word_embeddings=ours.tie_word_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": ours.rope_theta},
        bos_token_id=None,
        eos_token_id=None,
    )
    return ours, ref, LlamaForCausalLM


def sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dtype: torch.dtype, device: str, n: int, seconds: float = 2.0) -> float:
    """Best FLOP/s of an n×n×n matmul in this dtype: the denominator of MFU."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def make_step(model, batch: torch.Tensor, autocast: bool, device: str):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    ctx = torch.autocast(device, dtype=torch.bfloat16) if autocast else nullcontext()

    def step():
        with ctx:
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def alternate(fns: dict, reps: int, inner: int, device: str) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternation (A B A B ...)."""
    for fn in fns.values():  # warm-up
        fn()
        fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            sync(device)
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - t) / inner)
    return {name: statistics.median(ts) for name, ts in times.items()}


def build_pair(family: str, size: str | None, seq_len: int, device: str, attn: str):
    ours_cfg, ref_cfg, ref_cls = family_configs(family, size, seq_len)
    torch.manual_seed(0)
    ours = GPTForCausalLM(ours_cfg).to(device)
    ref = ref_cls(ref_cfg).to(device)
    ours.set_attn_implementation(attn)
    ref.set_attn_implementation(attn)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    assert n_ours == n_ref, f"shapes differ: {n_ours} vs {n_ref} parameters"
    return ours_cfg, ours, ref, ref_cls.__name__, n_ours


def bench_training(args, family: str, peaks: dict) -> list[dict]:
    rows = []
    for precision in args.precisions:
        config, ours, ref, ref_name, n_params = build_pair(family, args.size, args.seq_len, args.device, args.attn)
        ours.train()
        ref.train()
        batch = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len), device=args.device)
        autocast = precision == "bf16"
        secs = alternate(
            {
                "ours": make_step(ours, batch, autocast, args.device),
                "ref": make_step(ref, batch, autocast, args.device),
            },
            args.reps,
            args.inner,
            args.device,
        )
        tokens = args.batch_size * args.seq_len
        flops = training_flops_per_token(config, args.seq_len) * tokens
        row = {
            "bench": "train",
            "family": family,
            "reference": ref_name,
            "precision": precision,
            "params": n_params,
            "tokens_per_s": tokens / secs["ours"],
            "ref_tokens_per_s": tokens / secs["ref"],
            "speedup": secs["ref"] / secs["ours"],
            "mfu": flops / secs["ours"] / peaks[precision],
            "ref_mfu": flops / secs["ref"] / peaks[precision],
        }
        rows.append(row)
        print(
            f"train {family:<6} {precision:<5} ours {row['tokens_per_s']:>9,.0f} tok/s (MFU {row['mfu']:.1%})  "
            f"{ref_name} {row['ref_tokens_per_s']:>9,.0f} tok/s (MFU {row['ref_mfu']:.1%})  "
            f"ratio {row['speedup']:.2f}x",
            flush=True,
        )
    return rows


def generation_call(model, prompt, kwargs, outputs, name):
    def run():
        outputs[name] = model.generate(prompt, **kwargs)

    return run


@torch.no_grad()
def bench_generation(args, family: str) -> list[dict]:
    rows = []
    config, ours, ref, ref_name, _ = build_pair(family, args.size, args.seq_len, args.device, args.attn)
    ours.eval()
    ref.eval()
    for batch_size in args.gen_batch_sizes:
        prompt = torch.randint(0, config.vocab_size, (batch_size, args.prompt_len), device=args.device)
        kwargs = dict(
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=0,
            eos_token_id=None,
        )
        outputs = {}
        calls = {
            name: generation_call(model, prompt, kwargs, outputs, name)
            for name, model in (("ours", ours), ("ref", ref))
        }
        secs = alternate(calls, args.gen_reps, 1, args.device)
        assert outputs["ours"].shape[1] == args.prompt_len + args.new_tokens
        row = {
            "bench": "generate",
            "family": family,
            "reference": ref_name,
            "batch_size": batch_size,
            "ms_per_token": 1000 * secs["ours"] / args.new_tokens,
            "ref_ms_per_token": 1000 * secs["ref"] / args.new_tokens,
            "speedup": secs["ref"] / secs["ours"],
        }
        rows.append(row)
        print(
            f"generate {family:<6} batch {batch_size:<2} ours {row['ms_per_token']:.2f} ms/token  "
            f"{ref_name} {row['ref_ms_per_token']:.2f} ms/token  ratio {row['speedup']:.2f}x",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["gpt2", "modern"], choices=["gpt2", "modern"])
    parser.add_argument("--size", default=None, help="a preset to use instead of the CPU shape (e.g. gpt2-small)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--attn", default="sdpa", help="attention implementation for both models")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=7, help="alternating measurements per model (median kept)")
    parser.add_argument("--inner", type=int, default=2, help="training steps per measurement")
    parser.add_argument("--gen-batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--gen-reps", type=int, default=5)
    parser.add_argument("--peak-n", type=int, default=2048, help="matrix size for the matmul peak")
    parser.add_argument("--peak-seconds", type=float, default=2.0, help="time spent measuring the matmul peak")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument(
        "--no-tune-allocator",
        action="store_true",
        help="leave glibc's malloc thresholds at their defaults (hfpretrain's entry points raise them on CPU)",
    )
    args = parser.parse_args(argv)
    tuned = args.device == "cpu" and not args.no_tune_allocator and tune_cpu_allocator()

    print(
        f"device {args.device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), "
        f"torch {torch.__version__}, batch {args.batch_size} x {args.seq_len} tokens, attention {args.attn}, "
        f"allocator {'tuned' if tuned else 'default'}",
        flush=True,
    )
    peaks = {
        p: matmul_peak(torch.float32 if p == "fp32" else torch.bfloat16, args.device, args.peak_n, args.peak_seconds)
        for p in args.precisions
    }
    print("matmul peak: " + ", ".join(f"{p} {v / 1e9:,.0f} GFLOP/s" for p, v in peaks.items()), flush=True)
    rows = []
    for family in args.families:
        rows += bench_training(args, family, peaks)
    if not args.skip_generation:
        for family in args.families:
            rows += bench_generation(args, family)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "peaks": peaks, "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
