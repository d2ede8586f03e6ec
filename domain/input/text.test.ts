import { calendarDate, digitsInt, entityId, httpsUrl, isoInstant, messageId, roomPassword, typedText } from './fields';
import { canonicalText } from './text';

describe('the text rule', () => {
  it.each([
    ['NUL', 'a\u0000b', 'CONTROL_CHARACTER'],
    ['escape', 'a\u001bb', 'CONTROL_CHARACTER'],
    ['C1', 'a\u0085b', 'CONTROL_CHARACTER'],
    ['DEL', 'a\u007fb', 'CONTROL_CHARACTER'],
    ['line feed in a single-line field', 'a\nb', 'CONTROL_CHARACTER'],
    ['lone high surrogate', 'a\ud800b', 'LONE_SURROGATE'],
    ['lone low surrogate', 'a\udc00', 'LONE_SURROGATE'],
    ['right-to-left override', 'abc\u202Egpj.exe', 'INVISIBLE_CHARACTER'],
    ['isolate', '\u2067x', 'INVISIBLE_CHARACTER'],
    ['zero-width space', 'ad\u200bmin', 'INVISIBLE_CHARACTER'],
    ['byte-order mark', '\ufeffhi', 'INVISIBLE_CHARACTER'],
    ['noncharacter', 'a\uffff', 'INVISIBLE_CHARACTER'],
  ])('refuses %s', (_name, input, problem) => {
    expect(canonicalText(input)).toEqual({ ok: false, problem });
  });

  it('keeps emoji sequences, joiners and direction marks; normalises to NFC and trims', () => {
    expect(canonicalText('  👩\u200d👩\u200d👧 family ')).toEqual({ ok: true, value: '👩\u200d👩\u200d👧 family' });
    expect(canonicalText('سلام \u200fhello')).toEqual({ ok: true, value: 'سلام \u200fhello' });
    expect(canonicalText('e\u0301')).toEqual({ ok: true, value: '\u00e9' });
  });

  it('lets multi-line text carry line feeds and tabs, and folds CR LF', () => {
    expect(canonicalText('a\r\nb\tc\rd', { multiline: true })).toEqual({ ok: true, value: 'a\nb\tc\nd' });
    expect(canonicalText('a\u0000b', { multiline: true })).toEqual({ ok: false, problem: 'CONTROL_CHARACTER' });
  });

  it('counts characters, not UTF-16 units, and refuses text empty after trimming', () => {
    const name = typedText({ min: 1, max: 3 });
    expect(name.parse('😀😀😀')).toBe('😀😀😀');
    expect(name.safeParse('😀😀😀😀').success).toBe(false);
    expect(name.safeParse('   ').success).toBe(false);
  });
});

describe('ids and dates', () => {
  it('canonicalises UUIDs to lower case and refuses anything else', () => {
    expect(entityId.parse('0A0B0C0D-0000-4000-8000-00000000000F')).toBe('0a0b0c0d-0000-4000-8000-00000000000f');
    for (const bad of ['', 'x', '0a0b0c0d00004000800000000000000f', '0a0b0c0d-0000-4000-8000-00000000000f ', '__proto__']) {
      expect(entityId.safeParse(bad).success).toBe(false);
    }
  });

  it('accepts only real calendar values', () => {
    expect(calendarDate.safeParse('2024-02-29').success).toBe(true);
    for (const bad of ['2023-02-29', '2024-13-01', '2024-00-10', '2024-04-31', '0000-01-01', '99999-01-01', '2024-1-1']) {
      expect(calendarDate.safeParse(bad).success).toBe(false);
    }
    expect(isoInstant.safeParse('2026-12-02T10:00:00.123Z').success).toBe(true);
    for (const bad of ['2026-02-30T00:00:00Z', '2026-12-02T24:00:00Z', '2026-12-02T10:00:00', 'yesterday']) {
      expect(isoInstant.safeParse(bad).success).toBe(false);
    }
  });
});

describe('secrets, links and numbers', () => {
  it('takes a room password of 4-32 printable characters, no white space, in NFC', () => {
    expect(roomPassword.parse('pässwörd')).toBe('pässwörd');
    expect(roomPassword.parse('pa\u0308ss')).toBe('päss');
    for (const bad of ['abc', 'ab cd', ' abcd', 'abcd\u00a0', 'ab\u0000cd', '\u202eabcd', 'ab\u200bcd', 'abc\ud800', 'x'.repeat(33)]) {
      expect(roomPassword.safeParse(bad).success).toBe(false);
    }
  });

  it('takes https links of printable ASCII only', () => {
    expect(httpsUrl.parse('https://cdn.aura.test/a.png')).toBe('https://cdn.aura.test/a.png');
    for (const bad of ['http://cdn.aura.test/a.png', 'https://x.test/a b', 'https://x.test/\u0000', 'https://x.test/a\tb', 'javascript:alert(1)', 'https://ex\u00e4mple.test/']) {
      expect(httpsUrl.safeParse(bad).success).toBe(false);
    }
  });

  it('reads message ids and whole numbers in digits only', () => {
    expect(messageId.safeParse('42').success).toBe(true);
    for (const bad of ['0', '01', '-1', '1e3', '9'.repeat(19)]) expect(messageId.safeParse(bad).success).toBe(false);
    const limit = digitsInt(1, 100);
    expect(limit.parse('100')).toBe(100);
    for (const bad of ['', ' 5', '0', '101', '1e2', '1.0', '0x10', '+5', '05', 'Infinity', '\u0665']) {
      expect(limit.safeParse(bad).success).toBe(false);
    }
  });
});
