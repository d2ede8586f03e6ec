/**
 * Secrets for the development stack and the tests only. Every one starts with "dev-" (or is
 * the all-"d" key) so production configuration refuses them.
 */
export const DEV_SECRETS = {
  ACCESS_TOKEN_SECRET: 'dev-only-secret-change-me-0123456789abcdef',
  OTP_SECRET: 'dev-only-otp-secret-change-me-0123456789abcdef',
  PHONE_ENCRYPTION_KEY: 'd'.repeat(64),
} as const;
