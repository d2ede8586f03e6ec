import { isoDurationMs } from './iso-duration';

describe('a video length as YouTube writes it', () => {
  it.each([
    ['PT3M33S', 213_000],
    ['PT19S', 19_000],
    ['PT1H2M3S', 3_723_000],
    ['PT1H', 3_600_000],
    ['PT10M', 600_000],
    ['PT1H0M5S', 3_605_000],
    ['P1DT2H', 93_600_000],
    ['P1DT2H3M4S', 93_784_000],
    ['P2D', 172_800_000],
    ['P1W', 604_800_000],
    ['P0D', 0],
    ['PT0S', 0],
    ['PT1.5S', 1_500],
    ['PT90M', 5_400_000], // not normalised by the sender: still read
  ])('%s is %i ms', (text, ms) => {
    expect(isoDurationMs(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', 'P1DT', 'PT1H2', '3:33', 'PT-1S', 'P1Y', 'P1M', 'P1Y2M', 'pt3m33s', 'PT3M33S ', 'PT1S1M', 'PT9999999999999999H'])(
    'refuses %j',
    (text) => {
      expect(isoDurationMs(text)).toBeNull();
    },
  );
});
