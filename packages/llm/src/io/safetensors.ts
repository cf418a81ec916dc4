/**
 * safetensors reader/writer. Layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}`, then the data
 * section; offsets are relative to the start of the data section.
 */
import type { ByteSource } from './source.js';
import { bf16ToF32, f16ToF32, f32ToBF16, f32ToF16, fromF32, leF32, leI32, leU16, quoteName } from './decode.js';

export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  name: string;
  /** Length of the JSON header in bytes. */
  headerLength: number;
  /** Absolute offset of the data section (8 + headerLength). */
  dataOffset: number;
  metadata: Record<string, string>;
  tensors: SafetensorsTensorInfo[];
}

/** JSON of a (possibly corrupt, huge) header value, cut short for error messages. */
function brief(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/** Same limit as the reference implementation: a larger header is treated as corrupt. */
const MAX_HEADER_BYTES = 100_000_000;

export async function readSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const fail = (msg: string): never => {
    throw new Error(`${src.name}: ${msg}`);
  };
  if (src.size < 8) fail(`file is ${src.size} bytes, too small for a safetensors header length (8 bytes)`);
  const lenBytes = await src.read(0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is larger than the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  const headerLength = Number(headerLen);
  if (8 + headerLength > src.size) fail(`header length ${headerLength} runs past end of file (size ${src.size}; truncated?)`);
  if (headerLength < 2) fail(`header length ${headerLength} is too small for a JSON object`);

  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, headerLength));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header JSON is not an object');

  const dataOffset = 8 + headerLength;
  const dataSize = src.size - dataOffset;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`__metadata__ is not an object`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ key ${quoteName(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor ${quoteName(name)}`;
    if (typeof entry !== 'object' || entry === null) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`${where}: unknown dtype ${brief(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`${where}: shape ${brief(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      fail(`${where}: data_offsets ${brief(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      fail(`${where}: data [offset ${dataOffset + begin}, ${end - begin} bytes] runs past end of file (size ${src.size})`);
    }
    let numel = 1;
    for (const d of shape as number[]) numel *= d;
    const expected = numel * DTYPE_BYTES[dtype as SafetensorsDType];
    if (end - begin !== expected) {
      fail(`${where}: ${end - begin} data bytes do not match shape ${brief(shape)} of ${dtype} (${expected} bytes)`);
    }
    tensors.push({ name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], offset: dataOffset + begin, byteLength: end - begin });
  }

  const byOffset = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.byteLength) fail(`tensor ${quoteName(cur.name)} data overlaps tensor ${quoteName(prev.name)}`);
  }
  return { name: src.name, headerLength, dataOffset, metadata, tensors };
}

export type SafetensorsWant = 'f32' | 'f16' | 'i32';

/**
 * Reads one tensor: float dtypes (F32, F16, BF16, F64) as f32 values or f16 bits; integer index
 * tensors (I32, I64) as Int32Array with `want: 'i32'` (I64 values must fit in 32 bits).
 */
export async function readSafetensorsTensor(src: ByteSource, info: SafetensorsTensorInfo, want: 'f32'): Promise<Float32Array>;
export async function readSafetensorsTensor(src: ByteSource, info: SafetensorsTensorInfo, want: 'f16'): Promise<Uint16Array>;
export async function readSafetensorsTensor(src: ByteSource, info: SafetensorsTensorInfo, want: 'i32'): Promise<Int32Array>;
export async function readSafetensorsTensor(src: ByteSource, info: SafetensorsTensorInfo, want: 'f32' | 'f16'): Promise<Float32Array | Uint16Array>;
export async function readSafetensorsTensor(src: ByteSource, info: SafetensorsTensorInfo, want: SafetensorsWant): Promise<Float32Array | Uint16Array | Int32Array>;
export async function readSafetensorsTensor(
  src: ByteSource,
  info: SafetensorsTensorInfo,
  want: SafetensorsWant,
): Promise<Float32Array | Uint16Array | Int32Array> {
  const where = `${src.name}: tensor ${quoteName(info.name)}`;
  const numel = info.shape.reduce((a, b) => a * b, 1);
  const elemBytes = DTYPE_BYTES[info.dtype];
  if (elemBytes === undefined) throw new Error(`${where}: unknown dtype ${info.dtype}`);
  if (numel * elemBytes !== info.byteLength) {
    throw new Error(`${where}: byte length ${info.byteLength} does not match shape [${info.shape.join(', ')}] of ${info.dtype}`);
  }
  const isFloat = info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64';
  const isIndex = info.dtype === 'I32' || info.dtype === 'I64';
  if (want === 'i32' ? !isIndex : !isFloat || (want !== 'f32' && want !== 'f16')) {
    throw new Error(`${where}: cannot read dtype ${info.dtype} as '${String(want)}' (floats: F32/F16/BF16/F64 as 'f32'/'f16'; indices: I32/I64 as 'i32')`);
  }
  const bytes = await src.read(info.offset, info.byteLength);
  switch (info.dtype) {
    case 'F32':
      return fromF32(leF32(bytes), want as 'f32' | 'f16');
    case 'F16': {
      const bits = leU16(bytes);
      return want === 'f16' ? bits : f16ToF32(bits);
    }
    case 'BF16':
      return fromF32(bf16ToF32(leU16(bytes)), want as 'f32' | 'f16');
    case 'F64': {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = dv.getFloat64(i * 8, true);
      return fromF32(out, want as 'f32' | 'f16');
    }
    case 'I32':
      return leI32(bytes);
    default: {
      // I64: narrowed with a range check, since index tensors are used as i32 on the GPU.
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) {
        const v = dv.getBigInt64(i * 8, true);
        if (v < -2147483648n || v > 2147483647n) throw new Error(`${where}: I64 element ${i} = ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Alias of readSafetensorsTensor under the module-local name. */
export const readTensor = readSafetensorsTensor;

export interface SafetensorsInput {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32';
  shape: number[];
  /**
   * F32: Float32Array. F16/BF16: Uint16Array of raw bits, or Float32Array (converted, rounding
   * to nearest even). I32: Int32Array.
   */
  data: Float32Array | Uint16Array | Int32Array;
}

function toBytes(t: SafetensorsInput): Uint8Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`encodeSafetensors: tensor '${t.name}' has invalid shape [${t.shape.join(', ')}]`);
  if (t.data.length !== numel) {
    throw new Error(`encodeSafetensors: tensor '${t.name}' has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${numel}`);
  }
  let arr: Float32Array | Uint16Array | Int32Array;
  const bad = () => new Error(`encodeSafetensors: tensor '${t.name}': dtype ${t.dtype} cannot take ${t.data.constructor.name}`);
  switch (t.dtype) {
    case 'F32':
      if (!(t.data instanceof Float32Array)) throw bad();
      arr = t.data;
      break;
    case 'F16':
      if (t.data instanceof Int32Array) throw bad();
      arr = t.data instanceof Float32Array ? f32ToF16(t.data) : t.data;
      break;
    case 'BF16':
      if (t.data instanceof Int32Array) throw bad();
      arr = t.data instanceof Float32Array ? f32ToBF16(t.data) : t.data;
      break;
    case 'I32':
      if (!(t.data instanceof Int32Array)) throw bad();
      arr = t.data;
      break;
    default:
      throw new Error(`encodeSafetensors: tensor '${t.name}' has unsupported dtype ${String(t.dtype)}`);
  }
  // Little-endian host assumed for writing (checked in decode.ts for reading).
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

/** Serialises tensors (sorted by name) to safetensors bytes. */
export function encodeSafetensors(tensors: SafetensorsInput[], metadata?: Record<string, string>): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // No prototype, so names like 'toString' are ordinary keys.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const t of sorted) {
    if (t.name === '__metadata__') throw new Error(`encodeSafetensors: '__metadata__' is not a valid tensor name`);
    if (t.name in header) throw new Error(`encodeSafetensors: duplicate tensor name '${t.name}'`);
    const bytes = toBytes(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes.byteLength] };
    chunks.push(bytes);
    off += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces to a multiple of 8 so the data section is 8-byte aligned, as the reference
  // implementation does.
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(json.byteLength + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let p = 8 + json.byteLength;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically: a temp file in the same directory, then rename. */
export async function writeSafetensors(path: string, tensors: SafetensorsInput[], metadata?: Record<string, string>): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const fs = await import('node:fs/promises');
  const { dirname, basename, join } = await import('node:path');
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new Error(`${path}: cannot write safetensors file: ${(e as Error).message}`);
  }
}
