/**
 * Where the shared models and datasets live. Tests and the default benchmark read them from
 * `../shared` beside the repository; MOEGRAPH_SHARED (or a caller's explicit path) overrides it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function sharedDir(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.MOEGRAPH_SHARED) return resolve(process.env.MOEGRAPH_SHARED);
  // Walk up from this file to the repository root (the folder with turbo.json), then ../shared.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'turbo.json'))) return resolve(dir, '..', 'shared');
    dir = dirname(dir);
  }
  return resolve(process.cwd(), '..', 'shared');
}

/** Path of the stories260K GGUF model used by tests and the quick benchmark. */
export function stories260KPath(shared?: string): string {
  return join(sharedDir(shared), 'models', 'stories260K', 'stories260K.gguf');
}
