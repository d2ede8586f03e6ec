/** Where OTP texts go out. Implementations: the dev inbox and Twilio's Messaging API. */
export interface SmsSender {
  /**
   * One attempt to hand a text to the provider; retrying is the caller's job (the OTP activity,
   * through Temporal). `idempotencyKey` is the same for every attempt of one send; `signal` ends
   * the attempt early (the activity's own time budget or its cancellation).
   */
  send(message: { to: string; body: string; idempotencyKey: string }, options?: { signal?: AbortSignal }): Promise<{ providerMessageId: string }>;
}

/** A refusal by the provider that retrying will not fix (a bad number, say). */
export class SmsRejected extends Error {
  constructor(message: string, readonly providerCode?: string | number) {
    super(message);
    this.name = 'SmsRejected';
  }
}
