import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stories260KPath } from '../paths.js';
import { fileSource, hfAuthHeaders, hfFileUrl, httpSource, memorySource, openSource, SourceNotFoundError } from './source.js';
import { serveDir, type TestServer } from './test-http.js';

const path = stories260KPath();
const bytes = new Uint8Array(readFileSync(path));

describe('memorySource', () => {
  it('reads copies and rejects ranges past the end, naming the source', async () => {
    const src = memorySource(new Uint8Array([1, 2, 3, 4, 5]), 'mem.bin');
    const a = await src.read(1, 3);
    expect(Array.from(a)).toEqual([2, 3, 4]);
    a[0] = 99;
    expect(Array.from(await src.read(1, 1))).toEqual([2]);
    await expect(src.read(3, 3)).rejects.toThrow(/mem\.bin: read \[offset 3, 3 bytes\] runs past end of file \(size 5\)/);
    await expect(src.read(-1, 1)).rejects.toThrow(/mem\.bin: invalid read range/);
  });
});

describe('fileSource', () => {
  it('reads the stories260K file by ranges', async () => {
    const src = await fileSource(path);
    try {
      expect(src.name).toBe('stories260K.gguf');
      expect(src.size).toBe(bytes.length);
      expect(await src.read(1000, 5000)).toEqual(bytes.subarray(1000, 6000));
      await expect(src.read(src.size - 2, 4)).rejects.toThrow(/stories260K\.gguf: .*runs past end of file/);
    } finally {
      await src.close();
    }
  });

  it('reports a missing file as SourceNotFoundError naming it', async () => {
    await expect(fileSource('/nonexistent/dir/model.gguf')).rejects.toBeInstanceOf(SourceNotFoundError);
    await expect(fileSource('/nonexistent/dir/model.gguf')).rejects.toThrow(/model\.gguf: file not found/);
  });
});

describe('hfFileUrl', () => {
  it('builds resolve URLs and auth headers', () => {
    expect(hfFileUrl('ggml-org/models', 'tinyllamas/stories260K.gguf', 'main', 'https://hf.example/')).toBe(
      'https://hf.example/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
    );
    expect(hfFileUrl('a/b', 'config.json', 'main', 'https://huggingface.co')).toBe('https://huggingface.co/a/b/resolve/main/config.json');
    expect(hfAuthHeaders('tok')).toEqual({ Authorization: 'Bearer tok' });
    expect(hfAuthHeaders('')).toEqual({});
  });
});

describe('httpSource', () => {
  let ranged: TestServer;
  let plain: TestServer;
  beforeAll(async () => {
    ranged = await serveDir(dirname(path), { ranges: true });
    plain = await serveDir(dirname(path), { ranges: false });
  });
  afterAll(async () => {
    await ranged.close();
    await plain.close();
  });

  it('reads with Range requests and forwards headers', async () => {
    const src = await httpSource(`${ranged.url}/stories260K.gguf`, { headers: { Authorization: 'Bearer secret' } });
    expect(src.name).toBe('stories260K.gguf');
    expect(src.size).toBe(bytes.length);
    expect(await src.read(12345, 4096)).toEqual(bytes.subarray(12345, 12345 + 4096));
    expect(await src.read(src.size - 10, 10)).toEqual(bytes.subarray(bytes.length - 10));
    await expect(src.read(src.size - 1, 2)).rejects.toThrow(/stories260K\.gguf: .*runs past end of file/);
    const last = ranged.requests[ranged.requests.length - 1]!;
    expect(last.range).toBe(`bytes=${bytes.length - 10}-${bytes.length - 1}`);
    expect(last.auth).toBe('Bearer secret');
    await src.close();
  });

  it('falls back to one full download when the server ignores ranges', async () => {
    const before = plain.requests.length;
    const src = await httpSource(`${plain.url}/stories260K.gguf`);
    expect(src.size).toBe(bytes.length);
    expect(await src.read(100, 50)).toEqual(bytes.subarray(100, 150));
    expect(await src.read(200000, 50)).toEqual(bytes.subarray(200000, 200050));
    expect(plain.requests.length - before).toBe(1);
  });

  it('errors clearly when ranges are unsupported and the fallback is off', async () => {
    await expect(httpSource(`${plain.url}/stories260K.gguf`, { fullDownloadFallback: false })).rejects.toThrow(
      /stories260K\.gguf: server does not support HTTP Range requests/,
    );
  });

  it('maps 404 to SourceNotFoundError', async () => {
    await expect(httpSource(`${ranged.url}/missing.gguf`)).rejects.toBeInstanceOf(SourceNotFoundError);
  });

  it('openSource dispatches on URL vs path', async () => {
    const a = await openSource(`${ranged.url}/stories260K.gguf`);
    const b = await openSource(path);
    expect(await a.read(0, 64)).toEqual(await b.read(0, 64));
    await a.close();
    await b.close();
  });
});
