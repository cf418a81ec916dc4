/**
 * Element decoders shared by the GGUF and safetensors readers. Both formats are little-endian;
 * on a little-endian host (every platform we run on) typed-array views are used directly, with a
 * DataView path kept for correctness elsewhere.
 */
import { f16BitsToF32, f32ToF16Bits } from '@moegraph/tensor-webgpu';

export type Want = 'f32' | 'f16';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let f16Table: Float32Array | undefined;
/** All 65536 half values as f32: decoding a tensor becomes one lookup per element. */
function f16ToF32Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** The bytes as a typed array of `bytesPer`-byte elements (copying only when misaligned). */
function aligned(bytes: Uint8Array, bytesPer: number): ArrayBuffer {
  if (bytes.byteOffset % bytesPer === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes.buffer as ArrayBuffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}

/** Little-endian f32 bytes -> Float32Array. Takes ownership of `bytes`. */
export function leF32(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 2;
  if (LITTLE_ENDIAN) return new Float32Array(aligned(bytes, 4), 0, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/** Little-endian u16 bytes -> Uint16Array. Takes ownership of `bytes`. */
export function leU16(bytes: Uint8Array): Uint16Array {
  const n = bytes.byteLength >>> 1;
  if (LITTLE_ENDIAN) return new Uint16Array(aligned(bytes, 2), 0, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

/** Little-endian i32 bytes -> Int32Array. Takes ownership of `bytes`. */
export function leI32(bytes: Uint8Array): Int32Array {
  const n = bytes.byteLength >>> 2;
  if (LITTLE_ENDIAN) return new Int32Array(aligned(bytes, 4), 0, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
  return out;
}

export function f16ToF32(bits: Uint16Array): Float32Array {
  const t = f16ToF32Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!;
  return out;
}

export function f32ToF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

/** bfloat16 is the top half of an f32, so widening is a shift. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

/** f32 -> bfloat16 bits, rounding to nearest even (NaN stays NaN), as PyTorch does. */
export function f32ToBF16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** f32 values in the representation the caller asked for. */
export function fromF32(values: Float32Array, want: Want): Float32Array | Uint16Array {
  return want === 'f32' ? values : f32ToF16(values);
}

/** A name for error messages: control characters escaped, long (corrupt) names cut short. */
export function quoteName(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `'${clean.length > 80 ? `${clean.slice(0, 80)}...' (${s.length} chars)` : `${clean}'`}`;
}
