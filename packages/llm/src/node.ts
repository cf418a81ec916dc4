/** Node-only helpers (file system paths); the main entry stays runtime-agnostic. */
export { sharedDir, stories260KPath } from './paths.js';
