/**
 * GGUF (v2/v3) reader. Layout (little-endian): magic "GGUF", u32 version, u64 tensor count,
 * u64 metadata count, metadata key/values, tensor infos, padding to `general.alignment`, then
 * tensor data. The header is parsed incrementally from the source and every count, length and
 * offset is checked against the bytes actually left in the file before anything is allocated,
 * so a corrupted header gives a clear error instead of a hang or a giant allocation.
 */
import type { ByteSource } from './source.js';
import { bf16ToF32, f16ToF32, fromF32, leF32, leU16, quoteName, type Want } from './decode.js';

export type GGUFValue = string | number | bigint | boolean | GGUFValue[];

export interface GGUFTensorInfo {
  name: string;
  /** PyTorch order, outermost first (ggml's `ne` reversed): a Linear weight is [out, in]. */
  shape: number[];
  type: 'F32' | 'F16' | 'BF16' | 'Q8_0' | (string & {});
  typeId: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export interface GGUFFile {
  name: string;
  version: number;
  alignment: number;
  /** Absolute offset of the tensor-data section. */
  dataOffset: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
}

/** ggml type id -> [name, elements per block, bytes per block] (ggml.c type_traits). */
const GGML_TYPES: Record<number, readonly [string, number, number]> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66],
  17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98],
  19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18],
  21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82],
  23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56],
  30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54],
  35: ['TQ2_0', 256, 66],
  39: ['MXFP4', 32, 17],
};

/** Ids of the ggml types, for writers and tests. */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;

/** Metadata value type ids (gguf.h). */
export const GGUF_VALUE_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_DIMS = 4;
const MAX_ARRAY_NESTING = 8;
// ggml itself caps tensor names at 63 bytes (GGML_MAX_NAME); these looser caps only stop a
// corrupt length from turning megabytes of tensor data into a "name".
const MAX_TENSOR_NAME_BYTES = 4096;
const MAX_KEY_BYTES = 65536;
const FIRST_CHUNK = 64 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;

// Lenient like llama.cpp: a few vocabularies hold token strings that are not valid UTF-8.
const utf8 = new TextDecoder('utf-8');

/**
 * Sequential reader over a ByteSource that keeps a window of bytes and refills it in growing
 * chunks, so only the header is ever read.
 */
class HeaderReader {
  pos = 0;
  private buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  private bufStart = 0;
  private view = new DataView(this.buf.buffer);
  private chunk = FIRST_CHUNK;
  /** What is being parsed, for error messages. */
  where = 'header';

  constructor(readonly src: ByteSource) {}

  get remaining(): number {
    return this.src.size - this.pos;
  }

  fail(msg: string): never {
    throw new Error(`${this.src.name}: ${this.where}: ${msg}`);
  }

  /** Makes [pos, pos+n) available in the window (reading ahead by the current chunk size). */
  async need(n: number): Promise<void> {
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    if (n > this.remaining) {
      this.fail(`needs ${n} bytes at offset ${this.pos} but the file ends at ${this.src.size} (truncated?)`);
    }
    const want = Math.min(Math.max(n, this.chunk), this.remaining);
    this.chunk = Math.min(this.chunk * 2, MAX_CHUNK);
    this.buf = (await this.src.read(this.pos, want)) as Uint8Array<ArrayBuffer>;
    this.bufStart = this.pos;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private at(n: number): number {
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }

  // Fixed-size reads; callers `await need()` first (readers below do it for single values).
  u8(): number { return this.view.getUint8(this.at(1)); }
  i8(): number { return this.view.getInt8(this.at(1)); }
  u16(): number { return this.view.getUint16(this.at(2), true); }
  i16(): number { return this.view.getInt16(this.at(2), true); }
  u32(): number { return this.view.getUint32(this.at(4), true); }
  i32(): number { return this.view.getInt32(this.at(4), true); }
  f32(): number { return this.view.getFloat32(this.at(4), true); }
  f64(): number { return this.view.getFloat64(this.at(8), true); }
  u64(): bigint { return this.view.getBigUint64(this.at(8), true); }
  i64(): bigint { return this.view.getBigInt64(this.at(8), true); }

  async readU32(): Promise<number> {
    await this.need(4);
    return this.u32();
  }

  /** A u64 that must be a count/offset: converted to number, failing when unsafe. */
  async readCount(what: string): Promise<number> {
    await this.need(8);
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is absurdly large`);
    return Number(v);
  }

  async readString(what: string, maxLength = Infinity): Promise<string> {
    const len = await this.readCount(`${what} length`);
    if (len > maxLength) this.fail(`${what} length ${len} is longer than the ${maxLength}-byte limit`);
    if (len > this.remaining) {
      this.fail(`${what} length ${len} exceeds the ${this.remaining} bytes left in the file`);
    }
    await this.need(len);
    const i = this.at(len);
    return utf8.decode(this.buf.subarray(i, i + len));
  }
}

/** 64-bit integers become numbers when exactly representable, else stay bigint. */
function int64(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

async function readValue(r: HeaderReader, type: number, depth: number): Promise<GGUFValue> {
  const size = SCALAR_SIZE[type];
  if (size !== undefined) {
    await r.need(size);
    return readScalar(r, type);
  }
  if (type === GGUF_VALUE_TYPE.STRING) return r.readString('string value');
  if (type === GGUF_VALUE_TYPE.ARRAY) {
    if (depth >= MAX_ARRAY_NESTING) r.fail(`arrays nested more than ${MAX_ARRAY_NESTING} deep`);
    const elemType = await r.readU32();
    const count = await r.readCount('array length');
    // Every element takes at least one byte (strings and arrays at least 8), so a count larger
    // than what is left in the file is corrupt: refuse before allocating anything.
    const minSize = SCALAR_SIZE[elemType] ?? (elemType === GGUF_VALUE_TYPE.STRING || elemType === GGUF_VALUE_TYPE.ARRAY ? 8 : 0);
    if (minSize === 0) r.fail(`unknown array element type ${elemType}`);
    if (count * minSize > r.remaining) {
      r.fail(`array length ${count} (element type ${elemType}) exceeds the ${r.remaining} bytes left in the file`);
    }
    const out: GGUFValue[] = new Array(count);
    if (SCALAR_SIZE[elemType] !== undefined) {
      await r.need(count * minSize);
      for (let i = 0; i < count; i++) out[i] = readScalar(r, elemType);
    } else {
      for (let i = 0; i < count; i++) out[i] = await readValue(r, elemType, depth + 1);
    }
    return out;
  }
  r.fail(`unknown value type ${type}`);
}

function readScalar(r: HeaderReader, type: number): number | bigint | boolean {
  switch (type) {
    case 0: return r.u8();
    case 1: return r.i8();
    case 2: return r.u16();
    case 3: return r.i16();
    case 4: return r.u32();
    case 5: return r.i32();
    case 6: return r.f32();
    case 7: {
      const b = r.u8();
      if (b > 1) r.fail(`bool value ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case 10: return int64(r.u64());
    case 11: return int64(r.i64());
    case 12: return r.f64();
    default: return r.fail(`unknown value type ${type}`);
  }
}

/** Parses the header and tensor table of a GGUF file (tensor data is read by readGGUFTensor). */
export async function readGGUF(src: ByteSource): Promise<GGUFFile> {
  const r = new HeaderReader(src);
  if (src.size < 24) r.fail(`file is ${src.size} bytes, too small for a GGUF header (24 bytes)`);
  await r.need(24);
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) {
    const found = Array.from(new Uint8Array(new Uint32Array([magic]).buffer), (b) =>
      b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`,
    ).join('');
    r.fail(`bad magic '${found}', expected 'GGUF' (not a GGUF file)`);
  }
  const version = r.u32();
  if (version !== 2 && version !== 3) {
    // A big-endian GGUF stores the version byte-swapped.
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3) r.fail(`big-endian GGUF (version ${swapped}) is not supported`);
    r.fail(`unsupported GGUF version ${version} (supported: 2, 3)`);
  }
  const nTensors = await r.readCount('tensor count');
  const nKV = await r.readCount('metadata count');
  // Each metadata entry takes at least 13 bytes (key length, type, 1-byte value), each tensor
  // info at least 24 (name length, n_dims, type, offset).
  if (nKV * 13 > r.remaining) r.fail(`metadata count ${nKV} cannot fit in the ${r.remaining} bytes left in the file`);
  if (nTensors * 24 > r.remaining) r.fail(`tensor count ${nTensors} cannot fit in the ${r.remaining} bytes left in the file`);

  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKV; i++) {
    r.where = `metadata entry ${i}`;
    const key = await r.readString('key', MAX_KEY_BYTES);
    r.where = `metadata key ${quoteName(key)}`;
    if (metadata.has(key)) r.fail('duplicate key');
    const type = await r.readU32();
    metadata.set(key, await readValue(r, type, 0));
  }

  r.where = `metadata key 'general.alignment'`;
  let alignment = 32;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (typeof al !== 'number' || !Number.isInteger(al) || al <= 0 || al > 2 ** 30 || (al & (al - 1)) !== 0) {
      return r.fail(`alignment ${String(al)} is not a positive power of two`);
    }
    alignment = al;
  }

  type Raw = { name: string; ne: number[]; typeId: number; rel: number };
  const raw: Raw[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    r.where = `tensor info ${i}`;
    const name = await r.readString('tensor name', MAX_TENSOR_NAME_BYTES);
    r.where = `tensor ${quoteName(name)}`;
    if (names.has(name)) r.fail('duplicate tensor name');
    names.add(name);
    const nDims = await r.readU32();
    if (nDims > MAX_DIMS) r.fail(`n_dims ${nDims} > ${MAX_DIMS}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(await r.readCount(`dimension ${d}`));
    const typeId = await r.readU32();
    const rel = await r.readCount('data offset');
    raw.push({ name, ne, typeId, rel });
  }

  r.where = 'header';
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > src.size) {
    r.fail(`tensor data would start at ${dataOffset}, past the end of the file (size ${src.size})`);
  }

  const tensors: GGUFTensorInfo[] = raw.map(({ name, ne, typeId, rel }) => {
    r.where = `tensor ${quoteName(name)}`;
    const traits = GGML_TYPES[typeId];
    if (!traits) r.fail(`unknown ggml type id ${typeId}`);
    const [type, blockSize, blockBytes] = traits;
    let numel = 1;
    for (const n of ne) {
      numel *= n;
      if (!Number.isSafeInteger(numel)) r.fail(`shape [${ne.slice().reverse().join(', ')}] has too many elements`);
    }
    if (ne.length > 0 && ne[0]! % blockSize !== 0) {
      r.fail(`innermost dimension ${ne[0]} is not a multiple of the ${type} block size ${blockSize}`);
    }
    const byteLength = Math.ceil(numel / blockSize) * blockBytes;
    if (rel % alignment !== 0) r.fail(`data offset ${rel} is not a multiple of the alignment ${alignment}`);
    const offset = dataOffset + rel;
    if (!Number.isSafeInteger(offset + byteLength) || offset + byteLength > src.size) {
      r.fail(`data [offset ${offset}, ${byteLength} bytes] runs past end of file (size ${src.size})`);
    }
    return { name, shape: ne.slice().reverse(), type, typeId, offset, byteLength };
  });

  // Tensor data ranges must not overlap (ggml lays them out back to back, padded).
  const byOffset = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new Error(`${src.name}: tensor ${quoteName(cur.name)} data [offset ${cur.offset}] overlaps tensor ${quoteName(prev.name)} [offset ${prev.offset}, ${prev.byteLength} bytes]`);
    }
  }

  return { name: src.name, version, alignment, dataOffset, metadata, tensors };
}

/** Q8_0: blocks of 32 values, each an f16 scale followed by 32 int8 quants (value = d * q). */
function dequantQ8_0(bytes: Uint8Array, numel: number, f16Table: (bits: Uint16Array) => Float32Array): Float32Array {
  const nBlocks = numel / 32;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scaleBits = new Uint16Array(nBlocks);
  for (let b = 0; b < nBlocks; b++) scaleBits[b] = dv.getUint16(b * 34, true);
  const scales = f16Table(scaleBits);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(numel);
  for (let b = 0; b < nBlocks; b++) {
    const d = scales[b]!;
    const base = b * 34 + 2;
    const o = b * 32;
    for (let j = 0; j < 32; j++) out[o + j] = d * q[base + j]!;
  }
  return out;
}

/**
 * Reads one tensor's data: `want: 'f32'` gives values, `'f16'` gives IEEE half bits (F16 data is
 * returned as stored; other types are converted). F32, F16, BF16 and Q8_0 are supported.
 */
export async function readGGUFTensor(src: ByteSource, info: GGUFTensorInfo, want: 'f32'): Promise<Float32Array>;
export async function readGGUFTensor(src: ByteSource, info: GGUFTensorInfo, want: 'f16'): Promise<Uint16Array>;
export async function readGGUFTensor(src: ByteSource, info: GGUFTensorInfo, want: Want): Promise<Float32Array | Uint16Array>;
export async function readGGUFTensor(src: ByteSource, info: GGUFTensorInfo, want: Want): Promise<Float32Array | Uint16Array> {
  const where = `${src.name}: tensor ${quoteName(info.name)}`;
  if (want !== 'f32' && want !== 'f16') throw new Error(`${where}: unsupported output '${String(want)}' (use 'f32' or 'f16')`);
  const numel = info.shape.reduce((a, b) => a * b, 1);
  const traits = GGML_TYPES[info.typeId];
  if (!traits || !['F32', 'F16', 'BF16', 'Q8_0'].includes(traits[0])) {
    throw new Error(`${where}: unsupported tensor type ${info.type} (id ${info.typeId}); supported: F32, F16, BF16, Q8_0`);
  }
  const expected = Math.ceil(numel / traits[1]) * traits[2];
  if (expected !== info.byteLength) {
    throw new Error(`${where}: byte length ${info.byteLength} does not match shape [${info.shape.join(', ')}] of ${info.type} (${expected} bytes)`);
  }
  if (info.offset + info.byteLength > src.size) {
    throw new Error(`${where} data [offset ${info.offset}, ${info.byteLength} bytes] runs past end of file (size ${src.size})`);
  }
  const bytes = await src.read(info.offset, info.byteLength);
  switch (traits[0]) {
    case 'F32':
      return fromF32(leF32(bytes), want);
    case 'F16': {
      const bits = leU16(bytes);
      return want === 'f16' ? bits : f16ToF32(bits);
    }
    case 'BF16':
      return fromF32(bf16ToF32(leU16(bytes)), want);
    default:
      return fromF32(dequantQ8_0(bytes, numel, f16ToF32), want);
  }
}

/** Alias of readGGUFTensor under the module-local name. */
export const readTensor = readGGUFTensor;

/** A metadata value, or undefined when the key is absent. */
export function ggufMetadata<T extends GGUFValue = GGUFValue>(file: GGUFFile, key: string): T | undefined {
  return file.metadata.get(key) as T | undefined;
}

/** A metadata value that must be present. */
export function ggufRequire<T extends GGUFValue = GGUFValue>(file: GGUFFile, key: string): T {
  return typedMetadata<T>(file, key, 'a value', () => true);
}

/** A numeric metadata value (64-bit values must fit in a double), or `fallback` when absent. */
export function ggufNumber(file: GGUFFile, key: string, fallback?: number): number {
  return typedMetadata(file, key, 'a number', (v) => typeof v === 'number', fallback);
}

/** A string metadata value, or `fallback` when absent. */
export function ggufString(file: GGUFFile, key: string, fallback?: string): string {
  return typedMetadata(file, key, 'a string', (v) => typeof v === 'string', fallback);
}

/** An array metadata value, or `fallback` when absent. */
export function ggufArray<T extends GGUFValue = GGUFValue>(file: GGUFFile, key: string, fallback?: T[]): T[] {
  return typedMetadata(file, key, 'an array', Array.isArray, fallback);
}

/** The value of `key` when `is` accepts it, `fallback` when absent; throws naming the file otherwise. */
function typedMetadata<T>(file: GGUFFile, key: string, what: string, is: (v: GGUFValue) => boolean, fallback?: T): T {
  const v = file.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`${file.name}: metadata key '${key}' is missing`);
  }
  if (!is(v)) throw new Error(`${file.name}: metadata key '${key}' should be ${what}, found ${describe(v)}`);
  return v as T;
}

/** `general.architecture`, e.g. 'llama' (architecture-specific keys are prefixed with it). */
export function ggufArchitecture(file: GGUFFile): string {
  return ggufString(file, 'general.architecture');
}

/** A tensor's info by name. */
export function ggufTensor(file: GGUFFile, name: string): GGUFTensorInfo {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`${file.name}: tensor '${name}' not found`);
  return t;
}

function describe(v: GGUFValue): string {
  if (Array.isArray(v)) return `array[${v.length}]`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
