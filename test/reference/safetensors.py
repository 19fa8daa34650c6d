#!/usr/bin/env python3
"""Writes safetensors fixtures with Hugging Face's own `safetensors` package,
and checks the file our serializer wrote, so both directions are tested
against the reference implementation.

Writes test/fixtures/safetensors/:
  dtypes.safetensors    F32, F16, BF16, I32, I64, BOOL, U8, I8 tensors with
                        hand-picked values (f16/bf16 subnormals, inf, nan,
                        -0, the extremes) plus __metadata__;
  f16-sweep.safetensors every 32nd float16 bit pattern (all exponents, with
                        subnormals and NaNs) and torch's float32 upcast of it;
  bf16-sweep.safetensors the same for bfloat16;
  expected.json         the values torch reads from dtypes.safetensors,
                        upcast as our reader does (F16/BF16 -> float32,
                        I8/U8/I64 -> int32); non-finite floats and -0 are
                        written as the strings "nan", "inf", "-inf", "-0".
If from-tfjs-blocks.safetensors (written by test/interop/safetensors.test.ts)
exists, loads it with safetensors.torch.load_file and asserts its values.

Run: /opt/torch2/bin/python test/reference/safetensors.py
(after /opt/torch2/bin/pip install safetensors).
"""
import json
import math
import os
import sys

# This file's own name shadows the `safetensors` package: drop its directory
# from the import path before importing the package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'safetensors')
os.makedirs(OUT, exist_ok=True)
METADATA = {'format': 'pt', 'source': 'test/reference/safetensors.py', 'unicode': 'héllo ✓'}

SPECIAL = [0.0, -0.0, 1.0, -2.5, 0.1, 65504.0, float('inf'), float('-inf'), float('nan')]
# Bit patterns: smallest and largest subnormal, smallest normal, a NaN with a payload.
F16_BITS = [0x0001, 0x03FF, 0x0400, 0x8001, 0x7E01, 0x7BFF, 0xFBFF]
BF16_BITS = [0x0001, 0x007F, 0x0080, 0x8001, 0x7FC1, 0x7F7F, 0xFF7F]


def from_bits(bits, dtype):
    return torch.tensor(bits, dtype=torch.int32).to(torch.int16).view(dtype)


def encode(value):
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if math.isnan(value):
        return 'nan'
    if math.isinf(value):
        return 'inf' if value > 0 else '-inf'
    if value == 0 and math.copysign(1.0, value) < 0:
        return '-0'
    return value


tensors = {
    'f32': torch.tensor(SPECIAL + [3.4028234663852886e38, 1e-45, 1.17549435e-38], dtype=torch.float32),
    'f16': torch.cat([torch.tensor(SPECIAL, dtype=torch.float16), from_bits(F16_BITS, torch.float16)]),
    'bf16': torch.cat([torch.tensor(SPECIAL, dtype=torch.bfloat16), from_bits(BF16_BITS, torch.bfloat16)]),
    'i32': torch.tensor([[0, -1, 2**31 - 1], [-(2**31), 7, 42]], dtype=torch.int32),
    'i64': torch.tensor([0, -1, 2**31 - 1, -(2**31), 123456789], dtype=torch.int64),
    'bool': torch.tensor([[True, False], [False, True]]),
    'u8': torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
    'i8': torch.tensor([0, 1, -1, 127, -128], dtype=torch.int8),
    'scalar': torch.tensor(1.5, dtype=torch.float32),
    'empty': torch.zeros((0, 3), dtype=torch.float32),
    'nested.name.0.weight': torch.arange(6, dtype=torch.float32).reshape(2, 3),
}
save_file(tensors, os.path.join(OUT, 'dtypes.safetensors'), metadata=METADATA)

expected = {'metadata': METADATA, 'tensors': {}}
for name, t in tensors.items():
    widened = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
    if t.dtype in (torch.int64, torch.uint8, torch.int8):
        widened = t.to(torch.int32)
    values = widened.flatten().tolist()
    expected['tensors'][name] = {
        'dtype': str(t.dtype).replace('torch.', ''),
        'shape': list(t.shape),
        'values': [encode(v) for v in values],
    }
with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, ensure_ascii=False)
    f.write('\n')

for dtype, name in ((torch.float16, 'f16'), (torch.bfloat16, 'bf16')):
    bits = list(range(0, 0x10000, 32)) + [0x0001, 0x8001, 0x7C01, 0xFC00]
    half = from_bits(bits, dtype)
    save_file({'half': half, 'float32': half.float()}, os.path.join(OUT, f'{name}-sweep.safetensors'))

# Our serializer's output, read by the reference reader.
ours = os.path.join(OUT, 'from-tfjs-blocks.safetensors')
if os.path.exists(ours):
    got = load_file(ours)
    with safe_open(ours, framework='pt') as f:
        assert f.metadata() == {'written-by': 'tfjs-blocks', 'note': 'ünïcode ✓'}, f.metadata()
    assert got['w'].dtype == torch.float32 and got['w'].shape == (2, 3), got['w']
    assert torch.equal(got['w'], torch.tensor([[1.0, -2.0, 0.5], [3.25, -0.0, 1e-38]]))
    assert math.copysign(1.0, got['w'][1, 1].item()) < 0, 'lost -0'
    assert torch.isinf(got['inf']).all() and torch.isnan(got['nan']).all()
    assert got['i'].dtype == torch.int32 and got['i'].tolist() == [[-(2**31), 2**31 - 1], [0, 5]]
    assert got['b'].dtype == torch.bool and got['b'].tolist() == [True, False, True]
    assert got['scalar'].shape == () and got['scalar'].item() == 7.0
    assert got['empty'].shape == (0, 4)
    print(f'checked {ours}')
else:
    print(f'{ours} not found: run the TypeScript tests first to check our writer')

for name in os.listdir(OUT):
    size = os.path.getsize(os.path.join(OUT, name))
    assert size < 20_000, f'{name} is {size} bytes'
    print(f'{name}: {size} bytes')
