import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f32ToF16Bits } from '@moegraph/tensor-webgpu';
import { stories260KPath } from '../paths.js';
import { f32ToBF16 } from './decode.js';
import { readGGUF, readGGUFTensor } from './gguf.js';
import { encodeSafetensors, readSafetensors, readSafetensorsTensor, writeSafetensors, type SafetensorsInput } from './safetensors.js';
import { fileSource, memorySource } from './source.js';
import { fuzzCorruptFile } from './test-fuzz.js';

/** A safetensors file from a hand-written header object and data bytes. */
function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const F = (v: number[]) => new Float32Array(v);

describe('encode / read round trip', () => {
  const tensors: SafetensorsInput[] = [
    { name: 'z.f32', dtype: 'F32', shape: [2, 3], data: F([1, -2, 3.5, 1e-30, 65504, -0]) },
    { name: 'a.f16', dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x0001]) },
    { name: 'm.f16conv', dtype: 'F16', shape: [2], data: F([0.1, 1000.5]) },
    { name: 'b.bf16', dtype: 'BF16', shape: [1, 4], data: new Uint16Array([0x3f80, 0xc000, 0x4049, 0x0001]) },
    { name: 'c.bf16conv', dtype: 'BF16', shape: [4], data: F([1.00390625, 1.01171875, -3, Infinity]) },
    { name: 'idx', dtype: 'I32', shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: F([]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: F([7]) },
  ];

  it('every dtype survives encode -> read', async () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'hi' });
    const src = memorySource(bytes, 'rt.safetensors');
    const st = await readSafetensors(src);
    expect(st.metadata).toEqual({ format: 'pt', note: 'hi' });
    // Header padded with spaces so the data section starts 8-byte aligned.
    expect(st.dataOffset % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, st.dataOffset));
    expect(headerText.trimEnd()).toBe(headerText.trimEnd().trim());
    expect(/^\{.*\} *$/.test(headerText)).toBe(true);
    expect(headerText.indexOf('__metadata__')).toBe(2);
    // Names sorted, data laid out in that order.
    const names = st.tensors.map((t) => t.name);
    expect([...names].sort()).toEqual(tensors.map((t) => t.name).sort());
    const byOffset = [...st.tensors].sort((a, b) => a.offset - b.offset || a.name.localeCompare(b.name)).map((t) => t.name);
    expect(byOffset).toEqual([...names].sort());

    const info = (n: string) => st.tensors.find((t) => t.name === n)!;
    expect(info('z.f32').shape).toEqual([2, 3]);
    expect(Array.from(await readSafetensorsTensor(src, info('z.f32'), 'f32'))).toEqual([1, -2, 3.5, Math.fround(1e-30), 65504, -0]);
    expect(Array.from(await readSafetensorsTensor(src, info('z.f32'), 'f16'))).toEqual([1, -2, 3.5, 1e-30, 65504, -0].map(f32ToF16Bits));
    expect(Array.from(await readSafetensorsTensor(src, info('a.f16'), 'f32'))).toEqual([1, -2, 2 ** -24]);
    expect(Array.from(await readSafetensorsTensor(src, info('a.f16'), 'f16'))).toEqual([0x3c00, 0xc000, 0x0001]);
    expect(Array.from(await readSafetensorsTensor(src, info('m.f16conv'), 'f16'))).toEqual([f32ToF16Bits(0.1), f32ToF16Bits(1000.5)]);
    expect(Array.from(await readSafetensorsTensor(src, info('b.bf16'), 'f32'))).toEqual([1, -2, 3.140625, 2 ** -133]);
    // Round to nearest even: 1 + 2^-8 is a tie -> 1; 1 + 3*2^-8 is a tie -> 1 + 2^-6.
    expect(Array.from(await readSafetensorsTensor(src, info('c.bf16conv'), 'f32'))).toEqual([1, 1 + 2 ** -6, -3, Infinity]);
    expect(Array.from(await readSafetensorsTensor(src, info('idx'), 'i32'))).toEqual([0, -1, 2147483647, -2147483648]);
    expect((await readSafetensorsTensor(src, info('empty'), 'f32')).length).toBe(0);
    expect(Array.from(await readSafetensorsTensor(src, info('scalar'), 'f32'))).toEqual([7]);
  });

  it('f32 -> bf16 conversion is round-to-nearest-even and keeps NaN', () => {
    const b = f32ToBF16(F([1.00390625, 1.01171875, 1.00390625 + 2 ** -23, NaN, -0]));
    expect(Array.from(b)).toEqual([0x3f80, 0x3f82, 0x3f81, b[3], 0x8000]);
    expect((b[3]! & 0x7f80) === 0x7f80 && (b[3]! & 0x7f) !== 0).toBe(true);
  });

  it('reads I64 index tensors as int32 with a range check', async () => {
    const data = new Uint8Array(24);
    const dv = new DataView(data.buffer);
    dv.setBigInt64(0, 5n, true);
    dv.setBigInt64(8, -7n, true);
    dv.setBigInt64(16, 1n << 40n, true);
    const bytes = rawSafetensors({ ok: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, big: { dtype: 'I64', shape: [1], data_offsets: [16, 24] } }, data);
    const src = memorySource(bytes, 'i64.safetensors');
    const st = await readSafetensors(src);
    const ok = st.tensors.find((t) => t.name === 'ok')!;
    expect(Array.from(await readSafetensorsTensor(src, ok, 'i32'))).toEqual([5, -7]);
    await expect(readSafetensorsTensor(src, st.tensors.find((t) => t.name === 'big')!, 'i32')).rejects.toThrow(
      /i64\.safetensors: tensor 'big': I64 element 0 = 1099511627776 does not fit in int32/,
    );
    await expect(readSafetensorsTensor(src, ok, 'f32')).rejects.toThrow(/i64\.safetensors: tensor 'ok': cannot read dtype I64 as 'f32'/);
  });

  it('writeSafetensors writes atomically (no temp file left) and reads back from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moegraph-st-'));
    try {
      const path = join(dir, 'adapter.safetensors');
      await writeSafetensors(path, tensors, { a: 'b' });
      await writeSafetensors(path, tensors.slice(0, 2)); // overwrite in place
      expect(readdirSync(dir)).toEqual(['adapter.safetensors']);
      const src = await fileSource(path);
      const st = await readSafetensors(src);
      expect(st.tensors.map((t) => t.name).sort()).toEqual(['a.f16', 'z.f32']);
      expect(Array.from(await readSafetensorsTensor(src, st.tensors.find((t) => t.name === 'z.f32')!, 'f32'))).toEqual([1, -2, 3.5, Math.fround(1e-30), 65504, -0]);
      await src.close();
      await expect(writeSafetensors(join(dir, 'no', 'such', 'x.safetensors'), tensors)).rejects.toThrow(/x\.safetensors: cannot write/);
      expect(readdirSync(dir)).toEqual(['adapter.safetensors']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('encode rejects bad inputs', () => {
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: F([1, 2, 3]) }])).toThrow(/tensor 'w' has 3 elements but shape \[2, 2\] needs 4/);
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'I32', shape: [1], data: F([1]) }])).toThrow(/dtype I32 cannot take Float32Array/);
    const w = { name: 'w', dtype: 'F32' as const, shape: [1], data: F([1]) };
    expect(() => encodeSafetensors([w, w])).toThrow(/duplicate tensor name 'w'/);
    expect(() => encodeSafetensors([{ ...w, name: 'toString' }])).not.toThrow();
  });
});

describe('validation', () => {
  const good = () => rawSafetensors({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(16));
  const open = (b: Uint8Array) => readSafetensors(memorySource(b, 'm.safetensors'));

  it('header length', async () => {
    await expect(open(new Uint8Array(4))).rejects.toThrow(/m\.safetensors: file is 4 bytes, too small/);
    const huge = good();
    new DataView(huge.buffer).setBigUint64(0, 1n << 60n, true);
    await expect(open(huge)).rejects.toThrow(/m\.safetensors: header length 1152921504606846976 is larger than the 100000000-byte limit/);
    const past = good();
    new DataView(past.buffer).setBigUint64(0, 5000n, true);
    await expect(open(past)).rejects.toThrow(/m\.safetensors: header length 5000 runs past end of file/);
  });

  it('JSON structure', async () => {
    const bad = good();
    bad[8] = 0x5b; // '[' instead of '{'
    await expect(open(bad)).rejects.toThrow(/m\.safetensors: header is not valid UTF-8 JSON/);
    await expect(open(rawSafetensors([1, 2]))).rejects.toThrow(/m\.safetensors: header JSON is not an object/);
    await expect(open(rawSafetensors({ w: { dtype: 'F99', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)))).rejects.toThrow(/tensor 'w': unknown dtype "F99"/);
    await expect(open(rawSafetensors({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)))).rejects.toThrow(/tensor 'w': shape \[-1\] is not a list/);
    await expect(open(rawSafetensors({ w: { dtype: 'F32', shape: [1], data_offsets: [4] } }, new Uint8Array(4)))).rejects.toThrow(/tensor 'w': data_offsets \[4\] is not \[begin, end\]/);
    await expect(open(rawSafetensors({ __metadata__: { a: 1 } }))).rejects.toThrow(/__metadata__ key 'a' is not a string/);
  });

  it('offsets and byte lengths', async () => {
    await expect(open(rawSafetensors({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(12)))).rejects.toThrow(
      /m\.safetensors: tensor 'w': data \[offset \d+, 16 bytes\] runs past end of file/,
    );
    // A tensor whose byte length does not match its shape.
    await expect(open(rawSafetensors({ 'layers.0.q': { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 16] } }, new Uint8Array(16)))).rejects.toThrow(
      /m\.safetensors: tensor 'layers\.0\.q': 16 data bytes do not match shape \[2,3\] of BF16 \(12 bytes\)/,
    );
    await expect(
      open(rawSafetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(16))),
    ).rejects.toThrow(/m\.safetensors: tensor '[ab]' data overlaps tensor '[ab]'/);
    const g = good();
    await expect(open(g.subarray(0, g.length - 8))).rejects.toThrow(/m\.safetensors: tensor 'w': data .* runs past end of file/);
  });
});

describe('fuzz', () => {
  it('corrupted or truncated safetensors (from stories260K) always fail with an Error naming the file', async () => {
    // The real model's weights, re-encoded as safetensors with mixed dtypes.
    const gsrc = await fileSource(stories260KPath());
    const g = await readGGUF(gsrc);
    const inputs: SafetensorsInput[] = [];
    for (const [i, t] of g.tensors.entries()) {
      const data = await readGGUFTensor(gsrc, t, 'f32');
      inputs.push({ name: t.name, dtype: (['F32', 'F16', 'BF16'] as const)[i % 3]!, shape: t.shape, data });
    }
    await gsrc.close();
    const good = encodeSafetensors(inputs, { format: 'pt' });
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));

    const failures = await fuzzCorruptFile({
      good,
      name: 'fuzz.safetensors',
      seed: 99,
      headBytes: 16,
      headerEnd,
      parse: async (src) => (await readSafetensors(src)).tensors,
      readTensor: (src, t) => readSafetensorsTensor(src, t, 'f32'),
      checkTensorError: (e) => expect(e.message).toMatch(/^fuzz\.safetensors: /),
      parseError: /^fuzz\.safetensors: /,
      checkParseError: (e) => expect(e.message.length).toBeLessThan(600),
    });
    expect(failures).toBeGreaterThan(100);
  });
});
