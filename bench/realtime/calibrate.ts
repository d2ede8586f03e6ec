import { fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';

/**
 * What one small loopback TCP write costs on this machine, without any WebSocket code: a plain
 * `net` server writes a 300-byte buffer to each of 1,000 sockets, 100 times, while a sink
 * process reads them. Every fan-out edge pays at least this per socket write, so it is the
 * floor under the realtime figures (run.ts records it with the results).
 *
 * Run alone: `tsx bench/realtime/calibrate.ts`.
 */

export interface Calibration {
  sockets: number;
  writes: number;
  /** CPU microseconds the writing process spent per write, and the kernel's part of that. */
  usPerWrite: number;
  sysUsPerWrite: number;
}

export async function calibrate(sockets = 1000, rounds = 100, timeoutMs = 60_000): Promise<Calibration> {
  const message = Buffer.alloc(300, 0x78);
  const accepted: Socket[] = [];
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    accepted.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const sink = fork(__filename, ['sink', String(port), String(sockets)], { execArgv: ['--import', 'tsx'], stdio: 'ignore' });
  const deadline = Date.now() + timeoutMs;
  try {
    while (accepted.length < sockets) {
      if (Date.now() > deadline || sink.exitCode !== null) throw new Error('calibration: the sink did not connect');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = process.cpuUsage();
    for (let round = 0; round < rounds; round++) {
      for (const socket of accepted) socket.write(message);
      await new Promise((r) => setTimeout(r, 10)); // let the sink read: one message per write
    }
    const used = process.cpuUsage(before);
    const writes = sockets * rounds;
    return { sockets, writes, usPerWrite: (used.user + used.system) / writes, sysUsPerWrite: used.system / writes };
  } finally {
    sink.kill();
    for (const socket of accepted) socket.destroy();
    server.close();
  }
}

if (process.argv[2] === 'sink') {
  const port = Number(process.argv[3]);
  for (let i = 0; i < Number(process.argv[4]); i++) {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
  }
  process.on('disconnect', () => process.exit(0));
} else if (require.main === module) {
  calibrate().then(
    (c) => console.log(JSON.stringify(c)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
