import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { f32ToF16Bits } from '@moegraph/tensor-webgpu';
import { stories260KPath } from '../paths.js';
import { fileSource, memorySource } from './source.js';
import { fuzzCorruptFile } from './test-fuzz.js';
import {
  GGML_TYPE,
  GGUF_VALUE_TYPE as T,
  ggufArchitecture,
  ggufArray,
  ggufMetadata,
  ggufNumber,
  ggufString,
  ggufTensor,
  readGGUF,
  readGGUFTensor,
  type GGUFTensorInfo,
} from './gguf.js';

const storiesPath = stories260KPath();
const storiesBytes = new Uint8Array(readFileSync(storiesPath));

// ---- test-only GGUF writer -------------------------------------------------------------------

type KV = [key: string, type: number, value: unknown, elemType?: number];
interface WTensor {
  name: string;
  /** PyTorch order (written reversed, as ggml ne). */
  shape: number[];
  typeId: number;
  data: Uint8Array;
  /** Override the stored n_dims / offset to build corrupt files. */
  nDims?: number;
  offset?: number;
}

class Bytes {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 0xff); }
  u32(v: number) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); this.parts.push(...b); }
  u64(v: number | bigint) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); this.parts.push(...b); }
  raw(b: Uint8Array) { for (const x of b) this.parts.push(x); }
  str(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); this.raw(b); }
  scalar(type: number, v: unknown) {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    switch (type) {
      case T.UINT8: case T.INT8: this.u8(v as number); return;
      case T.BOOL: this.u8(v ? 1 : 0); return;
      case T.UINT16: case T.INT16: dv.setUint16(0, v as number, true); this.raw(b.subarray(0, 2)); return;
      case T.UINT32: this.u32(v as number); return;
      case T.INT32: dv.setInt32(0, v as number, true); this.raw(b.subarray(0, 4)); return;
      case T.FLOAT32: dv.setFloat32(0, v as number, true); this.raw(b.subarray(0, 4)); return;
      case T.UINT64: dv.setBigUint64(0, BigInt(v as number | bigint), true); this.raw(b); return;
      case T.INT64: dv.setBigInt64(0, BigInt(v as number | bigint), true); this.raw(b); return;
      case T.FLOAT64: dv.setFloat64(0, v as number, true); this.raw(b); return;
      case T.STRING: this.str(v as string); return;
      default: throw new Error(`writer: type ${type}`);
    }
  }
}

function buildGGUF(kvs: KV[], tensors: WTensor[], opts: { version?: number; alignment?: number } = {}): Uint8Array {
  const align = opts.alignment ?? 32;
  const w = new Bytes();
  w.raw(new TextEncoder().encode('GGUF'));
  w.u32(opts.version ?? 3);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [key, type, value, elemType] of kvs) {
    w.str(key);
    w.u32(type);
    if (type === T.ARRAY) {
      const arr = value as unknown[];
      w.u32(elemType!);
      w.u64(arr.length);
      for (const x of arr) w.scalar(elemType!, x);
    } else w.scalar(type, value);
  }
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.str(t.name);
    const ne = [...t.shape].reverse();
    w.u32(t.nDims ?? ne.length);
    for (const n of ne) w.u64(n);
    w.u32(t.typeId);
    offsets.push(off);
    w.u64(t.offset ?? off);
    off += Math.ceil(t.data.length / align) * align;
  }
  while (w.parts.length % align) w.u8(0);
  const dataStart = w.parts.length;
  const out = new Uint8Array(dataStart + off);
  out.set(w.parts);
  tensors.forEach((t, i) => out.set(t.data, dataStart + offsets[i]!));
  return out;
}

const f32Bytes = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const u16Bytes = (v: number[]) => new Uint8Array(new Uint16Array(v).buffer);

// ---- the real model --------------------------------------------------------------------------

describe('stories260K.gguf', () => {
  it('parses the header: llama, 5 blocks, dim 64, vocab 512, PyTorch-order shapes', async () => {
    const src = await fileSource(storiesPath);
    try {
      const f = await readGGUF(src);
      expect(f.name).toBe('stories260K.gguf');
      expect(f.version).toBe(3);
      expect(f.alignment).toBe(32);
      expect(ggufArchitecture(f)).toBe('llama');
      expect(ggufNumber(f, 'llama.block_count')).toBe(5);
      expect(ggufNumber(f, 'llama.embedding_length')).toBe(64);
      expect(ggufNumber(f, 'llama.feed_forward_length')).toBe(172);
      expect(ggufNumber(f, 'llama.attention.head_count')).toBe(8);
      expect(ggufNumber(f, 'llama.attention.head_count_kv')).toBe(4);
      expect(ggufNumber(f, 'llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
      expect(ggufNumber(f, 'tokenizer.ggml.bos_token_id')).toBe(1);
      expect(ggufNumber(f, 'tokenizer.ggml.eos_token_id')).toBe(2);
      expect(ggufString(f, 'tokenizer.ggml.model')).toBe('llama');
      const tokens = ggufArray<string>(f, 'tokenizer.ggml.tokens');
      expect(tokens.length).toBe(512);
      expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
      expect(ggufMetadata(f, 'no.such.key')).toBeUndefined();
      expect(() => ggufNumber(f, 'no.such.key')).toThrow(/stories260K\.gguf: metadata key 'no\.such\.key' is missing/);
      expect(() => ggufNumber(f, 'general.architecture')).toThrow(/should be a number/);

      expect(f.tensors.length).toBe(48);
      expect(ggufTensor(f, 'token_embd.weight').shape).toEqual([512, 64]);
      expect(ggufTensor(f, 'output_norm.weight').shape).toEqual([64]);
      expect(ggufTensor(f, 'blk.0.attn_q.weight').shape).toEqual([64, 64]);
      expect(ggufTensor(f, 'blk.0.attn_k.weight').shape).toEqual([32, 64]);
      expect(ggufTensor(f, 'blk.0.ffn_gate.weight').shape).toEqual([172, 64]);
      expect(ggufTensor(f, 'blk.0.ffn_down.weight').shape).toEqual([64, 172]);
      expect(ggufTensor(f, 'blk.4.ffn_norm.weight').shape).toEqual([64]);
      expect(f.tensors.every((t) => t.type === 'F32' && t.typeId === 0)).toBe(true);
      expect(f.tensors.every((t) => t.offset % 32 === 0 && t.offset >= f.dataOffset)).toBe(true);

      // README: 260,032 parameters with the classifier tied to the embedding. This conversion
      // also stores that classifier as `output.weight` (an identical copy), so the tensors hold
      // 260,032 + 512*64.
      const numel = (t: GGUFTensorInfo) => t.shape.reduce((a, b) => a * b, 1);
      const total = f.tensors.reduce((s, t) => s + numel(t), 0);
      expect(total - numel(ggufTensor(f, 'output.weight'))).toBe(260_032);
      expect(total).toBe(260_032 + 512 * 64);
      const emb = await readGGUFTensor(src, ggufTensor(f, 'token_embd.weight'), 'f32');
      const out = await readGGUFTensor(src, ggufTensor(f, 'output.weight'), 'f32');
      expect(out).toEqual(emb);
    } finally {
      await src.close();
    }
  });

  it('reads tensors as finite f32 values and as f16 bits', async () => {
    const src = memorySource(storiesBytes, 'stories260K.gguf');
    const f = await readGGUF(src);
    for (const t of f.tensors) {
      const v = await readGGUFTensor(src, t, 'f32');
      expect(v.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      expect(v.every(Number.isFinite)).toBe(true);
    }
    const q = ggufTensor(f, 'blk.0.attn_q.weight');
    const v = await readGGUFTensor(src, q, 'f32');
    // Same bytes as the file at the tensor offset.
    const direct = new DataView(storiesBytes.buffer, storiesBytes.byteOffset + q.offset, 16);
    expect(v[0]).toBe(direct.getFloat32(0, true));
    expect(v[3]).toBe(direct.getFloat32(12, true));
    expect(v.some((x) => x !== 0)).toBe(true);
    const norm = await readGGUFTensor(src, ggufTensor(f, 'blk.0.attn_norm.weight'), 'f32');
    expect(norm.some((x) => Math.abs(x) > 0.1)).toBe(true);
    const h = await readGGUFTensor(src, q, 'f16');
    expect(h).toBeInstanceOf(Uint16Array);
    expect(Array.from(h.subarray(0, 50))).toEqual(Array.from(v.subarray(0, 50), f32ToF16Bits));
  });

  it('parses without reading the whole file (incremental header)', async () => {
    const inner = memorySource(storiesBytes, 'stories260K.gguf');
    let bytesRead = 0;
    const counting = { ...inner, read: (o: number, n: number) => ((bytesRead += n), inner.read(o, n)) };
    const f = await readGGUF(counting);
    expect(f.tensors.length).toBe(48);
    expect(bytesRead).toBeLessThan(storiesBytes.length / 4);
  });
});

// ---- decoding against hand-computed values ---------------------------------------------------

describe('tensor types', () => {
  it('decodes F16 and BF16', async () => {
    // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff, 2^-24 = 0x0001 (subnormal)
    // bf16: 1.0 = 0x3f80, -2.0 = 0xc000, 3.140625 = 0x4049, 1e-40-ish subnormal 0x0001 = 2^-133
    const bytes = buildGGUF(
      [['general.architecture', T.STRING, 'test']],
      [
        { name: 'h', shape: [5], typeId: GGML_TYPE.F16, data: u16Bytes([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001]) },
        { name: 'b', shape: [2, 2], typeId: GGML_TYPE.BF16, data: u16Bytes([0x3f80, 0xc000, 0x4049, 0x0001]) },
      ],
    );
    const src = memorySource(bytes, 'tiny.gguf');
    const f = await readGGUF(src);
    const [h, b] = f.tensors;
    expect(h!.type).toBe('F16');
    expect(b!.type).toBe('BF16');
    expect(b!.shape).toEqual([2, 2]);
    expect(Array.from(await readGGUFTensor(src, h!, 'f32'))).toEqual([1, -2, 0.5, 65504, 2 ** -24]);
    expect(Array.from(await readGGUFTensor(src, h!, 'f16'))).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001]);
    expect(Array.from(await readGGUFTensor(src, b!, 'f32'))).toEqual([1, -2, 3.140625, 2 ** -133]);
    expect(Array.from(await readGGUFTensor(src, b!, 'f16'))).toEqual([0x3c00, 0xc000, f32ToF16Bits(3.140625), 0]);
  });

  it('dequantises Q8_0 (f16 scale + 32 int8 per block)', async () => {
    // Two blocks: scale 0.5 with q = j - 16, scale -0.25 with q = 127, -128, 0, ...
    const block = (scaleBits: number, q: number[]) => {
      const b = new Uint8Array(34);
      new DataView(b.buffer).setUint16(0, scaleBits, true);
      new Int8Array(b.buffer, 2, 32).set(q);
      return b;
    };
    const q1 = Array.from({ length: 32 }, (_, j) => j - 16);
    const q2 = Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 : j === 1 ? -128 : 0));
    const data = new Uint8Array(68);
    data.set(block(0x3800, q1), 0);
    data.set(block(0xb400, q2), 34);
    const bytes = buildGGUF([], [{ name: 'q', shape: [1, 64], typeId: GGML_TYPE.Q8_0, data }]);
    const src = memorySource(bytes, 'q8.gguf');
    const [t] = (await readGGUF(src)).tensors;
    expect(t!.type).toBe('Q8_0');
    expect(t!.byteLength).toBe(68);
    const v = await readGGUFTensor(src, t!, 'f32');
    const expected = [...q1.map((q) => q * 0.5), ...q2.map((q) => q * -0.25)];
    expect(Array.from(v)).toEqual(expected);
    expect(Array.from(await readGGUFTensor(src, t!, 'f16'))).toEqual(expected.map(f32ToF16Bits));
  });

  it('refuses unsupported types naming the tensor and type', async () => {
    const bytes = buildGGUF([], [{ name: 'blk.0.ffn_up.weight', shape: [1, 256], typeId: 12, data: new Uint8Array(144) }]);
    const src = memorySource(bytes, 'q4.gguf');
    const f = await readGGUF(src);
    expect(f.tensors[0]!.type).toBe('Q4_K');
    await expect(readGGUFTensor(src, f.tensors[0]!, 'f32')).rejects.toThrow(
      /q4\.gguf: tensor 'blk\.0\.ffn_up\.weight': unsupported tensor type Q4_K/,
    );
  });

  it('reads v2 files and metadata of every value type', async () => {
    const kvs: KV[] = [
      ['u8', T.UINT8, 200], ['i8', T.INT8, -5], ['u16', T.UINT16, 60000], ['i16', T.INT16, -300],
      ['u32', T.UINT32, 4e9], ['i32', T.INT32, -7], ['f32', T.FLOAT32, 1.5], ['bool', T.BOOL, true],
      ['str', T.STRING, 'héllo'], ['u64', T.UINT64, 2n ** 40n], ['big', T.UINT64, 2n ** 63n],
      ['i64', T.INT64, -3n], ['f64', T.FLOAT64, Math.PI], ['arr', T.ARRAY, ['a', 'bc'], T.STRING],
      ['nums', T.ARRAY, [1, 2, 3], T.INT32],
    ];
    const bytes = buildGGUF(kvs, [{ name: 'x', shape: [2], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2]) }], { version: 2 });
    const f = await readGGUF(memorySource(bytes, 'v2.gguf'));
    expect(f.version).toBe(2);
    expect(Object.fromEntries(f.metadata)).toEqual({
      u8: 200, i8: -5, u16: 60000, i16: -300, u32: 4e9, i32: -7, f32: 1.5, bool: true, str: 'héllo',
      u64: 2 ** 40, big: 2n ** 63n, i64: -3, f64: Math.PI, arr: ['a', 'bc'], nums: [1, 2, 3],
    });
  });

  it('honours general.alignment', async () => {
    const bytes = buildGGUF(
      [['general.alignment', T.UINT32, 64]],
      [
        { name: 'a', shape: [3], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2, 3]) },
        { name: 'b', shape: [2], typeId: GGML_TYPE.F32, data: f32Bytes([4, 5]) },
      ],
      { alignment: 64 },
    );
    const src = memorySource(bytes, 'al.gguf');
    const f = await readGGUF(src);
    expect(f.alignment).toBe(64);
    expect(f.tensors[1]!.offset - f.tensors[0]!.offset).toBe(64);
    expect(Array.from(await readGGUFTensor(src, f.tensors[1]!, 'f32'))).toEqual([4, 5]);
  });
});

// ---- validation ------------------------------------------------------------------------------

describe('corrupt files', () => {
  const good = () =>
    buildGGUF([['general.architecture', T.STRING, 'llama']], [{ name: 'w', shape: [2, 4], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) }]);

  it('wrong magic names what was found', async () => {
    const b = good();
    b.set(new TextEncoder().encode('GGML'), 0);
    await expect(readGGUF(memorySource(b, 'bad.gguf'))).rejects.toThrow(/bad\.gguf: header: bad magic 'GGML', expected 'GGUF'/);
    await expect(readGGUF(memorySource(new TextEncoder().encode('{"not": "gguf"} padding padding'), 'x.gguf'))).rejects.toThrow(
      /x\.gguf: .*bad magic '\{"no'/,
    );
  });

  it('unsupported and big-endian versions', async () => {
    await expect(readGGUF(memorySource(buildGGUF([], [], { version: 1 }), 'v1.gguf'))).rejects.toThrow(/v1\.gguf: .*unsupported GGUF version 1/);
    await expect(readGGUF(memorySource(buildGGUF([], [], { version: 0x03000000 }), 'be.gguf'))).rejects.toThrow(/be\.gguf: .*big-endian/);
  });

  it('truncated file', async () => {
    const b = storiesBytes;
    await expect(readGGUF(memorySource(b.subarray(0, 10), 's.gguf'))).rejects.toThrow(/s\.gguf: .*too small/);
    await expect(readGGUF(memorySource(b.subarray(0, 5000), 's.gguf'))).rejects.toThrow(/s\.gguf: .*(file ends at 5000|exceeds the)/);
    // Header intact but data cut: the last tensor runs past the end.
    await expect(readGGUF(memorySource(b.subarray(0, b.length - 100), 's.gguf'))).rejects.toThrow(
      /s\.gguf: tensor 'blk\.4\.ffn_norm\.weight': data \[offset 1185120, 256 bytes\] runs past end of file \(size 1185276\)/,
    );
  });

  it('a tensor whose shape needs more bytes than it has', async () => {
    // Declares [2, 8] (64 bytes) over 32 bytes of data at the end of the file.
    const b = buildGGUF([], [{ name: 'blk.0.attn_q.weight', shape: [2, 8], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) }]);
    await expect(readGGUF(memorySource(b, 'short.gguf'))).rejects.toThrow(/short\.gguf: tensor 'blk\.0\.attn_q\.weight': data \[offset \d+, 64 bytes\] runs past end of file/);
    // Two tensors whose ranges overlap because the first claims more bytes than it was given.
    const o = buildGGUF([], [
      { name: 'a', shape: [16], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
      { name: 'b', shape: [8], typeId: GGML_TYPE.F32, data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
    ]);
    await expect(readGGUF(memorySource(o, 'overlap.gguf'))).rejects.toThrow(/overlap\.gguf: tensor 'b' .*overlaps tensor 'a'/);
    // And readGGUFTensor checks an info whose byteLength disagrees with its shape.
    const src = memorySource(good(), 'g.gguf');
    const t = (await readGGUF(src)).tensors[0]!;
    await expect(readGGUFTensor(src, { ...t, byteLength: 16 }, 'f32')).rejects.toThrow(/g\.gguf: tensor 'w': byte length 16 does not match shape \[2, 4\] of F32 \(32 bytes\)/);
  });

  it('n_dims, offsets, block sizes and type ids', async () => {
    const one = (t: Partial<WTensor>) =>
      readGGUF(memorySource(buildGGUF([], [{ name: 't', shape: [32], typeId: GGML_TYPE.F32, data: new Uint8Array(128), ...t }]), 'c.gguf'));
    await expect(one({ nDims: 5 })).rejects.toThrow(/c\.gguf: tensor 't': n_dims 5 > 4/);
    await expect(one({ offset: 4 })).rejects.toThrow(/c\.gguf: tensor 't': data offset 4 is not a multiple of the alignment 32/);
    await expect(one({ offset: 1 << 20 })).rejects.toThrow(/c\.gguf: tensor 't': data .*runs past end of file/);
    await expect(one({ typeId: 99 })).rejects.toThrow(/c\.gguf: tensor 't': unknown ggml type id 99/);
    await expect(one({ shape: [1, 16], typeId: GGML_TYPE.Q8_0 })).rejects.toThrow(/not a multiple of the Q8_0 block size 32/);
  });

  it('huge counts and lengths fail before allocating', async () => {
    const b = good();
    const dv = new DataView(b.buffer);
    const hugeTensors = b.slice();
    new DataView(hugeTensors.buffer).setBigUint64(8, 2n ** 40n, true);
    await expect(readGGUF(memorySource(hugeTensors, 'h.gguf'))).rejects.toThrow(/h\.gguf: header: tensor count 1099511627776 cannot fit/);
    const hugeKV = b.slice();
    new DataView(hugeKV.buffer).setBigUint64(16, 2n ** 63n, true);
    await expect(readGGUF(memorySource(hugeKV, 'h.gguf'))).rejects.toThrow(/h\.gguf: header: metadata count .* is absurdly large/);
    // The first key's length field sits at offset 24.
    expect(Number(dv.getBigUint64(24, true))).toBe('general.architecture'.length);
    const hugeKey = b.slice();
    new DataView(hugeKey.buffer).setBigUint64(24, 1n << 50n, true);
    await expect(readGGUF(memorySource(hugeKey, 'h.gguf'))).rejects.toThrow(/h\.gguf: metadata entry 0: key length 1125899906842624 is longer than the 65536-byte limit/);
    new DataView(hugeKey.buffer).setBigUint64(24, 60000n, true);
    await expect(readGGUF(memorySource(hugeKey, 'h.gguf'))).rejects.toThrow(/h\.gguf: metadata entry 0: key length 60000 exceeds the \d+ bytes left/);
    const hugeArray = buildGGUF([['tokenizer.ggml.tokens', T.ARRAY, [], T.STRING]], []);
    new DataView(hugeArray.buffer).setBigUint64(24 + 8 + 21 + 4 + 4, 1n << 40n, true);
    await expect(readGGUF(memorySource(hugeArray, 'h.gguf'))).rejects.toThrow(
      /h\.gguf: metadata key 'tokenizer\.ggml\.tokens': array length 1099511627776 .*exceeds the \d+ bytes left/,
    );
  });
});

// ---- fuzzing ---------------------------------------------------------------------------------

describe('fuzz', () => {
  it('corrupted or truncated stories260K.gguf always fails with an Error naming the file', async () => {
    const messages = new Set<string>();
    const failures = await fuzzCorruptFile({
      good: storiesBytes,
      name: 'fuzz.gguf',
      seed: 1234,
      headBytes: 64,
      headerEnd: 14176, // data section start of stories260K.gguf
      parse: async (src) => (await readGGUF(src)).tensors,
      // Parsed: every tensor must then be readable or fail cleanly.
      readTensor: (src, t) => readGGUFTensor(src, t, 'f32'),
      checkTensorError: (e) => expect(e.message).toContain('fuzz.gguf'),
      parseError: /^fuzz\.gguf: /,
      checkParseError: (e) => messages.add(e.message.replace(/\d+/g, 'N')),
    });
    expect(failures).toBeGreaterThan(100);
    expect(messages.size).toBeGreaterThan(5);
  });
});
