import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Dawn's Node addon is loaded lazily and only on Node; browsers, Deno and Bun never touch it.
  external: ['webgpu', 'bun-webgpu'],
});
