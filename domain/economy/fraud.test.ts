import { DEFAULT_FRAUD_RULES, compareNumericIds, scanWindow, findRoundTrips, findSharedDevices, validateFraudRules, type FraudRules, type ReceiptFact } from './fraud';

/** The anti-fraud rules alone: what they name, and what stays below their thresholds. */
const HOUR = 3_600_000;
const AS_OF = Date.UTC(2026, 0, 10, 12, 0, 0);
const rules: FraudRules = { ...DEFAULT_FRAUD_RULES, windowHours: 24, roundTripMinCoinsEachWay: 500, sharedDeviceMinSenders: 3 };
const W = scanWindow(AS_OF, rules);
const [A, B, C, D, E, H] = ['a', 'b', 'c', 'd', 'e', 'h'].map((c) => `0000000${c}-0000-4000-8000-000000000000`) as [string, string, string, string, string, string];

let nextId = 1;
function receipt(senderId: string, receiverId: string, coins: number, hoursAgo = 1, state: ReceiptFact['state'] = 'pending'): ReceiptFact {
  return { id: String(nextId++), senderId, receiverId, coins, diamonds: coins, state, createdAt: AS_OF - hoursAgo * HOUR };
}

describe('round trips', () => {
  it('names both directions when each way reaches the threshold inside the window', () => {
    const there = [receipt(A, B, 300), receipt(A, B, 200)];
    const back = [receipt(B, A, 600, 2, 'settled')];
    const [finding, ...rest] = findRoundTrips([...there, ...back, receipt(C, A, 900)], W, rules);
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ kind: 'round-trip', subjectKey: `round-trip:${A}:${B}`, userIds: [A, B], receiverId: A });
    expect(finding!.receiptIds).toEqual([...there, ...back].map((r) => r.id).sort(compareNumericIds));
    expect(finding!.evidence).toMatchObject({
      windowHours: 24,
      legs: [
        { senderId: A, receiverId: B, coins: 500, gifts: 2, settledCoins: 0 },
        { senderId: B, receiverId: A, coins: 600, gifts: 1, settledCoins: 600 },
      ],
    });
  });

  it('names nothing when one direction stays below the threshold', () => {
    expect(findRoundTrips([receipt(A, B, 5_000), receipt(B, A, 499)], W, rules)).toEqual([]);
  });

  it('counts only receipts inside the window (and none from the future of asOf)', () => {
    const old = receipt(B, A, 5_000, 25);
    const future = receipt(B, A, 5_000, -1);
    expect(findRoundTrips([receipt(A, B, 5_000), old, future], W, rules)).toEqual([]);
    expect(findRoundTrips([receipt(A, B, 5_000), receipt(B, A, 500, 23.9)], W, rules)).toHaveLength(1);
  });

  it('finds each pair once, whichever side is listed first, with a stable beneficiary on a tie', () => {
    const found = findRoundTrips([receipt(B, A, 700), receipt(A, B, 700), receipt(C, D, 900), receipt(D, C, 901)], W, rules);
    expect(found.map((f) => [f.subjectKey, f.receiverId])).toEqual([
      [`round-trip:${A}:${B}`, A],
      [`round-trip:${C}:${D}`, C],
    ]);
  });
});

describe('shared devices', () => {
  const devices = { [A]: ['dev-1'], [B]: ['dev-1', 'dev-2'], [C]: ['dev-1'], [D]: ['dev-2'], [E]: ['dev-9'] };

  it('names the senders who share one device and gift one receiver', () => {
    const named = [receipt(A, H, 10), receipt(B, H, 20), receipt(C, H, 30), receipt(C, H, 5)];
    const [finding, ...rest] = findSharedDevices([...named, receipt(E, H, 100), receipt(A, E, 50)], devices, W, rules);
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ kind: 'shared-device', subjectKey: `shared-device:${H}`, receiverId: H, userIds: [A, B, C, H].sort() });
    expect(finding!.receiptIds).toEqual(named.map((r) => r.id));
    expect(finding!.evidence).toEqual({ windowHours: 24, minSenders: 3, senders: 3, sharedDevices: 1, coins: 65, gifts: 4, settledCoins: 0 });
    expect(JSON.stringify(finding)).not.toContain('dev-');
  });

  it('names nothing below the sender count, per device (two on one device and two on another are not three)', () => {
    expect(findSharedDevices([receipt(A, H, 10), receipt(C, H, 10)], devices, W, rules)).toEqual([]);
    expect(findSharedDevices([receipt(B, H, 10), receipt(D, H, 10), receipt(A, H, 10)], { [A]: ['x'], [B]: ['x', 'y'], [D]: ['y'] }, W, rules)).toEqual([]);
  });

  it('needs the senders inside the window, one receiver, and the coin minimum', () => {
    expect(findSharedDevices([receipt(A, H, 10), receipt(B, H, 10), receipt(C, H, 10, 30)], devices, W, rules)).toEqual([]);
    expect(findSharedDevices([receipt(A, H, 10), receipt(B, H, 10), receipt(C, E, 10)], devices, W, rules)).toEqual([]);
    const three = [receipt(A, H, 10), receipt(B, H, 10), receipt(C, H, 10)];
    expect(findSharedDevices(three, devices, W, { ...rules, sharedDeviceMinCoins: 31 })).toEqual([]);
    expect(findSharedDevices(three, devices, W, { ...rules, sharedDeviceMinCoins: 30 })).toHaveLength(1);
  });
});

describe('rules', () => {
  it('accepts the defaults and names each bad threshold', () => {
    expect(validateFraudRules(DEFAULT_FRAUD_RULES)).toEqual([]);
    expect(validateFraudRules({ ...DEFAULT_FRAUD_RULES, windowHours: 0, sharedDeviceMinSenders: 1, roundTripMinCoinsEachWay: 1.5 })).toHaveLength(3);
  });

  it('orders receipt ids as numbers', () => {
    expect(['10', '9', '100', '11'].sort(compareNumericIds)).toEqual(['9', '10', '11', '100']);
  });
});
