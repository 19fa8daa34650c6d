"""PyTorch reference for bench/decode.ts (issue 20): a random-weight GPT-2
small saved by `transformers`, and its greedy decode, prefill and resident
memory with HF `generate` on the CPU.

    python bench/reference/decode_gpt2.py save DIR
        GPT2LMHeadModel(GPT2Config()) with torch.manual_seed(0), saved with
        save_pretrained(DIR, safe_serialization=True) (tied head: only
        transformer.wte.weight is written).
    python bench/reference/decode_gpt2.py run DIR --prompt 32 --new 32 --prefill 256 --threads 2
        Loads DIR, warms up, then prints one JSON line: decode tokens/s (the
        time between the first and the last new token over their count),
        prefill seconds (a 256-token prompt to its first token), the ids,
        and the RSS after loading and at the end (MB).

The prompts are the ones bench/decode.ts uses: token i is (i * 97 + 13) % vocab.
"""

import argparse
import json
import resource
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def prompt(length: int, vocab: int) -> list[int]:
    return [(i * 97 + 13) % vocab for i in range(length)]


def save(folder: str) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config())
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # transformers versions where safetensors is the only format
        model.save_pretrained(folder)
    print(json.dumps({"saved": folder, "parameters": sum(p.numel() for p in model.parameters())}))


def run(args: argparse.Namespace) -> None:
    import torch
    import transformers
    from transformers import GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

    torch.set_num_threads(args.threads)
    base = rss_mb()
    model = GPT2LMHeadModel.from_pretrained(args.folder, torch_dtype=torch.float32)
    model.eval()
    # A random model may pick the end-of-text token: decode a fixed count, as bench/decode.ts does.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    loaded = rss_mb()
    vocab = model.config.vocab_size

    class Stamps(LogitsProcessor):
        """Records when each step's logits are ready (one call per new token)."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def __call__(self, input_ids, scores):
            self.times.append(time.perf_counter())
            return scores

    def generate(ids: list[int], new: int) -> tuple[list[int], list[float], float]:
        stamps = Stamps()
        x = torch.tensor([ids])
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(
                x,
                attention_mask=torch.ones_like(x),
                do_sample=False,
                max_new_tokens=new,
                logits_processor=LogitsProcessorList([stamps]),
            )
        return out[0, len(ids) :].tolist(), stamps.times, start

    short = prompt(args.prompt, vocab)
    long = prompt(args.prefill, vocab)
    generate(short, 2)  # warm-up
    generate(long, 1)
    ids, times, _ = generate(short, args.new + 1)
    decode_s = times[-1] - times[0]
    _, first, start = generate(long, 1)
    print(
        json.dumps(
            {
                "ids": ids[: args.new + 1],
                "decode_tokens_per_s": args.new / decode_s,
                "prefill_s": first[0] - start,
                "rss_base_mb": base,
                "rss_loaded_mb": loaded,
                "rss_end_mb": rss_mb(),
                "peak_rss_mb": peak_mb(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["save", "run"])
    parser.add_argument("folder")
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--prefill", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "save":
        save(args.folder)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
