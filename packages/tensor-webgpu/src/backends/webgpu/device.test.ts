import { describe, expect, it } from 'vitest';
import { summarize } from './device.js';

describe('summarize (adapter info)', () => {
  it('marks lavapipe as software, from the info Dawn 0.6.2 reports for it here', () => {
    const lavapipe = {
      vendor: 'mesa',
      architecture: 'software',
      device: 'llvmpipe-llvm-15-0-6-256-bits-',
      description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
      isFallbackAdapter: true,
    };
    expect(summarize(lavapipe)).toEqual({ vendor: 'mesa', architecture: 'software', description: lavapipe.description, software: true });
    // each sign alone is enough
    expect(summarize({ isFallbackAdapter: true }).software).toBe(true);
    expect(summarize({ description: 'SwiftShader Device (Subzero)' }).software).toBe(true);
    expect(summarize({ device: 'llvmpipe (LLVM 17)' }).software).toBe(true);
  });

  it('treats a GPU, or an adapter that says nothing, as hardware', () => {
    expect(summarize({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false })).toEqual({
      vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3', software: false,
    });
    expect(summarize(undefined)).toEqual({ vendor: '', architecture: '', description: '', software: false });
    // the description falls back to the device string
    expect(summarize({ device: 'Apple M2' }).description).toBe('Apple M2');
  });
});
