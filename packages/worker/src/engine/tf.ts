/**
 * The engine's one door to TensorFlow.js. Engine code takes the tf namespace as a
 * parameter (`Tf`) rather than importing tfjs-core, because a native backend brings
 * its own instance; callers get it from the backend module after selection.
 */
export { getTf, selectBackend } from '../backend/index.ts';
export type { Tf, BackendInfo, BackendPreference } from '../backend/index.ts';
