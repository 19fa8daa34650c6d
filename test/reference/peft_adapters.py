#!/usr/bin/env python3
"""Writes test/fixtures/peft/: tiny random-weight base models and LoRA
adapters made with the real transformers and peft classes, and what PEFT
computes with them.

- `base-gpt2/`, `base-llama/`: `GPT2LMHeadModel` and a grouped-query
  `LlamaForCausalLM` (untied head) saved with `save_pretrained`.
- `<case>/adapter/`: `PeftModel.save_pretrained` of one LoRA adapter
  (`adapter_config.json`, `adapter_model.safetensors`), B non-zero
  (`init_lora_weights=False`: both factors get nn.Linear's random init) so
  that the adapter changes the logits.
- `<case>/expected.json`: the input ids, the logits with the adapter, the
  logits after `merge_and_unload`, the mean next-token cross-entropy and its
  gradients for every lora_A / lora_B weight (PEFT's layout and key names,
  `base_model.model.<module>.lora_A.weight`), and the key names and
  `adapter_config.json` PEFT wrote.

Cases: `gpt2` (fused `c_attn` and `mlp.c_fc`, Conv1D `fan_in_fan_out=True`),
`llama-list` (`["q_proj", "v_proj"]`, grouped-query k/v 16 wide),
`llama-regex` (a string `target_modules`: full-match regex),
`llama-rslora` (`use_rslora=True`), `llama-save` (`modules_to_save=["lm_head"]`,
the saved copy perturbed so it differs from the base's head).

Run: /work/venv/bin/python test/reference/peft_adapters.py
(torch 2.13, transformers 5.18, peft 0.21, safetensors)
"""
import json
import os
import shutil
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'peft')
V, D, L, H, KV, FF, P = 64, 32, 2, 4, 2, 48, 64
IDS = [[3, 14, 15, 9, 2, 6, 53], [27, 1, 8, 28, 18, 28, 4]]
NO_SPECIAL = dict(bos_token_id=None, eos_token_id=None, pad_token_id=None)

BASES = {
    'gpt2': lambda: GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=P, n_embd=D, n_layer=L, n_head=H,
                                               **NO_SPECIAL)),
    'llama': lambda: LlamaForCausalLM(LlamaConfig(
        vocab_size=V, hidden_size=D, intermediate_size=FF, num_hidden_layers=L, num_attention_heads=H,
        num_key_value_heads=KV, max_position_embeddings=P, tie_word_embeddings=False, **NO_SPECIAL)),
}

CASES = {
    'gpt2': ('gpt2', dict(r=4, lora_alpha=8, target_modules=['c_attn', 'c_fc'], fan_in_fan_out=True)),
    'llama-list': ('llama', dict(r=4, lora_alpha=16, target_modules=['q_proj', 'v_proj'])),
    'llama-regex': ('llama', dict(r=2, lora_alpha=4,
                                  target_modules=r'.*\.layers\.1\.self_attn\.(q|k)_proj|.*mlp\.down_proj')),
    'llama-rslora': ('llama', dict(r=4, lora_alpha=8, use_rslora=True, target_modules=['o_proj', 'gate_proj'])),
    'llama-save': ('llama', dict(r=2, lora_alpha=2, target_modules=['q_proj', 'k_proj'],
                                 modules_to_save=['lm_head'])),
}


def base_model(family):
    torch.manual_seed(0)
    return BASES[family]().eval()


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def loss_of(logits, ids):
    # Mean next-token cross-entropy over every position but the last.
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for family in BASES:
        base_model(family).save_pretrained(os.path.join(OUT, f'base-{family}'))
    ids = torch.tensor(IDS)
    for case, (family, options) in CASES.items():
        base = base_model(family)
        torch.manual_seed(1)
        config = LoraConfig(lora_dropout=0.0, init_lora_weights=False, task_type='CAUSAL_LM', **options)
        model = get_peft_model(base, config)
        if 'modules_to_save' in options:
            with torch.no_grad():
                for name, module in model.named_modules():
                    if isinstance(module, peft.utils.other.ModulesToSaveWrapper):
                        copy = module.modules_to_save['default']
                        copy.weight.add_(0.05 * torch.randn_like(copy.weight))
        model.eval()
        folder = os.path.join(OUT, case, 'adapter')
        model.save_pretrained(folder)
        # PEFT writes base_model_name_or_path as None for a model built in memory.
        with open(os.path.join(folder, 'adapter_config.json')) as f:
            adapter_config = json.load(f)

        logits = model(ids).logits
        loss = loss_of(logits, ids)
        model.zero_grad()
        loss.backward()
        grads = {}
        for name, p in model.named_parameters():
            if 'lora_' in name:
                # name: base_model.model.<module>.lora_A.default.weight -> the saved key.
                grads[name.replace('.default', '')] = p.grad.tolist()
        saved = load_file(os.path.join(folder, 'adapter_model.safetensors'))
        assert set(grads) <= set(saved), (sorted(grads), sorted(saved))

        # Loading the saved adapter onto a fresh base gives the same logits.
        reloaded = PeftModel.from_pretrained(base_model(family), folder).eval()
        with torch.no_grad():
            again = reloaded(ids).logits
            assert rel(again, logits.detach()) < 1e-6, case
            merged = reloaded.merge_and_unload()(ids).logits
            plain = base_model(family)(ids).logits
        print(f'{case}: adapter changes the logits by {rel(logits.detach(), plain):.3g} relative; '
              f'merged vs unmerged {rel(merged, logits.detach()):.3g}')

        expected = {
            'family': family,
            'ids': IDS,
            'logits': logits.detach().tolist(),
            'mergedLogits': merged.tolist(),
            'loss': float(loss.detach()),
            'gradients': grads,
            'savedKeys': {k: list(v.shape) for k, v in sorted(saved.items())},
            'adapterConfig': adapter_config,
            'versions': {'torch': torch.__version__, 'transformers': transformers.__version__,
                         'peft': peft.__version__},
        }
        with open(os.path.join(OUT, case, 'expected.json'), 'w') as f:
            json.dump(expected, f)
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
