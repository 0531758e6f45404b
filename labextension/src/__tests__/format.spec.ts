import { formatBytes, formatResources, percent, shortId } from '../format';

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
