import { DEFAULT_PUSH_RETRY_POLICY, maskToken, nextPushAttempt, pushPayload } from './push';

describe('pushPayload', () => {
  it('flattens data to strings, adds the notification id and kind, and keys the collapse by kind', () => {
    const payload = pushPayload({
      id: 'n-1',
      kind: 'follow',
      title: 'New follower',
      body: 'Asha followed you',
      data: { followerId: 'u-1', count: 3, vip: true, nested: { a: [1, 2] }, gone: null, from: 'x', google_x: 'y', gcm: 'z', message_type: 'm' },
    });
    expect(payload).toEqual({
      title: 'New follower',
      body: 'Asha followed you',
      data: { followerId: 'u-1', count: '3', vip: 'true', nested: '{"a":[1,2]}', notificationId: 'n-1', kind: 'follow' },
      priority: 'normal',
      collapseKey: 'follow',
    });
  });

  it('sends what someone waits on at high priority, and never lets data overwrite the id or kind', () => {
    const payload = pushPayload({ id: 'n-2', kind: 'cp_proposal', title: 't', body: 'b', data: { notificationId: 'forged', kind: 'forged' } });
    expect(payload.priority).toBe('high');
    expect(payload.data).toEqual({ notificationId: 'n-2', kind: 'cp_proposal' });
    expect(pushPayload({ id: 'n', kind: 'gift_received', title: 't', body: 'b', data: null }).priority).toBe('high');
  });
});

describe('nextPushAttempt', () => {
  const base = { createdAtMs: 0, nowMs: 1_000 };
  const policy = DEFAULT_PUSH_RETRY_POLICY;

  it('backs off exponentially, with jitter between half and all of the backoff, up to the cap', () => {
    expect(nextPushAttempt({ ...base, rounds: 1 }, policy, 0)).toEqual({ atMs: 1_000 + 7_500 });
    expect(nextPushAttempt({ ...base, rounds: 1 }, policy, 0.999_999)).toEqual({ atMs: 1_000 + 15_000 });
    expect(nextPushAttempt({ ...base, rounds: 3 }, policy, 0)).toEqual({ atMs: 1_000 + 30_000 });
    expect(nextPushAttempt({ ...base, rounds: 9 }, policy, 0)).toEqual({ atMs: 1_000 + policy.maxDelayMs / 2 });
  });

  it('waits at least as long as Retry-After asks', () => {
    expect(nextPushAttempt({ ...base, rounds: 1, retryAfterMs: 120_000 }, policy, 0)).toEqual({ atMs: 121_000 });
    expect(nextPushAttempt({ ...base, rounds: 1, retryAfterMs: 1_000 }, policy, 0)).toEqual({ atMs: 8_500 });
  });

  it('gives up after the last round, or when the push would go out past its max age', () => {
    expect(nextPushAttempt({ ...base, rounds: policy.maxRounds })).toBeNull();
    expect(nextPushAttempt({ createdAtMs: 0, nowMs: policy.maxAgeMs - 1_000, rounds: 2 }, policy, 0)).toBeNull();
    expect(nextPushAttempt({ createdAtMs: 0, nowMs: policy.maxAgeMs - 60_000, rounds: 1 }, policy, 0)).not.toBeNull();
  });
});

describe('maskToken', () => {
  it('keeps six characters at the start and four at the end', () => {
    expect(maskToken('fcm-token-abcdefghijklmnopqrstuvwxyz-0123')).toBe('fcm-to…0123');
    expect(maskToken('short')).toBe('…');
  });
});
