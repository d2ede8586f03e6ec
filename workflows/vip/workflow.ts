import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { VipActivities } from '../../activities/vip';
import { SearchAttribute } from '../../domain/flows';
import {
  adoptRecord,
  applyPurchase,
  expired,
  initialVipState,
  nextVipStep,
  reminderIdempotencyKey,
  summarizeVip,
  validateVipPolicy,
  type DueReminder,
  type VipFlowState,
} from '../../domain/vip/flow';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import { vipPurchasedSignal, vipStatusQuery, type VipFlowInput } from './definitions';

const { sendVipReminder } = proxyActivities<VipActivities>(STANDARD_ACTIVITY_OPTIONS);
/** Expiry must happen: retried until it does, backing off to 5 minutes between attempts. */
const { expireVip } = proxyActivities<VipActivities>({
  ...STANDARD_ACTIVITY_OPTIONS,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/**
 * One entity flow per user (`vip:<userId>`), started by the first purchase through
 * signal-with-start. PostgreSQL (`users.vip_tier`, `users.vip_expires_at`) is the record; this
 * flow holds the timer: the reminders before the end, each sent once per expiry, and the expiry
 * at the exact moment. Each purchase signal moves the timer. Runs until it continues as new.
 */
export async function vipWorkflow(input: VipFlowInput): Promise<void> {
  let policy = input.policy;
  let state: VipFlowState = input.state ?? initialVipState(input.userId);
  let signalsThisRun = 0;
  /** Bumped by every signal that changed the state, so a wait is re-aimed. */
  let revision = 0;
  let published: number | null | undefined;

  /** The memo line and the VipExpiresAt search attribute, upserted when they change. */
  const publish = () => {
    upsertMemo({ summary: summarizeVip(state) });
    if (state.expiresAt !== published) {
      upsertSearchAttributes([{ key: SearchAttribute.VipExpiresAt, value: state.expiresAt === null ? null : new Date(state.expiresAt) }]);
      published = state.expiresAt;
    }
  };
  publish();

  setHandler(vipStatusQuery, () => ({ state, policy }));
  setHandler(vipPurchasedSignal, (notice) => {
    signalsThisRun += 1;
    if (notice.policy && validateVipPolicy(notice.policy).length === 0 && JSON.stringify(notice.policy) !== JSON.stringify(policy)) {
      policy = notice.policy;
      revision += 1;
    }
    const next = applyPurchase(state, notice);
    if (next !== state) {
      state = next;
      revision += 1;
    }
  });

  const shouldRestart = () => signalsThisRun >= policy.maxSignalsPerRun || workflowInfo().continueAsNewSuggested;

  for (;;) {
    publish();
    const seen = revision;
    const changed = () => revision !== seen;
    const step = nextVipStep(state, Date.now(), policy);

    if (step.kind === 'idle') {
      await condition(() => changed() || shouldRestart());
    } else if (step.kind === 'wait') {
      await condition(() => changed() || shouldRestart(), Math.max(step.until - Date.now(), 1));
    } else if (step.kind === 'remind') {
      // Marked before the await: a purchase arriving meanwhile starts the new expiry's own set.
      state = { ...state, remindersSent: [...state.remindersSent, ...step.skipped.map((r) => r.key), step.reminder.key] };
      await remind(state.expiresAt!, state.tier, step.reminder);
    } else {
      const result = await expireVip({ userId: state.userId, expiresAt: new Date(step.expiresAt).toISOString(), tier: state.tier });
      const record = { tier: result.tier, expiresAt: result.expiresAt === null ? null : Date.parse(result.expiresAt), seq: result.seq };
      if (result.expired) {
        state = expired(state, step.expiresAt);
        // A purchase committed right after the expiry (its signal may still be on the way).
        if (record.expiresAt !== null) state = adoptRecord(state, record);
      } else {
        // A purchase won the race (its signal may still be on the way): the record is the truth.
        state = adoptRecord(state, record);
        // Never ask again for the same expiry (the record moved on, so asking would only spin).
        if (state.expiresAt === step.expiresAt) state = expired(state, step.expiresAt);
      }
    }

    if (shouldRestart()) {
      await condition(allHandlersFinished);
      publish();
      return continueAsNew<typeof vipWorkflow>({ userId: state.userId, policy, state });
    }
  }

  async function remind(expiresAt: number, tier: number, reminder: DueReminder): Promise<void> {
    try {
      await sendVipReminder({
        userId: state.userId,
        tier,
        expiresAt: new Date(expiresAt).toISOString(),
        leadHours: reminder.leadHours,
        idempotencyKey: reminderIdempotencyKey(state.userId, expiresAt, reminder.leadHours),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A reminder is best effort (its retries are spent): the expiry must not wait on it.
    }
  }
}
