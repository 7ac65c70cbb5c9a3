/**
 * Errors with stable codes. Every error that reaches a user names what was wrong
 * (a field path, a key, an id) and never carries a secret.
 */
export type YotoErrorCode =
  | 'SPEC_INVALID'
  | 'PAYLOAD_INVALID'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TRAINING_DIVERGED'
  | 'CHECKPOINT_CORRUPT'
  | 'STORE_ERROR'
  | 'CONFIG_INVALID'
  | 'ENQUEUE_FAILED'
  | 'TIMEOUT'
  | 'INPUT_INVALID'
  | 'TOOL_FAILED';

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `train.batchSize` or `grid.kl[2]`. */
  path: string;
  message: string;
}

export class YotoError extends Error {
  readonly code: YotoErrorCode;
  constructor(code: YotoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'YotoError';
    this.code = code;
  }
}

/** A spec, payload or config that failed validation; `issues` names every bad field. */
export class ValidationError extends YotoError {
  readonly issues: FieldIssue[];
  constructor(code: 'SPEC_INVALID' | 'PAYLOAD_INVALID' | 'CONFIG_INVALID', what: string, issues: FieldIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n');
    super(code, `${what} is invalid:\n${lines}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/** Formats a zod-style path (`['grid', 'kl', 2]`) as `grid.kl[2]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}
