import { parseArgs } from 'node:util';
import { startFakeYouTube, type FakeVideoInput } from '../../test/support/fake-youtube';

/**
 * The fake YouTube Data API (test/support/fake-youtube.ts) as its own process, for the dev stack:
 * `npx tsx scripts/stack/fake-youtube.ts --port 8086` prints YOUTUBE_API_URL and YOUTUBE_API_KEY
 * to set and runs until SIGINT or SIGTERM. It knows a few short demo videos (below); add more with
 * POST /__fake__/videos, make it fail with POST /__fake__/fail {"n":1,"status":503} or stall
 * with POST /__fake__/stall {"n":1}; GET /__fake__/calls lists the requests (key left out).
 * A test tool: the production build leaves it out (tsconfig.build.json).
 */
export const DEMO_VIDEOS: FakeVideoInput[] = [
  { id: 'jNQXAC9IVRw', title: 'Me at the zoo', channelTitle: 'jawed', duration: 'PT19S', hdThumbnails: false },
  { id: 'dQw4w9WgXcQ', title: 'Rick Astley - Never Gonna Give You Up (Official Music Video)', channelTitle: 'Rick Astley', duration: 'PT3M33S' },
  { id: '9bZkp7q19f0', title: 'PSY - GANGNAM STYLE(강남스타일) M/V', channelTitle: 'officialpsy', duration: 'PT4M13S' },
  { id: 'kJQP7kiw5Fk', title: 'Luis Fonsi - Despacito ft. Daddy Yankee', channelTitle: 'LuisFonsiVEVO', duration: 'PT4M42S', regionsBlocked: ['CU', 'KP'] },
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, key: { type: 'string' } } });
  const fake = await startFakeYouTube({ port: Number(values.port), ...(values.key ? { apiKey: values.key } : {}) });
  for (const video of DEMO_VIDEOS) fake.controls.addVideo(video);
  console.log(JSON.stringify({ YOUTUBE_API_URL: fake.url, YOUTUBE_API_KEY: fake.apiKey }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void fake.close().then(() => process.exit(0)));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
