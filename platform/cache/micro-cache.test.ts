import { MicroCache } from './micro-cache';

describe('MicroCache', () => {
  it('loads a key once per ttl, shares a load between concurrent misses, and reloads after expiry', async () => {
    let now = 0;
    const cache = new MicroCache<number>(1_000, 10, () => now);
    let loads = 0;
    const load = async () => ++loads;
    expect(await Promise.all([cache.get('a', load), cache.get('a', load), cache.get('a', load)])).toEqual([1, 1, 1]);
    now = 999;
    expect(await cache.get('a', load)).toBe(1);
    now = 1_000;
    expect(await cache.get('a', load)).toBe(2);
    expect(loads).toBe(2);
  });

  it('keeps no failed load, drops a deleted key, and forgets the oldest key past its size', async () => {
    const cache = new MicroCache<string>(60_000, 2);
    await expect(cache.get('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('a', async () => 'up')).toBe('up');
    cache.delete('a');
    expect(await cache.get('a', async () => 'changed')).toBe('changed');
    await cache.get('b', async () => 'b');
    await cache.get('c', async () => 'c'); // 'a' is the oldest: forgotten
    expect(await cache.get('a', async () => 'reloaded')).toBe('reloaded');
    expect(await cache.get('c', async () => 'not reloaded')).toBe('c');
  });
});
