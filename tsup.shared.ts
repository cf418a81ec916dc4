import { defineConfig } from 'tsup';

/**
 * One tsup configuration for every package: ESM + .d.ts for the given entries. Sibling packages
 * and Dawn's Node addon stay external (the addon is loaded lazily, only on Node).
 */
export function packageConfig(entry: string[] = ['src/index.ts']) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    external: [/^@moegraph\//, 'webgpu', 'bun-webgpu'],
  });
}
