#!/usr/bin/env python3
"""Loads the adapters test/reference/write_peft_adapters.ts wrote with our
`saveAdapter` using the real `peft.PeftModel.from_pretrained(base, dir)` on
the base fixtures (test/fixtures/peft/base-<family>), and checks that:

- PEFT loads every key (no missing or unexpected adapter keys);
- PEFT's logits equal ours (`<dir>/ours.json`) within 1e-4 relative
  (max |a - b| / max |b|), and the adapter changes them (so a dropped
  adapter cannot pass);
- after `merge_and_unload`, the logits are the same.

It records what PEFT read in test/fixtures/peft/ours.json: for each adapter,
the adapter_config.json object, each tensor's shape and the sha256 of its
float32 bytes, and the measured relative differences;
test/fine-tuning/peft-saved.test.ts re-makes every adapter and requires the
same files, so CI checks the writer without Python.

Run: npx tsx test/reference/write_peft_adapters.ts /tmp/tfjs-blocks-peft
     /work/venv/bin/python test/reference/check_peft_adapters.py /tmp/tfjs-blocks-peft
"""
import hashlib
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import peft  # noqa: E402
import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'fixtures', 'peft')


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def main():
    scratch = sys.argv[1] if len(sys.argv) > 1 else '/tmp/tfjs-blocks-peft'
    with open(os.path.join(scratch, 'ours.json')) as f:
        ours = json.load(f)
    record = {}
    for name, entry in ours.items():
        folder = os.path.join(scratch, name)
        base = AutoModelForCausalLM.from_pretrained(os.path.join(FIXTURES, f"base-{entry['family']}")).eval()
        plain_ids = torch.tensor(entry['ids'])
        with torch.no_grad():
            plain = base(plain_ids).logits
        model = PeftModel.from_pretrained(base, folder).eval()
        saved = load_file(os.path.join(folder, 'adapter_model.safetensors'))
        # Every saved key went into a parameter of the PEFT model.
        state = model.state_dict()
        loaded_keys = set()
        for key in saved:
            if '.lora_' in key:
                loaded = key.replace('.weight', '.default.weight')
            else:
                owner = key[len('base_model.model.'):].rsplit('.', 1)[0]
                loaded = f'base_model.model.{owner}.modules_to_save.default.{key.rsplit(".", 1)[1]}'
            assert loaded in state, (name, key, loaded)
            loaded_keys.add(loaded)
            assert torch.equal(state[loaded], saved[key]), (name, key)
        # ...and every adapter parameter of the PEFT model came from the file (no missing key).
        adapter_params = {k for k in state if '.lora_' in k or '.modules_to_save.' in k}
        assert adapter_params == loaded_keys, (name, sorted(adapter_params ^ loaded_keys))
        with torch.no_grad():
            logits = model(plain_ids).logits
            merged = model.merge_and_unload()(plain_ids).logits
        want = torch.tensor(entry['logits'])
        r, rm = rel(logits, want), rel(merged, want)
        changed = rel(plain, want)
        print(f'{name}: PEFT vs ours {r:.3g}, merged vs ours {rm:.3g}, adapter changes the logits by {changed:.3g}')
        assert r < 1e-4 and rm < 1e-4 and changed > 1e-2, name
        assert rel(torch.tensor(entry['baseLogits']), plain) < 1e-5, name
        with open(os.path.join(folder, 'adapter_config.json')) as f:
            config = json.load(f)
        record[name] = {
            'adapterConfig': config,
            'tensors': {k: {'shape': list(v.shape),
                            'sha256': hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()}
                        for k, v in sorted(saved.items())},
            'relative': {'logits': r, 'merged': rm},
            'peft': peft.__version__,
        }
    with open(os.path.join(FIXTURES, 'ours.json'), 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write('\n')
    print('PEFT loaded', len(record), 'adapters; wrote', os.path.normpath(os.path.join(FIXTURES, 'ours.json')))


if __name__ == '__main__':
    main()
