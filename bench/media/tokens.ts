import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { mediaServerFromConfig } from '../../platform/media/livekit';
import { createRoomService } from '../../services/rooms';
import { enterRoom } from '../../test/support/room-api';
import { startMediaBenchStack } from './stack';

/**
 * `tsx bench/media/tokens.ts`: media join-token issuance. In one run: POST /v1/rooms/:id/media/token
 * through the API (auth, rate limit, one live read of the room, the grant, the signature) beside
 * a bare Koa handler (the ceiling on this machine), both in one server process driven by
 * autocannon at BENCH_MEDIA_CONNECTIONS concurrent keep-alive clients, each request as one of
 * 100 members in turn; then the raw mint rate in-process (AccessToken signing alone).
 */
const env = process.env;
const connections = Number(env.BENCH_MEDIA_CONNECTIONS ?? 50);
const seconds = Number(env.BENCH_MEDIA_SECONDS ?? 10);
const root = resolve(__dirname, '../..');

async function drive(url: string, tokens: string[], method: 'GET' | 'POST') {
  let i = 0;
  const warm = await autocannon({ url, connections, duration: 2, method });
  void warm;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    method,
    requests: [
      {
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[i++ % tokens.length]}`, 'x-forwarded-for': `198.51.100.${i % 200}` } }),
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = await startMediaBenchStack({ livekit: false });
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const { rooms } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis });
    const owner = await stack.newUser('bench owner');
    const room = await rooms.create(owner.userId, { type: 'voice', name: 'Token bench', seatCount: 9, seatMode: 'free' });
    const members = await Promise.all(Array.from({ length: 100 }, (_, i) => stack.newUser(`member ${i}`)));
    for (const m of members) await enterRoom(rooms, room, m.userId);
    await rooms.takeSeat(members[0]!.userId, room.id, 2);

    child = spawn(join(root, 'node_modules/.bin/tsx'), [join(__dirname, 'token-server.ts')], {
      env: { ...env, ...Object.fromEntries(Object.entries(stack.config).filter(([, v]) => typeof v === 'string' || typeof v === 'number').map(([k, v]) => [k, String(v)])), API_TRUSTED_PROXIES: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ports = await new Promise<[number, number]>((resolvePorts, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        const m = /ports (\d+) (\d+)/.exec(d.toString());
        if (m) resolvePorts([Number(m[1]), Number(m[2])]);
      });
      child!.once('exit', (code) => reject(new Error(`token server exited ${code}`)));
    });
    const tokens = members.map((m) => m.token);
    const bare = await drive(`http://127.0.0.1:${ports[1]}/`, tokens, 'GET');
    const api = await drive(`http://127.0.0.1:${ports[0]}/v1/rooms/${room.id}/media/token`, tokens, 'POST');

    const media = mediaServerFromConfig(stack.config)!;
    const grant = { canSubscribe: true, canPublish: true, sources: ['microphone' as const], canPublishData: false };
    let minted = 0;
    const mintStart = performance.now();
    while (performance.now() - mintStart < 3_000) {
      await media.mintJoinToken(room.id, members[minted % 100]!.userId, grant, 3600);
      minted++;
    }
    const mintRate = minted / ((performance.now() - mintStart) / 1000);

    const lines = [
      `# Media join tokens (${new Date().toISOString()})`,
      '',
      `${connections} concurrent keep-alive clients, ${seconds} s per target (after 2 s of warm-up), API and bare Koa in one server process (tsx), autocannon in another; ${process.env.BENCH_MEDIA_NOTE ?? ''}`,
      '',
      '| target | req/s | p50 ms | p99 ms | non-2xx | errors |',
      '|---|---|---|---|---|---|',
      `| bare Koa (GET, small JSON) | ${bare.rps.toFixed(0)} | ${bare.p50} | ${bare.p99} | ${bare.non2xx} | ${bare.errors} |`,
      `| POST /v1/rooms/:id/media/token | ${api.rps.toFixed(0)} | ${api.p50} | ${api.p99} | ${api.non2xx} | ${api.errors} |`,
      '',
      `API / bare Koa: ${(api.rps / bare.rps).toFixed(2)}. Raw mint (AccessToken.toJwt, one at a time, in-process): ${mintRate.toFixed(0)} tokens/s.`,
      '',
      `Run took ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
    ];
    const out = resolve(root, env.BENCH_MEDIA_OUT ?? 'bench/results/media-tokens-latest.md');
    mkdirSync(resolve(out, '..'), { recursive: true });
    writeFileSync(out, `${lines.join('\n')}\n`);
    console.log(lines.join('\n'));
  } finally {
    child?.kill('SIGTERM');
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
