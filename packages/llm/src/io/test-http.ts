/**
 * Test helper (not exported from the package): a local HTTP server on 127.0.0.1 serving files
 * from a directory, with or without Range support, so HTTP sources are tested without network.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

export interface TestServer {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Every request seen (method, path, range header, authorization header). */
  requests: { method: string; path: string; range?: string; auth?: string }[];
  close(): Promise<void>;
}

export async function serveDir(root: string, opts: { ranges: boolean }): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, auth: req.headers.authorization });
    const rel = normalize(path).replace(/^[/\\]+/, '');
    if (rel.startsWith('..')) {
      res.writeHead(403).end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(join(root, rel));
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    const m = opts.ranges && req.headers.range ? /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range) : null;
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(m[2] !== undefined ? Number(m[2]) : body.length - 1, body.length - 1);
      if (start >= body.length || end < start) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${end}/${body.length}`,
        'Content-Length': String(end - start + 1),
        'Accept-Ranges': 'bytes',
      });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('test server has no port');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
