import { randomUUID } from 'node:crypto';
import { UserDirectory } from '../../db/repositories/users';
import type { RoomView } from '../../domain/rooms/model';
import type { RoomService, NewRoom } from '../../services/rooms/room-service';
import type { RealStack } from './real-stack';
import type { TestSocket } from './ws-client';

export interface TestUser {
  userId: string;
  token: string;
}

/** A real user row (rooms reference users) and an access token for it. */
export async function createUser(stack: RealStack, name = 'Tester'): Promise<TestUser> {
  const user = await new UserDirectory(stack.dataSource).create({ displayName: `${name} ${randomUUID().slice(0, 6)}` });
  return { userId: user.id, token: await stack.tokens.sign({ userId: user.id }) };
}

export async function createRoom(rooms: RoomService, ownerId: string, overrides: Partial<NewRoom> = {}): Promise<RoomView> {
  return rooms.create(ownerId, { type: 'voice', name: 'Test room', seatCount: 9, seatMode: 'free', ...overrides });
}

export interface Snapshot {
  type: 'snapshot';
  room: string;
  seq: number;
  epoch: string;
  recovered?: boolean;
  data: { seats: { index: number; userId: string | null; locked: boolean; mutedByAdmin: boolean; selfMuted: boolean }[]; memberCount: number; recentChat: unknown[] };
}

/** Sends `join` and waits for this room's snapshot (or the error that refused it). */
export async function join(socket: TestSocket, roomId: string, password?: string): Promise<Snapshot> {
  const ref = randomUUID();
  socket.send({ type: 'join', room: roomId, ref, ...(password ? { password } : {}) });
  const reply = await socket.until((m) => m.ref === ref);
  if (reply.type !== 'snapshot') throw new Error(`join refused: ${JSON.stringify(reply)}`);
  return reply as unknown as Snapshot;
}

export function expectContiguous(seqs: number[], from: number, to: number): void {
  const expected = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  if (seqs.length !== expected.length || seqs.some((s, i) => s !== expected[i])) {
    throw new Error(`sequence numbers not contiguous from ${from} to ${to}: got ${seqs.length} (${seqs.slice(0, 20).join(',')}…)`);
  }
}
