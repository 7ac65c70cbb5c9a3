// Entry of the training thread. Worker threads do not reliably get the parent's
// TypeScript loader (under `node --test` they inherit `--import tsx` yet cannot load
// .ts), so it is registered here; registering it twice is harmless.
const { register } = await import('tsx/esm/api');
register();
await import('./training-thread.ts');
