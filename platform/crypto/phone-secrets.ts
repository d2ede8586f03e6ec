import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt } from 'node:crypto';

/**
 * The keyed hashes and encryption that keep phone numbers and codes out of workflow ids,
 * histories and logs. The HMAC key and the encryption key are separate secrets.
 */
export class PhoneSecrets {
  private readonly encryptionKey: Buffer;

  constructor(private readonly hmacSecret: string, encryptionKeyHex: string) {
    this.encryptionKey = Buffer.from(encryptionKeyHex, 'hex');
    if (this.encryptionKey.length !== 32) throw new Error('PHONE_ENCRYPTION_KEY must be 32 bytes of hex');
  }

  /** Stable, non-reversible id of a number: the OTP workflow id and the identity subject. */
  phoneKey(e164: string): string {
    return createHmac('sha256', this.hmacSecret).update(`phone:${e164}`).digest('base64url').slice(0, 32);
  }

  /** Keyed hash of a code for one number: what the workflow stores and compares. */
  codeHash(phoneKey: string, code: string): string {
    return createHmac('sha256', this.hmacSecret).update(`otp:${phoneKey}:${code}`).digest('base64url');
  }

  /** A 6-digit code from the CSPRNG. */
  drawCode(): string {
    return String(randomInt(0, 1_000_000)).padStart(6, '0');
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  decrypt(token: string): string {
    const raw = Buffer.from(token, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
