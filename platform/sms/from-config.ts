import type { Redis } from 'ioredis';
import type { Config } from '../../config';
import { DevSmsInbox } from './dev-inbox';
import type { SmsSender } from './sms-sender';
import { TwilioSmsSender } from './twilio';

/** The SMS sender the configuration names (production configuration refuses the dev inbox). */
export function smsSenderFromConfig(config: Config, redis: Redis): SmsSender {
  if (config.SMS_PROVIDER === 'twilio') {
    return new TwilioSmsSender({
      baseUrl: config.TWILIO_BASE_URL,
      accountSid: config.TWILIO_ACCOUNT_SID!,
      authToken: config.TWILIO_AUTH_TOKEN!,
      from: config.TWILIO_FROM!,
    });
  }
  return new DevSmsInbox(redis);
}
