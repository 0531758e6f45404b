import { formatBytes, formatBytesShort, formatResources, heldBy, percent, shortId, shortIds, shortType, shortWhere } from '../format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [64 * 2 ** 20, '64.0 MiB'],
    [3 * 2 ** 30, '3.0 GiB'],
    [5 * 2 ** 50, '5120.0 TiB']
  ])('%d -> %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('shows a dash for missing values', () => {
    expect(formatBytes(null)).toBe('-');
    expect(formatBytes(undefined)).toBe('-');
    expect(formatBytes(NaN)).toBe('-');
  });
});

describe('percent', () => {
  it('is used / capacity in [0, 100]', () => {
    expect(percent(16, 64)).toBe(25);
    expect(percent(80, 64)).toBe(100);
    expect(percent(-1, 64)).toBe(0);
  });

  it('is 0 for an empty store', () => {
    expect(percent(10, 0)).toBe(0);
  });
});

describe('shortId and formatResources', () => {
  it('shortens ids', () => {
    expect(shortId('0123456789abcdef')).toBe('0123456789ab');
    expect(shortId(null)).toBe('-');
  });

  it('leaves out per-node pseudo resources', () => {
    expect(formatResources({ CPU: 2, 'node:abc': 1, GPU: 0.5 })).toBe('CPU 2, GPU 0.50');
    expect(formatResources({})).toBe('-');
  });
});

describe('shortIds', () => {
  const a = 'aaaaaaaaaaaa0000';
  const b = 'aaaaaaaaaaab0000';
  const c = 'bbbbbbbb11112222';

  it('keeps 8 characters and an ellipsis when the ids differ early', () => {
    expect(shortIds(['0123456789abcdef', 'fedcba9876543210'])).toEqual([
      '01234567…',
      'fedcba98…'
    ]);
  });

  it('lengthens ids sharing a prefix until each is unique on the page', () => {
    const shown = shortIds([a, b, c]);
    expect(shown).toEqual(['aaaaaaaaaaaa…', 'aaaaaaaaaaab…', 'bbbbbbbb…']);
    expect(new Set(shown).size).toBe(3);
    // every short form names exactly one id of the page
    for (const [i, s] of shown.entries()) {
      const prefix = s.replace('…', '');
      expect([a, b, c].filter(id => id.startsWith(prefix))).toEqual([[a, b, c][i]]);
    }
  });

  it('shows an id in full when cutting it would not make it shorter', () => {
    expect(shortIds(['abc'])).toEqual(['abc']);
    expect(shortIds(['abcdefgh1', 'abcdefgh2'])).toEqual(['abcdefgh1', 'abcdefgh2']);
  });

  it('gives equal ids the same short form, in the order given', () => {
    expect(shortIds([c, a, c])).toEqual(['bbbbbbbb…', 'aaaaaaaa…', 'bbbbbbbb…']);
    expect(shortIds([])).toEqual([]);
  });
});

describe('heldBy and shortWhere', () => {
  it('names the notebook variables first', () => {
    expect(heldBy(['keep_me', "objs['o137']"], ['LOCAL_REFERENCE'])).toBe(
      "keep_me, objs['o137']"
    );
  });

  it('falls back to the kinds of reference, then a dash', () => {
    expect(heldBy([], ['LOCAL_REFERENCE', 'USED_BY_PENDING_TASK'])).toBe('local ref, task arg');
    expect(heldBy(undefined, ['SOMETHING_NEW'])).toBe('SOMETHING_NEW');
    expect(heldBy(undefined, [])).toBe('-');
  });

  it('shortens places', () => {
    expect(shortWhere('shared_memory')).toBe('shm');
    expect(shortWhere('spilled')).toBe('spill');
    expect(shortWhere('inline')).toBe('inline');
  });
});

describe('shortType', () => {
  it.each([
    ['ndarray(1000,) float64', 'ndarray'],
    ['pandas.core.frame.DataFrame', 'DataFrame'],
    ['int', 'int'],
    ['actor handle', 'actor'],
    ['', '']
  ])('%s -> %s', (type, short) => {
    expect(shortType(type)).toBe(short);
  });
});

describe('formatBytesShort', () => {
  it.each([
    [198, '198 B'],
    [999, '999 B'],
    [1000, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024, '10 KiB'],
    [24 * 2 ** 20, '24 MiB'],
    [1023 * 2 ** 20, '1.0 GiB'],
    [5 * 2 ** 50, '5120 TiB']
  ])('%d -> %s', (n, text) => {
    expect(formatBytesShort(n)).toBe(text);
    expect(text.length).toBeLessThanOrEqual(8);
  });

  it('shows a dash for missing values', () => {
    expect(formatBytesShort(null)).toBe('-');
  });
});
