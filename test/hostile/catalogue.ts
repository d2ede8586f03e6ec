/**
 * The catalogue of hostile values, by the kind of field they are aimed at. Every value here is
 * invalid for its kind (none may be accepted), so a request carrying one must be refused with a
 * 4xx and change nothing. Upper- and mixed-case ids are not here: they are valid and must act on
 * the same thing as lower case (hostile-input.test.ts checks that separately).
 */

/** A JSON value written into the body as is (JSON.stringify can't write 1e400 or -0 literally). */
export class RawJson {
  constructor(readonly text: string) {}
}

export type FieldKind =
  | 'uuid-path'
  | 'uuid'
  | 'seat-path'
  | 'message-id-path'
  | 'message-id'
  | 'text'
  | 'text-required'
  | 'multiline-text'
  | 'seat'
  | 'minutes'
  | 'seat-count'
  | 'boolean'
  | 'enum'
  | 'url'
  | 'date'
  | 'password'
  | 'region'
  | 'language'
  | 'time-zone'
  | 'phone'
  | 'otp-code'
  | 'token'
  | 'provider-path'
  | 'limit'
  | 'cursor'
  | 'period-id'
  | 'video-url'
  | 'int'
  | 'media-key'
  | 'content-type'
  | 'byte-count'
  | 'gift-id-path'
  | 'medal-ids'
  | 'invite-code'
  | 'push-token-path'
  | 'instant'
  | 'object';

const ID = '3f1e2d4c-5b6a-4789-8abc-def012345678';

/** Strings that break the one text rule (domain/input/text.ts). */
export const BAD_TEXT: [string, string][] = [
  ['NUL', 'a\u0000b'],
  ['bell', 'a\u0007b'],
  ['escape', 'a\u001b[2Jb'],
  ['DEL', 'a\u007fb'],
  ['C1 next line', 'a\u0085b'],
  ['lone high surrogate', 'a\ud800b'],
  ['lone low surrogate', 'x\udc00'],
  ['right-to-left override', 'abc\u202egpj.exe'],
  ['isolate', '\u2067x\u2069'],
  ['zero-width space', 'ad\u200bmin'],
  ['byte-order mark', '\ufeffhi'],
  ['noncharacter', 'a\uffff'],
];

const WRONG_TYPES: [string, unknown][] = [
  ['a number', 5],
  ['a boolean', true],
  ['an object', { a: 1 }],
  ['an array', ['x']],
];

const OVERLONG = 'x'.repeat(10_000);

const BAD_IDS: [string, string][] = [
  ['not a uuid', 'not-a-uuid'],
  ['NUL inside', `${ID}\u0000`],
  ['zero-width inside', `${ID.slice(0, 8)}\u200b${ID.slice(8)}`],
  ['right-to-left override', `\u202e${ID}`],
  ['one character long', `${ID}0`],
  ['without dashes', ID.replace(/-/g, '')],
  ['in braces', `{${ID}}`],
  ['leading space', ` ${ID}`],
  ['fullwidth digits', ID.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)))],
  ['lone surrogate', `${ID.slice(0, 35)}\ud800`],
  ['over-long', 'a'.repeat(2000)],
];

const BAD_PATH_NUMBERS: [string, string][] = [
  ['negative', '-1'],
  ['exponent', '1e1'],
  ['fraction', '1.5'],
  ['leading space', ' 1'],
  ['hex', '0x1'],
  ['plus sign', '+1'],
  ['leading zero', '01'],
  ['huge', '99999999999999999999'],
  ['fullwidth', '\uff11'],
  ['empty-ish', '%20'],
  ['NUL', '1%00'],
];

const BAD_JSON_INTS: [string, unknown][] = [
  ['negative', -1],
  ['fraction', 1.5],
  ['exponent overflow', new RawJson('1e400')],
  ['huge', 1e20],
  ['a numeric string', '1'],
  ['an exponent string', '1e400'],
  ['null', null],
  ['a boolean', true],
  ['an array', [1]],
];

/** Each hostile value for one kind of field: [description, value]. */
export function hostileValues(kind: FieldKind): [string, unknown][] {
  switch (kind) {
    case 'uuid-path':
      // A lone surrogate has no UTF-8 form: its CESU-8 bytes are what a broken client would send.
      return BAD_IDS.map(([d, v]) => [d, d === 'lone surrogate' ? `${ID.slice(0, 35)}%ED%A0%80` : encodeURIComponent(v)]);
    case 'uuid':
      return [...BAD_IDS, ...WRONG_TYPES, ['null', null]];
    case 'seat-path':
    case 'message-id-path':
      return [...BAD_PATH_NUMBERS, ['zero', kind === 'message-id-path' ? '0' : '99'], ['words', 'abc']];
    case 'message-id':
      return [['zero', '0'], ['negative', '-1'], ['exponent', '1e3'], ['leading zero', '01'], ['huge', '9'.repeat(25)], ['a number', 5], ['NUL', '1\u0000']];
    case 'text':
    case 'text-required':
    case 'multiline-text':
      return [
        ...BAD_TEXT,
        ...(kind === 'multiline-text' ? [] : ([['line feed in a one-line field', 'a\nb']] as [string, string][])),
        ...(kind === 'text-required' ? ([['empty', ''], ['only spaces', '   ']] as [string, string][]) : []),
        ['over-long', OVERLONG],
        ...WRONG_TYPES,
      ];
    case 'seat':
      return [...BAD_JSON_INTS, ['past the last seat', 99]];
    case 'minutes':
      return [...BAD_JSON_INTS, ['zero', 0], ['more than a week', 7 * 24 * 60 + 1]];
    case 'seat-count':
      return [...BAD_JSON_INTS, ['zero', 0], ['too many', 1000]];
    case 'boolean':
      return [['a string', 'true'], ['a number', 1], ['null', null], ['an object', {}]];
    case 'enum':
      return [['upper case', 'VOICE'], ['NUL', 'voice\u0000'], ['empty', ''], ['a number', 5], ['an array', ['voice']]];
    case 'url':
      return [
        ['http', 'http://x.test/a.png'],
        ['NUL', 'https://x.test/\u0000'],
        ['space', 'https://x.test/a b'],
        ['tab', 'https://x.test/a\tb'],
        ['javascript', 'javascript:alert(1)'],
        ['right-to-left override', 'https://x.test/\u202egnp.exe'],
        ['over-long', `https://x.test/${OVERLONG}`],
        ['a number', 5],
      ];
    case 'date':
      return [
        ['29 February in a common year', '2001-02-29'],
        ['30 February', '2000-02-30'],
        ['month 13', '2001-13-01'],
        ['day 0', '2001-01-00'],
        ['before 1900', '1899-12-31'],
        ['year zero', '0000-01-01'],
        ['no dashes', '20010101'],
        ['short parts', '2001-1-1'],
        ['an instant', '2001-01-01T00:00:00Z'],
        ['NUL', '2001-01-01\u0000'],
        ['fullwidth digits', '\uff12\uff10\uff10\uff11-01-01'],
        ['a number', 20010101],
      ];
    case 'password':
      return [
        ['NUL', 'ab\u0000cd'],
        ['escape', 'abc\u001bd'],
        ['right-to-left override', '\u202eabcd'],
        ['zero-width', 'ab\u200bcd'],
        ['lone surrogate', 'abc\ud800'],
        ['too short', 'abc'],
        ['a space', 'ab cd'],
        ['over-long', 'x'.repeat(40)],
        ['a number', 12345678],
      ];
    case 'region':
      return [['lower case', 'in'], ['three letters', 'IND'], ['NUL', 'I\u0000'], ['a number', 5]];
    case 'language':
      return [['upper case', 'EN'], ['lower-case region', 'en-us'], ['NUL', 'e\u0000'], ['a number', 5]];
    case 'time-zone':
      return [['unknown', 'Mars/Olympus'], ['NUL', 'UTC\u0000'], ['a number', 5], ['over-long', OVERLONG]];
    case 'phone':
      return [...BAD_TEXT, ['over-long', OVERLONG], ...WRONG_TYPES];
    case 'otp-code':
      return [['five digits', '12345'], ['letters', 'abcdef'], ['NUL', '12345\u0000'], ['fullwidth', '\uff11'.repeat(6)], ['a number', 123456]];
    case 'token':
      return [...BAD_TEXT, ['over-long', OVERLONG], ...WRONG_TYPES];
    case 'media-key': {
      const key = `avatar/${ID}/${ID.replace(/8$/, '9')}.png`;
      return [
        ['an https URL', `https://cdn.aura.test/${key}`],
        ['an http URL', `http://cdn.aura.test/${key}`],
        ['a path that climbs out', `avatar/../../${ID}/x.png`],
        ['a leading slash', `/${key}`],
        ['an upper-case kind', key.replace('avatar', 'AVATAR')],
        ['an unknown kind', key.replace('avatar', 'banner')],
        ['an unknown extension', key.replace('.png', '.exe')],
        ['a query string', `${key}?x=1`],
        ['NUL', `${key}\u0000`],
        ['right-to-left override', `avatar/${ID}/\u202e${ID}.png`],
        ['no upload has it', key],
        ['over-long', `avatar/${OVERLONG}`],
        ...WRONG_TYPES,
      ];
    }
    case 'content-type':
      return [
        ['upper case', 'IMAGE/PNG'],
        ['with a parameter', 'image/png; charset=binary'],
        ['NUL', 'image/png\u0000'],
        ['no slash', 'png'],
        ['empty', ''],
        ['a type no kind takes', 'image/gif'],
        ['html', 'text/html'],
        ['over-long', `image/${OVERLONG}`],
        ...WRONG_TYPES,
      ];
    case 'byte-count':
      return [...BAD_JSON_INTS, ['zero', 0], ['past the kind\'s limit', 6 * 1024 * 1024], ['past 2^31', 2 ** 31]];
    case 'gift-id-path':
      return [['upper case', 'ROSE'], ['NUL', 'rose%00'], ['a path that climbs out', '..%2F..%2Fetc'], ['unknown', 'no-such-gift'], ['over-long', 'g'.repeat(2000)]];
    case 'provider-path':
      return [['upper case', 'GOOGLE'], ['NUL', 'google%00'], ['unknown', 'myspace'], ['over-long', 'g'.repeat(2000)]];
    case 'limit':
      return [
        ['zero', '0'],
        ['negative', '-1'],
        ['fraction', '1.5'],
        ['exponent', '1e2'],
        ['exponent overflow', '1e400'],
        ['Infinity', 'Infinity'],
        ['NaN', 'NaN'],
        ['empty', ''],
        ['leading space', ' 5'],
        ['hex', '0x10'],
        ['over the cap', '101'],
        ['huge', '99999999999999999999'],
        ['Arabic-Indic digits', '\u0661\u0660'],
        ['NUL', '5\u0000'],
      ];
    case 'cursor':
      return [
        ['not a cursor', 'not a cursor'],
        ['30 February inside', b64(['2026-02-30T00:00:00.000000Z', ID])],
        ['month 13 inside', b64(['2026-13-01T00:00:00.000000Z', ID])],
        ['hour 25 inside', b64(['2026-01-01T25:00:00.000000Z', ID])],
        ['a bigint that is not', b64(['1e400'])],
        ['zero id', b64(['0'])],
        ['an object', b64({ a: 1 })],
        ['a prototype key', Buffer.from('{"__proto__":{"polluted":1}}').toString('base64url')],
        ['NUL', 'abc\u0000'],
        ['over-long', 'a'.repeat(600)],
        ['a popular cursor with a bad id', `5_${ID.slice(0, 35)}z`],
        ['a popular cursor with an exponent', `1e3_${ID}`],
        ['a members cursor with a sign', `-5_${ID}`],
      ];
    case 'period-id':
      // Invalid for a day, an ISO week and a month alike.
      return [
        ['30 February', '2026-02-30'],
        ['week 54', '2026-W54'],
        ['week 0', '2026-W00'],
        ['lower-case w', '2026-w10'],
        ['month 13', '2026-13'],
        ['before 1970', '1969-12'],
        ['in the future', '2999-01-01'],
        ['long gone', '2001-01'],
        ['no year', 'W10'],
        ['empty', ''],
        ['NUL', '2026-03\u0000'],
        ['fullwidth digits', '\uff12\uff10\uff12\uff16-03'],
        ['over-long', '2026-03-05'.repeat(50)],
      ];
    case 'video-url':
      return [
        ['another site', 'https://example.com/watch?v=abcdefghijk'],
        ['a look-alike host', 'https://youtube.com.evil.test/watch?v=abcdefghijk'],
        ['a short id', 'https://youtu.be/abc'],
        ['no id', 'https://www.youtube.com/watch'],
        ['javascript', 'javascript:alert(1)'],
        ['credentials', 'https://user:pw@youtu.be/abcdefghijk'],
        ['NUL', 'https://youtu.be/abcdefghijk\u0000'],
        ['right-to-left override', 'https://youtu.be/\u202eabcdefghijk'],
        ['over-long', `https://youtu.be/${OVERLONG}`],
        ['a number', 5],
      ];
    case 'medal-ids':
      // The caller holds no medals, so a well-formed id is refused too (not held).
      return [
        ['a string', 'streak-7'],
        ['null', null],
        ['an object', { 0: 'streak-7' }],
        ['a number inside', [7]],
        ['null inside', [null]],
        ['upper case', ['STREAK-7']],
        ['NUL inside', ['streak-7\u0000']],
        ['right-to-left override', ['\u202estreak-7']],
        ['a path that climbs out', ['../streak-7']],
        ['over-long id', ['m'.repeat(65)]],
        ['a repeat', ['streak-7', 'streak-7']],
        ['not held', ['streak-7']],
        ['unknown', ['no-such-medal']],
        ['too many', ['streak-7', 'first-gift', 'first-recharge', 'vip-1', 'vip-3', 'gifts-100']],
        ['far too many', Array.from({ length: 500 }, (_, i) => `m-${i}`)],
      ];
    case 'push-token-path': {
      const token = 'fcm-token-0123456789abcdef';
      return [
        ['too short', 'abc'],
        ['NUL', `${token}%00`],
        ['a space', `${token}%20x`],
        ['a slash', `${token}%2Fx`],
        ['a plus sign', `${token}+x`],
        ['right-to-left override', `%E2%80%AE${token}`],
        ['zero-width inside', `fcm%E2%80%8B${token}`],
        ['lone surrogate', `${token}%ED%A0%80`],
        ['over-long', 'a'.repeat(2000)],
      ];
    }
    case 'instant':
      return [
        ['a date only', '2026-01-01'],
        ['30 February', '2026-02-30T00:00:00Z'],
        ['hour 24', '2026-01-01T24:00:00Z'],
        ['no zone', '2026-01-01T00:00:00'],
        ['a space for the T', '2026-01-01 00:00:00Z'],
        ['NUL', '2026-01-01T00:00:00Z\u0000'],
        ['fullwidth digits', '\uff12\uff10\uff12\uff16-01-01T00:00:00Z'],
        ['over-long', `2026-01-01T00:00:00.${'1'.repeat(5000)}Z`],
        ['a number', 1767225600000],
        ['null', null],
        ['an array', ['2026-01-01T00:00:00Z']],
      ];
    case 'int':
      return BAD_JSON_INTS;
    case 'invite-code':
      // Only the form is refused (400); a well-formed code that names nobody is a refusal beside the answer.
      return [
        ...BAD_TEXT,
        ['a space', 'ABCD EFGH'],
        ['empty', ''],
        ['fullwidth letters', '\uff21\uff22\uff23\uff24\uff25\uff26'],
        ['a slash', 'ABCD/EFGH'],
        ['over-long', 'A'.repeat(33)],
        ...WRONG_TYPES,
        ['null', null],
      ];
    case 'object':
      return [['a string', 'x'], ['an array', [{}]], ['null', null], ['a number', 5]];
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** A body as the wire carries it, with RawJson values written verbatim. */
export function jsonText(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0000raw${raws.length - 1}\u0000`;
    }
    return v;
  });
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}
