import { BrokenCircuitError } from 'cockatiel';
import { outboundCallPolicy, type OutboundPolicyOptions } from '../resilience/outbound-policy';
import { SmsRejected, type SmsSender } from './sms-sender';

export interface TwilioSettings {
  /** https://api.twilio.com in production; a local server in tests. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** Sender number or Messaging Service SID (MG...). */
  from: string;
  timeoutMs?: number;
  policy?: Partial<OutboundPolicyOptions>;
}

class TransientSmsError extends Error {
  override name = 'TransientSmsError';
}

/**
 * Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
 * form-encoded, HTTP basic auth. 4xx answers are refusals (never retried); 5xx, 429 and
 * network failures are retried and trip the circuit breaker.
 */
export class TwilioSmsSender implements SmsSender {
  private readonly policy;

  constructor(private readonly settings: TwilioSettings) {
    this.policy = outboundCallPolicy({
      isTransient: (err) => err instanceof TransientSmsError,
      ...settings.policy,
    });
  }

  get circuitState() {
    return this.policy.breaker.state;
  }

  async send(message: { to: string; body: string; idempotencyKey: string }): Promise<{ providerMessageId: string }> {
    try {
      return (await this.policy.execute(() => this.post(message))) as { providerMessageId: string };
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new TransientSmsError('SMS provider circuit is open');
      throw err;
    }
  }

  private async post(message: { to: string; body: string }): Promise<{ providerMessageId: string }> {
    const { baseUrl, accountSid, authToken, from } = this.settings;
    const form = new URLSearchParams({ To: message.to, Body: message.body });
    form.set(from.startsWith('MG') ? 'MessagingServiceSid' : 'From', from);
    let res: Response;
    try {
      res = await fetch(`${baseUrl}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form,
        signal: AbortSignal.timeout(this.settings.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new TransientSmsError(`SMS provider unreachable: ${(err as Error).message}`);
    }
    const body = (await res.json().catch(() => ({}))) as { sid?: string; code?: number; message?: string };
    if (res.ok && body.sid) return { providerMessageId: body.sid };
    if (res.status >= 500 || res.status === 429) throw new TransientSmsError(`SMS provider answered ${res.status}`);
    throw new SmsRejected(body.message ?? `SMS provider refused the message (${res.status})`, body.code);
  }
}

export { TransientSmsError };
