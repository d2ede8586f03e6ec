/**
 * Gifting anti-fraud rules: which recent gift receipts look like coins being laundered into
 * diamonds. Pure: the scanner reads the receipts and the senders' devices, these rules decide,
 * and the scanner holds what they name for staff review. Thresholds are parameters.
 *
 *  - round trip: A gifts B and B gifts A, each way at least `roundTripMinCoinsEachWay` coins
 *    within the window. Both directions' receipts are named.
 *  - shared device: `sharedDeviceMinSenders` or more distinct senders who recently signed in from
 *    one device all gift one receiver within the window (one phone farming many accounts).
 *    The senders' receipts to that receiver are named.
 */

export type FraudKind = 'round-trip' | 'shared-device';
export const FRAUD_KINDS: readonly FraudKind[] = ['round-trip', 'shared-device'];

export interface FraudRules {
  /** How far back from the scan's `asOf` receipts count (the scan's `since`). */
  windowHours: number;
  roundTripMinCoinsEachWay: number;
  sharedDeviceMinSenders: number;
  /** Coins the shared-device senders must have sent the receiver together (0: any). */
  sharedDeviceMinCoins: number;
  /** Sessions used this recently tie a sender to a device. */
  deviceLookbackDays: number;
}

export const DEFAULT_FRAUD_RULES: FraudRules = {
  windowHours: 24,
  roundTripMinCoinsEachWay: 1_000,
  sharedDeviceMinSenders: 3,
  sharedDeviceMinCoins: 0,
  deviceLookbackDays: 30,
};

export function validateFraudRules(rules: FraudRules): string[] {
  const problems: string[] = [];
  const whole = (name: keyof FraudRules, min: number, max: number) => {
    const v = rules[name];
    if (!Number.isSafeInteger(v) || v < min || v > max) problems.push(`${name} must be an integer from ${min} to ${max}`);
  };
  whole('windowHours', 1, 24 * 14);
  whole('roundTripMinCoinsEachWay', 1, Number.MAX_SAFE_INTEGER);
  whole('sharedDeviceMinSenders', 2, 1_000);
  whole('sharedDeviceMinCoins', 0, Number.MAX_SAFE_INTEGER);
  whole('deviceLookbackDays', 1, 365);
  return problems;
}

/** A receipt as the rules see it. Reversed receipts are not facts: their coins went back. */
export interface ReceiptFact {
  id: string;
  senderId: string;
  receiverId: string;
  coins: number;
  diamonds: number;
  state: 'pending' | 'held' | 'settled';
  /** Epoch milliseconds. */
  createdAt: number;
}

export interface FraudFinding {
  kind: FraudKind;
  /** The pattern's identity: a re-scan finding it again adds to the same open flag. */
  subjectKey: string;
  receiverId: string;
  /** Everyone involved, sorted. */
  userIds: string[];
  /** Every receipt of the pattern inside the window, whatever its state (the scanner holds the pending ones). */
  receiptIds: string[];
  /** Counts and sums only: no device ids, nothing personal. */
  evidence: Record<string, unknown>;
}

/** The receipts a scan looks at: created after `since`, up to and including `asOf` (epoch ms). */
export interface ScanWindow {
  since: number;
  asOf: number;
}

/** The window a scan at `asOf` looks at under these rules. */
export function scanWindow(asOf: number, rules: FraudRules): ScanWindow {
  return { since: asOf - rules.windowHours * 3_600_000, asOf };
}

const windowHours = (w: ScanWindow) => Math.round(((w.asOf - w.since) / 3_600_000) * 100) / 100;

function inWindow(receipts: readonly ReceiptFact[], w: ScanWindow): ReceiptFact[] {
  return receipts.filter((r) => r.createdAt > w.since && r.createdAt <= w.asOf && r.senderId !== r.receiverId);
}

interface Leg {
  senderId: string;
  receiverId: string;
  coins: number;
  gifts: number;
  receipts: ReceiptFact[];
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function findRoundTrips(receipts: readonly ReceiptFact[], window: ScanWindow, rules: FraudRules): FraudFinding[] {
  const legs = new Map<string, Leg>();
  for (const r of inWindow(receipts, window)) {
    const key = `${r.senderId}>${r.receiverId}`;
    const leg = legs.get(key) ?? { senderId: r.senderId, receiverId: r.receiverId, coins: 0, gifts: 0, receipts: [] };
    leg.coins += r.coins;
    leg.gifts += 1;
    leg.receipts.push(r);
    legs.set(key, leg);
  }
  const findings: FraudFinding[] = [];
  for (const forward of legs.values()) {
    // Each unordered pair once: from its lower id's side.
    if (byId(forward.senderId, forward.receiverId) >= 0) continue;
    const back = legs.get(`${forward.receiverId}>${forward.senderId}`);
    if (!back) continue;
    if (forward.coins < rules.roundTripMinCoinsEachWay || back.coins < rules.roundTripMinCoinsEachWay) continue;
    const [low, high] = [forward.senderId, forward.receiverId];
    // The beneficiary is whoever received more; a tie names the lower id, so it is stable.
    const receiverId = forward.coins > back.coins ? high : low;
    const legView = (leg: Leg) => ({
      senderId: leg.senderId,
      receiverId: leg.receiverId,
      coins: leg.coins,
      gifts: leg.gifts,
      settledCoins: leg.receipts.filter((r) => r.state === 'settled').reduce((sum, r) => sum + r.coins, 0),
    });
    findings.push({
      kind: 'round-trip',
      subjectKey: `round-trip:${low}:${high}`,
      receiverId,
      userIds: [low, high],
      receiptIds: [...forward.receipts, ...back.receipts].map((r) => r.id).sort(compareNumericIds),
      evidence: {
        windowHours: windowHours(window),
        minCoinsEachWay: rules.roundTripMinCoinsEachWay,
        legs: [legView(forward), legView(back)],
      },
    });
  }
  return findings.sort((a, b) => byId(a.subjectKey, b.subjectKey));
}

/**
 * `devicesBySender`: opaque device keys (hashes) each sender signed in from lately. Only senders
 * sharing a device with another sender to the same receiver matter, so callers may pass just those.
 */
export function findSharedDevices(
  receipts: readonly ReceiptFact[],
  devicesBySender: Readonly<Record<string, readonly string[]>>,
  window: ScanWindow,
  rules: FraudRules,
): FraudFinding[] {
  const byReceiver = new Map<string, ReceiptFact[]>();
  for (const r of inWindow(receipts, window)) {
    const list = byReceiver.get(r.receiverId) ?? [];
    list.push(r);
    byReceiver.set(r.receiverId, list);
  }
  const findings: FraudFinding[] = [];
  for (const [receiverId, received] of byReceiver) {
    const sendersByDevice = new Map<string, Set<string>>();
    for (const senderId of new Set(received.map((r) => r.senderId))) {
      for (const device of devicesBySender[senderId] ?? []) {
        const senders = sendersByDevice.get(device) ?? new Set<string>();
        senders.add(senderId);
        sendersByDevice.set(device, senders);
      }
    }
    const flaggedSenders = new Set<string>();
    let sharedDevices = 0;
    for (const senders of sendersByDevice.values()) {
      if (senders.size < rules.sharedDeviceMinSenders) continue;
      sharedDevices += 1;
      for (const s of senders) flaggedSenders.add(s);
    }
    if (sharedDevices === 0) continue;
    const named = received.filter((r) => flaggedSenders.has(r.senderId));
    const coins = named.reduce((sum, r) => sum + r.coins, 0);
    if (coins < rules.sharedDeviceMinCoins) continue;
    findings.push({
      kind: 'shared-device',
      subjectKey: `shared-device:${receiverId}`,
      receiverId,
      userIds: [receiverId, ...flaggedSenders].sort(byId),
      receiptIds: named.map((r) => r.id).sort(compareNumericIds),
      evidence: {
        windowHours: windowHours(window),
        minSenders: rules.sharedDeviceMinSenders,
        senders: flaggedSenders.size,
        sharedDevices,
        coins,
        gifts: named.length,
        settledCoins: named.filter((r) => r.state === 'settled').reduce((sum, r) => sum + r.coins, 0),
      },
    });
  }
  return findings.sort((a, b) => byId(a.subjectKey, b.subjectKey));
}

/** Receipt ids are bigints as strings: order them as numbers. */
export function compareNumericIds(a: string, b: string): number {
  return a.length - b.length || byId(a, b);
}

/** One line for the scan's workflow details (no personal data). */
export function summarizeScan(result: { asOf: string; findings: number; newFlags: number; heldReceipts: number }): string {
  return `scan as of ${result.asOf}: ${result.findings} pattern(s), ${result.newFlags} new flag(s), ${result.heldReceipts} receipt(s) held`;
}
