import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { AppError, ErrorCode } from '../../domain/errors';

/**
 * Validates and normalises a phone number to E.164 with libphonenumber's full metadata, and
 * checks its country calling code against the allow-list (empty: every country).
 */
export function normalizePhone(input: string, allowedCallingCodes: string[]): string {
  const parsed = parsePhoneNumberFromString(input.trim());
  if (!parsed || !parsed.isValid()) {
    throw new AppError(ErrorCode.PhoneInvalid, 'this is not a valid phone number in international format');
  }
  if (allowedCallingCodes.length > 0 && !allowedCallingCodes.includes(parsed.countryCallingCode)) {
    throw new AppError(ErrorCode.PhoneCountryNotAllowed, 'sign-in by phone is not available in this country yet', {
      countryCallingCode: parsed.countryCallingCode,
    });
  }
  return parsed.number;
}
