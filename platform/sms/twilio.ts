import { BrokenCircuitError } from 'cockatiel';
import { outboundCircuitBreaker, type OutboundBreakerOptions } from '../resilience/outbound-policy';
import { SmsRejected, type SmsSender } from './sms-sender';

export interface TwilioSettings {
  /** https://api.twilio.com in production; a local server in tests. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** Sender number or Messaging Service SID (MG...). */
  from: string;
  /** One HTTP attempt, from connecting to the last byte of the answer. */
  timeoutMs?: number;
  breaker?: Omit<Partial<OutboundBreakerOptions>, 'isProviderFailure'>;
}

/** The provider is down, slow or overloaded: worth another attempt later (by Temporal). */
class TransientSmsError extends Error {
  override name = 'TransientSmsError';
}

/** Below the OTP activity's attempt (SMS_ACTIVITY_ATTEMPT_MS), which also passes its own signal. */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 4_000;

/**
 * Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
 * form-encoded, HTTP basic auth, with the send's idempotency key in `I-Twilio-Idempotency-Token`
 * so a repeated attempt of one send can be recognised. One HTTP attempt per call: 400 answers are
 * refusals of the message (a bad or unsubscribed number); anything else that is not a success
 * (5xx, 429, 401/403 of a misconfigured account, network failures, the attempt's timeout) is
 * transient and trips the circuit breaker.
 */
export class TwilioSmsSender implements SmsSender {
  private readonly breaker;

  constructor(private readonly settings: TwilioSettings) {
    this.breaker = outboundCircuitBreaker({ isProviderFailure: (err) => err instanceof TransientSmsError, ...settings.breaker });
  }

  get circuitState() {
    return this.breaker.state;
  }

  async send(message: { to: string; body: string; idempotencyKey: string }, options: { signal?: AbortSignal } = {}): Promise<{ providerMessageId: string }> {
    try {
      return await this.breaker.execute(() => this.post(message, options.signal));
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new TransientSmsError('SMS provider circuit is open');
      throw err;
    }
  }

  private async post(message: { to: string; body: string; idempotencyKey: string }, signal?: AbortSignal): Promise<{ providerMessageId: string }> {
    const { baseUrl, accountSid, authToken, from } = this.settings;
    const form = new URLSearchParams({ To: message.to, Body: message.body });
    form.set(from.startsWith('MG') ? 'MessagingServiceSid' : 'From', from);
    const timeout = AbortSignal.timeout(this.settings.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS);
    const attempt = signal ? AbortSignal.any([timeout, signal]) : timeout;
    let res: Response;
    let body: { sid?: string; code?: number; message?: string };
    try {
      res = await fetch(`${baseUrl}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          'i-twilio-idempotency-token': message.idempotencyKey,
        },
        body: form,
        signal: attempt,
      });
      // The body is read under the same signal: a provider that stalls mid-answer is cut too.
      body = (await res.json().catch((err: unknown) => {
        if (attempt.aborted) throw err;
        return {};
      })) as typeof body;
    } catch (err) {
      const why = attempt.aborted ? 'did not answer in time' : `unreachable: ${(err as Error).message}`;
      throw new TransientSmsError(`SMS provider ${why}`);
    }
    if (res.ok && body.sid) return { providerMessageId: body.sid };
    if (res.status === 400) throw new SmsRejected(body.message ?? 'SMS provider refused the message (400)', body.code);
    throw new TransientSmsError(`SMS provider answered ${res.status}`);
  }
}

export { TransientSmsError };
