import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ListenerCommand, ListenerReply } from './ipc';
import { Histogram } from './stats';

/**
 * One listener process: holds a share of the room's sockets and measures every event they
 * receive. It competes with the edge for the same two cores, so it is as lean as Node allows:
 * raw `net` sockets reading into one shared buffer (no per-read allocation), a tiny WebSocket
 * frame parser, and events read in place — the sequence number from its fixed place at the
 * start of the envelope, the publisher's timestamp by a byte search — never JSON.parse'd.
 * Only the control messages (ready, snapshot, error) are parsed.
 */

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const T_NEEDLE = Buffer.from('"t":"');
const SHARED = Buffer.allocUnsafe(256 * 1024);

enum State {
  Handshake,
  WaitReady,
  Joining,
  Joined,
  Closed,
}

interface Conn {
  socket: Socket;
  state: State;
  /** Bytes of an incomplete handshake or frame, carried to the next read. */
  pending: Buffer | null;
  lastSeq: number;
  gaps: number;
  duplicates: number;
  done: ((error: string | null) => void) | null;
}

const conns: Conn[] = [];
const latency = new Histogram();
let received = 0;
let firstAt = 0;
let lastAt = 0;
let closes: Record<string, number> = {};
let room = '';

const now = (): number => performance.timeOrigin + performance.now();

function reply(message: ListenerReply): void {
  process.send?.(message);
}

/** A client frame: FIN, opcode, masked payload (clients must mask). */
function frame(opcode: number, payload: Buffer): Buffer {
  const header = payload.length < 126 ? 2 : 4;
  const out = Buffer.allocUnsafe(header + 4 + payload.length);
  out[0] = 0x80 | opcode;
  if (header === 2) out[1] = 0x80 | payload.length;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(payload.length, 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, header);
  for (let i = 0; i < payload.length; i++) out[header + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

function sendText(conn: Conn, text: string): void {
  conn.socket.write(frame(OP_TEXT, Buffer.from(text)));
}

/** The publisher's timestamp: the digits of `"t":"1732612345678.123"`, read in place. */
function parseT(data: Buffer, at: number, end: number): number {
  let whole = 0;
  let frac = 0;
  let scale = 1;
  let i = at;
  for (; i < end; i++) {
    const c = data[i]!;
    if (c === 0x2e) break;
    if (c < 0x30 || c > 0x39) return NaN;
    whole = whole * 10 + (c - 0x30);
  }
  for (i++; i < end; i++) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x39) break;
    frac = frac * 10 + (c - 0x30);
    scale *= 10;
  }
  return whole + frac / scale;
}

function onEvent(conn: Conn, data: Buffer, start: number, end: number, at: number): void {
  // `{"seq":N,` — the envelope always starts so (see db/live/room-script.ts).
  let seq = 0;
  for (let i = start + 7; i < end; i++) {
    const c = data[i]!;
    if (c === 0x2c) break;
    seq = seq * 10 + (c - 0x30);
  }
  const last = conn.lastSeq;
  if (seq === last + 1) conn.lastSeq = seq;
  else if (seq > last) {
    conn.gaps += seq - last - 1;
    conn.lastSeq = seq;
  } else conn.duplicates++;
  received++;
  if (firstAt === 0) firstAt = at;
  lastAt = at;
  if (tracking) trackSend(data, start, end, at);
  const t = data.indexOf(T_NEEDLE, start + 20);
  if (t !== -1 && t < end) {
    const sent = parseT(data, t + 5, end);
    if (sent === sent) latency.record(at - sent);
  }
}

// --- gift events (bench/gifts): receipt times by the event's data.sendId --------------------

const TYPE_NEEDLE = Buffer.from('"type":"');
const SEND_ID_NEEDLE = Buffer.from('"sendId":"');
/** Off unless the orchestrator asks (`track`): the realtime bench's events carry no sendId. */
let tracking = false;
/**
 * bench/media keys playback.updated events by their playback version instead (`track` with
 * key "version"): the number after `"version":`.
 */
let numberNeedle: Buffer | null = null;
/** Receipt times (epoch ms) of each sendId's room event, one per socket that got it. */
const receipts = new Map<string, number[]>();
const typeOfSend = new Map<string, string>();

function trackSend(data: Buffer, start: number, end: number, at: number): void {
  let sendId: string;
  if (numberNeedle) {
    const n = data.indexOf(numberNeedle, start);
    if (n === -1 || n >= end) return;
    let i = n + numberNeedle.length;
    while (i < end && data[i]! >= 0x30 && data[i]! <= 0x39) i++;
    sendId = data.toString('latin1', n + numberNeedle.length, i);
  } else {
    const s = data.indexOf(SEND_ID_NEEDLE, start);
    if (s === -1 || s >= end) return;
    sendId = data.toString('latin1', s + SEND_ID_NEEDLE.length, s + SEND_ID_NEEDLE.length + 36);
  }
  let times = receipts.get(sendId);
  if (!times) {
    times = [];
    receipts.set(sendId, times);
    const t = data.indexOf(TYPE_NEEDLE, start);
    typeOfSend.set(sendId, t === -1 || t >= end ? '?' : data.toString('latin1', t + TYPE_NEEDLE.length, data.indexOf(0x22, t + TYPE_NEEDLE.length)));
  }
  times.push(at);
}

/** Send → receipt latency per event type, for the sends the senders reported. */
function sendLatency(sendTimes: [string, number][]): Extract<ListenerReply, { type: 'sendLatency' }> {
  const byType: Record<string, { latency: Histogram; sends: number }> = {};
  let unmatched = 0;
  for (const [sendId, sentAt] of sendTimes) {
    const times = receipts.get(sendId);
    if (!times) {
      unmatched++;
      continue;
    }
    const type = typeOfSend.get(sendId) ?? '?';
    const entry = (byType[type] ??= { latency: new Histogram(), sends: 0 });
    entry.sends++;
    for (const t of times) entry.latency.record(t - sentAt);
  }
  return {
    type: 'sendLatency',
    byType: Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, { latency: v.latency.toJSON(), sends: v.sends }])),
    withoutEvent: unmatched,
    eventsSeen: receipts.size,
  };
}

function onControl(conn: Conn, text: string): void {
  let message: { type?: string; seq?: number; code?: string; message?: string };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return;
  }
  if (message.type === 'ready' && conn.state === State.WaitReady) {
    conn.state = State.Joining;
    sendText(conn, JSON.stringify({ type: 'join', room, ref: 'j' }));
  } else if (message.type === 'snapshot' && conn.state === State.Joining) {
    conn.state = State.Joined;
    conn.lastSeq = message.seq ?? 0;
    finish(conn, null);
  } else if (message.type === 'error') {
    finish(conn, `${message.code}: ${message.message}`);
    conn.socket.destroy();
  }
}

function finish(conn: Conn, error: string | null): void {
  const done = conn.done;
  conn.done = null;
  done?.(error);
}

function onClose(conn: Conn, code: number): void {
  if (conn.state === State.Closed) return;
  const wasJoined = conn.state === State.Joined;
  conn.state = State.Closed;
  if (wasJoined) closes[code] = (closes[code] ?? 0) + 1;
  finish(conn, `closed ${code} before joining`);
}

function onFrames(conn: Conn, data: Buffer, start: number, end: number, at: number): void {
  let pos = start;
  while (end - pos >= 2) {
    const b0 = data[pos]!;
    let length = data[pos + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (end - pos < 4) break;
      length = data.readUInt16BE(pos + 2);
      header = 4;
    } else if (length === 127) {
      if (end - pos < 10) break;
      length = data.readUInt32BE(pos + 2) * 2 ** 32 + data.readUInt32BE(pos + 6);
      header = 10;
    }
    if (end - pos < header + length) break;
    const from = pos + header;
    const to = from + length;
    pos = to;
    const opcode = b0 & 0x0f;
    if (opcode === OP_TEXT) {
      // 0x7b 0x22 0x73 = `{"s`: an event; control messages start `{"type"`.
      if (data[from + 2] === 0x73 && data[from] === 0x7b) onEvent(conn, data, from, to, at);
      else onControl(conn, data.toString('utf8', from, to));
    } else if (opcode === OP_PING) {
      conn.socket.write(frame(0xa, Buffer.from(data.subarray(from, to))));
    } else if (opcode === OP_CLOSE) {
      onClose(conn, length >= 2 ? data.readUInt16BE(from) : 1005);
      conn.socket.destroy();
      return;
    }
  }
  conn.pending = pos < end ? Buffer.from(data.subarray(pos, end)) : null;
}

function onRead(conn: Conn, nread: number): void {
  const at = now();
  let data = SHARED;
  let end = nread;
  if (conn.pending) {
    data = Buffer.concat([conn.pending, SHARED.subarray(0, nread)]);
    end = data.length;
    conn.pending = null;
  }
  if (conn.state === State.Handshake) {
    const headerEnd = data.indexOf('\r\n\r\n', 0, 'latin1');
    if (headerEnd === -1 || headerEnd >= end) {
      conn.pending = Buffer.from(data.subarray(0, end));
      return;
    }
    const status = data.toString('latin1', 0, data.indexOf('\r\n', 0, 'latin1'));
    if (!status.startsWith('HTTP/1.1 101')) {
      finish(conn, `upgrade refused: ${status} ${data.toString('utf8', headerEnd + 4, Math.min(end, headerEnd + 200))}`);
      conn.state = State.Closed;
      conn.socket.destroy();
      return;
    }
    conn.state = State.WaitReady;
    onFrames(conn, data, headerEnd + 4, end, at);
    return;
  }
  onFrames(conn, data, 0, end, at);
}

function open(host: string, port: number, token: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const conn: Conn = { socket: null as unknown as Socket, state: State.Handshake, pending: null, lastSeq: 0, gaps: 0, duplicates: 0, done: null };
    const timer = setTimeout(() => {
      finish(conn, 'timed out joining');
      conn.socket.destroy();
    }, timeoutMs);
    conn.done = (error) => {
      clearTimeout(timer);
      resolve(error);
    };
    conn.socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: SHARED,
        callback: (nread: number) => {
          onRead(conn, nread);
          return true;
        },
      },
    });
    conn.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      conn.socket.write(
        `GET /v1/ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
    });
    let socketError = '';
    conn.socket.on('error', (err) => (socketError = err.message));
    conn.socket.on('close', () => {
      if (conn.state !== State.Joined && conn.state !== State.Closed) finish(conn, `connection closed in state ${State[conn.state]}${socketError ? ` (${socketError})` : ''}`);
      onClose(conn, 1006);
    });
    conns.push(conn);
  });
}

async function connectAll(command: Extract<ListenerCommand, { type: 'connect' }>): Promise<void> {
  const started = now();
  room = command.room;
  let next = 0;
  let joined = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const worker = async () => {
    while (next < command.tokens.length) {
      const token = command.tokens[next++]!;
      const error = await open(command.host, command.port, token, command.timeoutMs);
      if (error === null) joined++;
      else {
        failed++;
        errors.set(error, (errors.get(error) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.tokens.length) }, worker));
  reply({ type: 'connected', joined, failed, errors: [...errors].map(([e, n]) => `${n}× ${e}`), ms: now() - started });
}

function resetStep(): void {
  latency.reset();
  received = 0;
  firstAt = 0;
  lastAt = 0;
  closes = {};
  for (const conn of conns) {
    conn.gaps = 0;
    conn.duplicates = 0;
  }
}

process.on('message', (command: ListenerCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      return;
    case 'step':
      resetStep();
      reply({ type: 'stepped' });
      return;
    case 'status': {
      let open = 0;
      let minSeq = Infinity;
      for (const conn of conns) {
        if (conn.state !== State.Joined) continue;
        open++;
        if (conn.lastSeq < minSeq) minSeq = conn.lastSeq;
      }
      reply({ type: 'status', received, open, minSeq: open === 0 ? -1 : minSeq });
      return;
    }
    case 'report': {
      let open = 0;
      let lost = 0;
      let behind = 0;
      let duplicates = 0;
      for (const conn of conns) {
        if (conn.state !== State.Joined) continue;
        open++;
        const missing = conn.gaps + Math.max(0, command.targetSeq - conn.lastSeq);
        lost += missing;
        if (missing > 0) behind++;
        duplicates += conn.duplicates;
      }
      reply({ type: 'report', received, latency: latency.toJSON(), firstAt, lastAt, open, lost, behind, duplicates, closes });
      return;
    }
    case 'track':
      tracking = command.on;
      numberNeedle = command.key ? Buffer.from(`"${command.key}":`) : null;
      receipts.clear();
      typeOfSend.clear();
      reply({ type: 'tracking' });
      return;
    case 'sendLatency':
      reply(sendLatency(command.sendTimes));
      return;
    case 'disconnect':
      for (const conn of conns) {
        conn.state = State.Closed;
        conn.socket.destroy();
      }
      conns.length = 0;
      resetStep();
      reply({ type: 'disconnected' });
      return;
  }
});

process.on('disconnect', () => process.exit(0));
