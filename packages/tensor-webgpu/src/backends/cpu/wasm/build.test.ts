import { describe, expect, it } from 'vitest';

describe('embedded wasm modules', () => {
  it('every committed <name>.wasm.ts matches its assembled <name>.wat (run build.mjs after editing a WAT)', async () => {
    // @ts-expect-error plain .mjs build script without type declarations
    const { assemble, constName, sources } = await import('./build.mjs');
    const all: { name: string; wat: string }[] = sources();
    expect(all.length).toBeGreaterThan(0);
    for (const { name, wat } of all) {
      const bytes: Uint8Array = await assemble(wat, name);
      const mod = (await import(`./${name}.wasm.ts`)) as Record<string, string>;
      expect(Buffer.from(bytes).toString('base64'), `${name}.wasm.ts is stale`).toBe(mod[constName(name)]);
    }
  });
});
