/** Where OTP texts go out. Implementations: the dev inbox and Twilio's Messaging API. */
export interface SmsSender {
  send(message: { to: string; body: string; idempotencyKey: string }): Promise<{ providerMessageId: string }>;
}

/** A refusal by the provider that retrying will not fix (a bad number, say). */
export class SmsRejected extends Error {
  constructor(message: string, readonly providerCode?: string | number) {
    super(message);
    this.name = 'SmsRejected';
  }
}
