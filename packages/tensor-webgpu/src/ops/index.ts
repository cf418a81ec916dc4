export * from './create.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './matmul.js';
export * from './indexing.js';
export * from './sort.js';
export * from './nn.js';
export { backendOf } from './core.js';
