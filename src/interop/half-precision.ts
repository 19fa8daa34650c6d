import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
/**
 * Exact widening of 16-bit floats (IEEE 754 binary16 and bfloat16) to
 * float32, done on the bit patterns: every half value, subnormals, ±0, ±inf
 * and NaNs included, has an exact float32 twin, so no rounding is
 * involved and no `Math.f16round` (absent from Node 20) is needed.
 */

/**
 * Widens IEEE 754 binary16 ("half", PyTorch `float16`) bit patterns to
 * float32 values, exactly: normals and subnormals keep their value, ±0, ±inf
 * keep their sign, NaNs stay NaN with their payload shifted into place
 * (signaling NaNs come out quiet, as hardware conversion does).
 *
 * @param bits - half-precision bit patterns (one `uint16` per value).
 * @returns a new `Float32Array` of the same length.
 *
 * @example
 * ```ts
 * import { float16ToFloat32 } from 'tfjs-blocks';
 *
 * float16ToFloat32(new Uint16Array([0x3c00, 0x0001, 0xfc00])); // [1, 2 ** -24, -Infinity]
 * ```
 */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  checkBits('float16ToFloat32', bits);
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    let mantissa = h & 0x3ff;
    let word: number;
    if (exponent === 0x1f) {
      // inf (mantissa 0) or NaN: the payload moves to the top mantissa bits
      // and a signaling NaN comes out quiet, as IEEE 754 conversion (x86
      // F16C, ARM FCVT, hence torch's `.float()`) does.
      word = sign | 0x7f800000 | (mantissa << 13) | (mantissa === 0 ? 0 : 0x400000);
    } else if (exponent !== 0) {
      // Rebias the exponent from 15 to 127.
      word = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa === 0) {
      word = sign;
    } else {
      // A half subnormal is a float32 normal: shift the leading 1 into the
      // implicit bit, lowering the exponent once per shift.
      let e = 113;
      while ((mantissa & 0x400) === 0) {
        mantissa <<= 1;
        e--;
      }
      word = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
    }
    outBits[i] = word >>> 0;
  }
  return out;
}

/**
 * Widens bfloat16 bit patterns (PyTorch `bfloat16`) to float32 values,
 * exactly: a bfloat16 is the top half of a float32, so each value is its bits
 * shifted left by 16 (subnormals, ±0, ±inf and NaN payloads included).
 *
 * @param bits - bfloat16 bit patterns (one `uint16` per value).
 * @returns a new `Float32Array` of the same length.
 *
 * @example
 * ```ts
 * import { bfloat16ToFloat32 } from 'tfjs-blocks';
 *
 * bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc020])); // [1, -2.5]
 * ```
 */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  checkBits('bfloat16ToFloat32', bits);
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = (bits[i]! << 16) >>> 0;
  return out;
}

/** Throws unless `bits` is a `Uint16Array` (any other array-like would be read as garbage or NaN). */
function checkBits(fn: string, bits: unknown): void {
  if (!(bits instanceof Uint16Array)) {
    throw new TfjsBlocksError(
      fn,
      'bits',
      'a Uint16Array of raw half-precision bits',
      describeValue(bits),
    );
  }
}
