/**
 * Random-access byte sources for model files. Readers only ever ask for the byte ranges they
 * need (a header, one tensor), so multi-gigabyte files never have to sit in memory and remote
 * files are fetched with HTTP Range requests.
 */

export interface ByteSource {
  /** Short name used in every error message (file name, or last URL path segment). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Bytes [offset, offset + length). The returned array is owned by the caller (never a view
   * into shared memory), so decoders may reinterpret or keep it. Throws, naming the source,
   * when the range runs past the end.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface SourceOptions {
  /** Overrides the name used in error messages. */
  name?: string;
  /** Extra HTTP headers (e.g. `Authorization: Bearer <HF_TOKEN>`); ignored for files. */
  headers?: Record<string, string>;
}

export interface HttpSourceOptions extends SourceOptions {
  /**
   * When the server ignores Range requests, download the whole body once and serve reads
   * from memory (default true). With false, such a server is an error.
   */
  fullDownloadFallback?: boolean;
  /** fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
}

/** Error for a file/URL that does not exist, so callers (openHFModel) can tell it apart. */
export class SourceNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(message: string) {
    super(message);
    this.name = 'SourceNotFoundError';
  }
}

/** Throws unless [offset, offset+length) is a valid range inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new Error(`${name}: invalid read range [offset ${offset}, ${length} bytes]`);
  }
  if (offset + length > size) {
    throw new Error(`${name}: read [offset ${offset}, ${length} bytes] runs past end of file (size ${size})`);
  }
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((s) => s.length > 0);
  return parts.length ? parts[parts.length - 1]! : p;
}

/**
 * A ByteSource over `readRange`, which only sees valid in-range reads: reads are range-checked
 * and refused after close(); `release` runs on the first close().
 */
function checkedSource(
  name: string,
  size: number,
  readRange: (offset: number, length: number) => Promise<Uint8Array> | Uint8Array,
  release?: () => Promise<void>,
): ByteSource {
  let closed = false;
  return {
    name,
    size,
    async read(offset, length) {
      if (closed) throw new Error(`${name}: read after close`);
      checkRange(name, size, offset, length);
      return readRange(offset, length);
    },
    async close() {
      if (!closed) {
        closed = true;
        await release?.();
      }
    },
  };
}

/** Serves reads from bytes already in memory; `read` returns copies (see ByteSource.read). */
export function memorySource(bytes: Uint8Array | ArrayBuffer, name = 'memory'): ByteSource {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return checkedSource(name, data.byteLength, (offset, length) => data.slice(offset, offset + length));
}

/** A local file through a Node FileHandle (node:fs is imported lazily so browser bundles load). */
export async function fileSource(path: string, opts: SourceOptions = {}): Promise<ByteSource> {
  const fs = await import('node:fs/promises');
  const name = opts.name ?? baseName(path);
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new SourceNotFoundError(`${name}: file not found (${path})`);
    throw new Error(`${name}: cannot open ${path}: ${err.message}`);
  }
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${name}: ${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  return checkedSource(
    name,
    size,
    async (offset, length) => {
      const out = new Uint8Array(length);
      let done = 0;
      // FileHandle.read may return short counts; loop until the range is filled.
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new Error(`${name}: read [offset ${offset}, ${length} bytes] hit end of file early (file shrank?)`);
        }
        done += bytesRead;
      }
      return out;
    },
    () => handle.close(),
  );
}

function urlName(url: string): string {
  try {
    return decodeURIComponent(baseName(new URL(url).pathname)) || url;
  } catch {
    return url;
  }
}

/** Total size from `Content-Range: bytes a-b/TOTAL`, or undefined. */
function rangeTotal(h: string | null): number | undefined {
  const m = h && /\/\s*(\d+)\s*$/.exec(h);
  return m ? Number(m[1]) : undefined;
}

/**
 * A remote file read with HTTP Range requests. A first `Range: bytes=0-0` probe gives the size
 * and shows whether ranges work; a server that answers 200 with the full body instead is
 * served from that one download (unless `fullDownloadFallback: false`).
 */
export async function httpSource(url: string, opts: HttpSourceOptions = {}): Promise<ByteSource> {
  const name = opts.name ?? urlName(url);
  const doFetch = opts.fetch ?? globalThis.fetch;
  if (!doFetch) throw new Error(`${name}: no fetch implementation available to read ${url}`);
  const headers = opts.headers ?? {};

  let probe: Response;
  try {
    probe = await doFetch(url, { headers: { ...headers, Range: 'bytes=0-0' } });
  } catch (e) {
    throw new Error(`${name}: request to ${url} failed: ${(e as Error).message}`);
  }
  if (probe.status === 404) {
    await probe.body?.cancel();
    throw new SourceNotFoundError(`${name}: not found (HTTP 404 for ${url})`);
  }
  if (probe.status === 416) {
    // Range not satisfiable for byte 0: the file is empty.
    await probe.body?.cancel();
    return memorySource(new Uint8Array(0), name);
  }
  if (probe.status === 200) {
    if (opts.fullDownloadFallback === false) {
      await probe.body?.cancel();
      throw new Error(`${name}: server does not support HTTP Range requests (answered 200 to 'Range: bytes=0-0' for ${url})`);
    }
    // The server sent the whole file: keep it and serve reads from memory.
    const body = new Uint8Array(await probe.arrayBuffer());
    return memorySource(body, name);
  }
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw new Error(`${name}: HTTP ${probe.status} ${probe.statusText} for ${url}`);
  }
  await probe.arrayBuffer();
  const size = rangeTotal(probe.headers.get('content-range'));
  if (size === undefined || !Number.isSafeInteger(size)) {
    throw new Error(`${name}: server answered 206 without a usable Content-Range total (${probe.headers.get('content-range')}) for ${url}`);
  }

  return checkedSource(name, size, async (offset, length) => {
    if (length === 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    let res: Response;
    try {
      res = await doFetch(url, { headers: { ...headers, Range: range } });
    } catch (e) {
      throw new Error(`${name}: request for ${range} of ${url} failed: ${(e as Error).message}`);
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new Error(`${name}: expected HTTP 206 for 'Range: ${range}', got ${res.status} ${res.statusText} (${url})`);
    }
    const out = new Uint8Array(await res.arrayBuffer());
    if (out.byteLength !== length) {
      throw new Error(`${name}: 'Range: ${range}' returned ${out.byteLength} bytes, expected ${length} (${url})`);
    }
    return out;
  });
}

function env(key: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[key] : undefined;
}

/** Download URL of a file in a Hugging Face hub repository. */
export function hfFileUrl(
  repo: string,
  file: string,
  revision = 'main',
  endpoint: string = env('HF_ENDPOINT') ?? 'https://huggingface.co',
): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** `Authorization: Bearer <token>` from the argument or HF_TOKEN; empty when there is none. */
export function hfAuthHeaders(token: string | undefined = env('HF_TOKEN')): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Opens an http(s) URL with httpSource, a `file://` URL or a path with fileSource. */
export async function openSource(pathOrUrl: string, opts: HttpSourceOptions = {}): Promise<ByteSource> {
  if (isUrl(pathOrUrl)) return httpSource(pathOrUrl, opts);
  if (/^file:\/\//i.test(pathOrUrl)) {
    const { fileURLToPath } = await import('node:url');
    return fileSource(fileURLToPath(pathOrUrl), opts);
  }
  return fileSource(pathOrUrl, opts);
}

/** Reads a whole (small) source, e.g. config.json. */
export async function readAll(src: ByteSource): Promise<Uint8Array> {
  return src.read(0, src.size);
}
