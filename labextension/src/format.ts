/**
 * Text for numbers and ids, shared by the views (the same units as nbray's
 * Python side: B, KiB, MiB, GiB, TiB).
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1536` -> `"1.5 KiB"`; bytes below 1 KiB as integers. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) {
    return '-';
  }
  let value = n;
  for (const unit of UNITS) {
    if (Math.abs(value) < 1024 || unit === 'TiB') {
      return unit === 'B' ? `${Math.round(value)} B` : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1024;
  }
  return String(n);
}

/** `used / capacity` as a percentage from 0 to 100 (0 when the capacity is 0). */
export function percent(used: number, capacity: number): number {
  if (!capacity || capacity <= 0) {
    return 0;
  }
  return Math.max(0, Math.min(100, (100 * used) / capacity));
}

/** The first 12 hex digits of an id, as nbray prints node ids. */
export function shortId(id: string | null | undefined, length = 12): string {
  return id ? id.slice(0, length) : '-';
}

/** `{CPU: 2, "node:ab..": 1}` -> `"CPU 2"` (per-node pseudo resources left out). */
export function formatResources(resources: Record<string, number>): string {
  return (
    Object.entries(resources)
      .filter(([name]) => !name.startsWith('node:'))
      .map(([name, amount]) => `${name} ${Number.isInteger(amount) ? amount : amount.toFixed(2)}`)
      .join(', ') || '-'
  );
}
