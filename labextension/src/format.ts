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

/**
 * Bytes for a narrow column: whole numbers from 10 of a unit on (`"24 MiB"`,
 * `"1.5 MiB"`, `"198 B"`); at most 7 characters below 1000 TiB.
 */
export function formatBytesShort(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) {
    return '-';
  }
  let value = n;
  for (const unit of UNITS) {
    if (Math.abs(value) < 1000 || unit === 'TiB') {
      const digits = unit === 'B' || Math.abs(value) >= 10 ? 0 : 1;
      return `${value.toFixed(digits)} ${unit}`;
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

/**
 * Each id as its shortest prefix (at least `minimum` characters) that no other id
 * of `ids` starts with, followed by an ellipsis when cut: ids that can be told apart
 * on one page without showing all 56 hex digits.
 */
export function shortIds(ids: readonly string[], minimum = 8): string[] {
  const sorted = [...new Set(ids)].sort();
  const need = new Map<string, number>();
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    let common = 0;
    while (common < a.length && common < b.length && a[common] === b[common]) {
      common++;
    }
    need.set(a, Math.max(need.get(a) ?? 0, common + 1));
    need.set(b, Math.max(need.get(b) ?? 0, common + 1));
  }
  return ids.map(id => {
    const n = Math.max(minimum, need.get(id) ?? 0);
    return n >= id.length ? id : `${id.slice(0, n)}…`;
  });
}

/**
 * Who holds an object, for a table cell: the notebook's names ("keep_me, objs[3]"),
 * else the kinds of references ("local", "task-arg"), else "-".
 */
export function heldBy(names: readonly string[] | undefined, referenceTypes: readonly string[]): string {
  if (names && names.length) {
    return names.join(', ');
  }
  return referenceTypes.map(t => REFERENCE_SHORT[t] ?? t).join(', ') || '-';
}

/** Ray's reference type names as nbray's text table shortens them. */
export const REFERENCE_SHORT: Record<string, string> = {
  LOCAL_REFERENCE: 'local ref',
  BORROWED: 'borrowed',
  USED_BY_PENDING_TASK: 'task arg',
  CAPTURED_IN_OBJECT: 'nested',
  CAPTURED_BY_CLOSURE: 'closure',
  PINNED_IN_MEMORY: 'mapped',
  ACTOR_HANDLE: 'actor'
};

/** Places short enough for a narrow column: shared memory as `shm`, spilled as `spill`. */
export function shortWhere(where: string): string {
  return WHERE_SHORT[where] ?? where;
}

const WHERE_SHORT: Record<string, string> = { shared_memory: 'shm', spilled: 'spill' };

/**
 * The kind of a value without its details, for a narrow column:
 * `"ndarray(1000,) float64"` -> `"ndarray"`, `"pandas.core.frame.DataFrame"` -> `"DataFrame"`.
 */
export function shortType(type: string): string {
  const head = type.split(/[( ]/)[0];
  return head.slice(head.lastIndexOf('.') + 1) || type;
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
