/**
 * Identifier rules. Every id that becomes part of a Redis key or an S3 key matches
 * ID_PATTERN, so no key can leave its prefix (no `/`, `..`, spaces or upper case).
 */
export const ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
export const ID_RULE = 'lower-case letters, digits and "-", 1–64 characters, starting and ending with a letter or digit';

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Encodes a number for use inside an id: 0.5 -> "0p5", 1e-3 -> "0p001", 512 -> "512". */
export function numberToIdPart(x: number): string {
  const s = Number.isInteger(x) ? String(x) : String(+x.toPrecision(6));
  return s.replace('-', 'm').replace('.', 'p').replace('e+', 'e').replace('e-', 'em').toLowerCase();
}

/** FNV-1a 32-bit, hex. Pure and stable across platforms; used for short deterministic ids. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** JSON with object keys sorted, so equal values always serialise to equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
