#!/usr/bin/env node
// `yoto` on PATH (e.g. after `pnpm link` or in an image): the CLI runs from its
// TypeScript sources, so the loader is registered before main is imported.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
