import {
  DEFAULT_OTP_POLICY as policy,
  beginSend,
  beginSignIn,
  decideSend,
  initialOtpState,
  sendFailed,
  sendSucceeded,
  signInFailed,
  signedIn,
  spendAttempt,
  summarizeOtp,
  verifyRefusal,
} from './rules';

/** The OTP rules alone: what a send and a sign-in commit, and when. */
const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);

describe('sends', () => {
  it('commits nothing until the text went out, and one send at a time', () => {
    const sending = beginSend(initialOtpState(), T0);
    expect(sending).toMatchObject({ sends: [], sentTotal: 0, codeHash: null });
    expect(decideSend(sending, T0 + 1_000, policy)).toMatchObject({ reason: 'OTP_RESEND_COOLDOWN' });
    const sent = sendSucceeded(sending, T0 + 2_000, 'hash-1', policy);
    expect(sent).toMatchObject({ sends: [T0 + 2_000], sentTotal: 1, sendingSince: null, codeHash: 'hash-1', attemptsLeft: 5 });
    expect(decideSend(sent, T0 + 61_000, policy)).toMatchObject({ reason: 'OTP_RESEND_COOLDOWN', retryAfterMs: 1_000 });
  });

  it('leaves the cooldown, the cap and the live code as they were when a send fails', () => {
    const sent = sendSucceeded(beginSend(initialOtpState(), T0), T0, 'hash-1', policy);
    const failed = sendFailed(beginSend(sent, T0 + 61_000));
    expect(failed).toEqual(sent);
    expect(decideSend(failed, T0 + 61_000, policy)).toBeNull();
  });
});

describe('sign-in', () => {
  it('refuses other verifications while signing in, and gives the attempt back if the sign-in fails', () => {
    const sent = sendSucceeded(initialOtpState(), T0, 'hash-1', policy);
    const signingIn = beginSignIn(spendAttempt(sent));
    expect(verifyRefusal(signingIn, T0 + 1_000)).toBe('FLOW_CONFLICT');
    const failed = signInFailed(signingIn, 'hash-1');
    expect(failed).toMatchObject({ status: 'pending', attemptsLeft: 5, codeHash: 'hash-1' });
    expect(verifyRefusal(failed, T0 + 1_000)).toBeNull();
    expect(signedIn(signingIn, 'user-1')).toMatchObject({ status: 'verified', codeHash: null, userId: 'user-1' });
  });
});

it('summarises the flow without a digit run of three (no number, masked or not)', () => {
  const sent = sendSucceeded(initialOtpState(), T0, 'hash-1', policy);
  for (const state of [initialOtpState(), sent, beginSignIn(sent), signedIn(sent, 'u')]) {
    expect(summarizeOtp(state, T0)).not.toMatch(/\d{3}|\+/);
  }
});
