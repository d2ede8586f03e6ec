import { Counter, type Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { PushOutbox, type ClaimedPush } from '../../db/repositories/push-outbox';
import { PushTokens } from '../../db/repositories/push-tokens';
import { DEFAULT_PUSH_RETRY_POLICY, maskToken, nextPushAttempt, pushPayload, type PushRetryPolicy } from '../../domain/notifications/push';
import type { Logger } from '../../platform/logging';
import { PushRejected, PushTokenInvalid, PushUnavailable, type PushSender } from '../../platform/push/push-sender';

/** What became of one claimed push (the `result` label of aura_push_sends_total). */
export type PushResult = 'sent' | 'token_removed' | 'rejected' | 'retry' | 'gave_up' | 'skipped';

export interface PushDrainSettings {
  /** Pushes claimed per pass. */
  batch: number;
  /** Sends in flight at once. */
  concurrency: number;
  /** How often a worker looks when the last pass did not fill its batch. */
  intervalMs: number;
  /** How long a claim keeps other workers off a push: longer than one send can take (all its attempts). */
  leaseMs: number;
  retry: PushRetryPolicy;
}

export const DEFAULT_PUSH_DRAIN_SETTINGS: PushDrainSettings = {
  batch: 100,
  concurrency: 10,
  intervalMs: 1000,
  leaseMs: 120_000,
  retry: DEFAULT_PUSH_RETRY_POLICY,
};

/**
 * Sends the push outbox through FCM, in the worker process. Each pass claims due pushes (a
 * lease; several workers never claim the same one), sends them a few at a time, and then:
 * sent -> the row goes; FCM says the token is dead (UNREGISTERED, INVALID_ARGUMENT of the token,
 * SENDER_ID_MISMATCH) -> the token goes, with every push still queued for it; refused for good ->
 * the row goes; unavailable -> another round after a backoff (or Retry-After), until the policy's
 * rounds or max age run out. A token that moved to another user, or a kind the user turned off
 * since, is skipped. Delivery is at least once: a worker that dies after FCM accepted a push
 * but before its row went leaves it to be sent again when the lease passes (FCM has no
 * idempotency key; the collapse key and the app's notification id make the repeat harmless).
 */
export class PushDrain {
  private readonly outbox: PushOutbox;
  private readonly tokens: PushTokens;
  private readonly sends: Counter<'result'>;
  private readonly settings: PushDrainSettings;
  private stopping?: AbortController;
  private loop?: Promise<void>;

  constructor(
    private readonly deps: {
      dataSource: DataSource;
      sender: PushSender;
      logger: Pick<Logger, 'info' | 'warn' | 'error'>;
      registry?: Registry;
      settings?: Partial<PushDrainSettings>;
    },
  ) {
    this.outbox = new PushOutbox(deps.dataSource);
    this.tokens = new PushTokens(deps.dataSource);
    this.settings = { ...DEFAULT_PUSH_DRAIN_SETTINGS, ...deps.settings };
    const existing = deps.registry?.getSingleMetric('aura_push_sends_total') as Counter<'result'> | undefined;
    this.sends =
      existing ??
      new Counter({ name: 'aura_push_sends_total', help: 'Pushes the outbox drain handled, by result', labelNames: ['result'] as const, registers: deps.registry ? [deps.registry] : [] });
  }

  /** One pass: claims a batch and settles each push. Returns how many of each result. */
  async drainOnce(): Promise<{ claimed: number; results: Partial<Record<PushResult, number>> }> {
    const claimed = await this.outbox.claim(this.settings.batch, this.settings.leaseMs);
    const results: Partial<Record<PushResult, number>> = {};
    let next = 0;
    const worker = async () => {
      while (next < claimed.length) {
        const push = claimed[next++]!;
        const result = await this.settle(push).catch((err: unknown) => {
          // PostgreSQL failed while settling: the lease brings the push back.
          this.deps.logger.warn({ err, pushId: push.id }, 'settling a push failed; it is tried again when its claim lapses');
          return 'retry' as const;
        });
        results[result] = (results[result] ?? 0) + 1;
        this.sends.inc({ result });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, claimed.length) }, worker));
    return { claimed: claimed.length, results };
  }

  private async settle(push: ClaimedPush): Promise<PushResult> {
    if (!push.tokenStillTheirs || push.pushTurnedOff) {
      await this.outbox.finish(push.id);
      return 'skipped';
    }
    const now = Date.now();
    const ageMs = now - push.queuedAt.getTime();
    if (ageMs > this.settings.retry.maxAgeMs) {
      await this.outbox.finish(push.id);
      return 'gave_up';
    }
    try {
      const ttlSeconds = Math.max(1, Math.floor((this.settings.retry.maxAgeMs - ageMs) / 1000));
      await this.deps.sender.send({ ...pushPayload(push.notification), token: push.token, ttlSeconds }, { signal: this.stopping?.signal });
      await this.outbox.finish(push.id);
      return 'sent';
    } catch (err) {
      if (err instanceof PushTokenInvalid) {
        await this.tokens.forget(push.token);
        this.deps.logger.info({ tokenHint: maskToken(push.token), reason: err.reason }, 'FCM says the push token is dead; removed it');
        return 'token_removed';
      }
      if (err instanceof PushRejected) {
        await this.outbox.finish(push.id);
        this.deps.logger.error({ err, notificationId: push.notification.id, kind: push.notification.kind }, 'FCM refused a push for good');
        return 'rejected';
      }
      if (!(err instanceof PushUnavailable)) throw err;
      const retry = nextPushAttempt({ rounds: push.rounds, createdAtMs: push.queuedAt.getTime(), nowMs: Date.now(), retryAfterMs: err.retryAfterMs }, this.settings.retry, Math.random());
      if (!retry) {
        await this.outbox.finish(push.id);
        this.deps.logger.warn({ notificationId: push.notification.id, tokenHint: maskToken(push.token), rounds: push.rounds }, `push given up: ${err.message}`);
        return 'gave_up';
      }
      await this.outbox.retryAt(push.id, new Date(retry.atMs), err.message);
      return 'retry';
    }
  }

  /** Drains until `stop`: again at once while passes come full, else every `intervalMs`. */
  start(): void {
    if (this.loop) return;
    const stopping = (this.stopping = new AbortController());
    this.loop = (async () => {
      while (!stopping.signal.aborted) {
        let full = false;
        try {
          full = (await this.drainOnce()).claimed >= this.settings.batch;
        } catch (err) {
          this.deps.logger.warn({ err }, 'push drain pass failed; the next one retries');
        }
        if (!full) await pause(this.settings.intervalMs * (0.9 + Math.random() * 0.2), stopping.signal);
      }
    })();
  }

  /** Stops claiming; sends in flight are cut (their claims lapse and another pass sends them). */
  async stop(): Promise<void> {
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
