import { InboxNotifier } from '../../services/notifications/notifier';
import { ProgressNotices } from '../../services/notifications/progress-notices';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, RoomJanitor, UNLIMITED_RATES } from '../support/room-api';
import { createRoom, createUser } from '../support/rooms';

/** Notices for what users are given: gifts received, rewards claimed, seat invitations. */
let stack: RealStack;

beforeAll(async () => {
  stack = await connectRealStack('given-notices');
});

afterAll(async () => {
  await stack?.close();
});

async function noticesOf(userId: string): Promise<{ kind: string; data: Record<string, unknown> }[]> {
  return stack.dataSource.query(`SELECT kind, data FROM notifications WHERE user_id = $1 ORDER BY created_at`, [userId]);
}

it('writes one gift_received notice per receiver and send, and one reward notice per claim, however often the event comes', async () => {
  const notices = new ProgressNotices(new InboxNotifier(stack.dataSource));
  const [sender, receiver] = [await createUser(stack), await createUser(stack)];
  const gift = { kind: 'gift-received' as const, userId: receiver.userId, at: new Date(), sendId: '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b', senderId: sender.userId, diamonds: 70, coins: 100 };
  await notices.onProgress(gift);
  await notices.onProgress(gift); // a redelivered event
  const claim = { kind: 'daily-claimed' as const, userId: receiver.userId, at: new Date('2026-12-02T10:00:00Z'), day: 3, streak: 3, coins: 30 };
  await notices.onProgress(claim);
  await notices.onProgress(claim);
  const rows = await noticesOf(receiver.userId);
  expect(rows.map((r) => r.kind).sort()).toEqual(['gift_received', 'reward']);
  expect(rows.find((r) => r.kind === 'gift_received')!.data).toMatchObject({ sendId: gift.sendId, senderId: sender.userId, diamonds: 70 });
  expect(await noticesOf(sender.userId)).toEqual([]);
});

it('tells a user invited to a mic seat with a room_invitation notice', async () => {
  const edge = await startEdge(stack, { sweepMs: 3_600_000 });
  const api = await startApi(stack, UNLIMITED_RATES);
  const janitor = new RoomJanitor(edge.rooms, edge.live);
  try {
    const [owner, guest] = [await createUser(stack, 'Owner'), await createUser(stack, 'Guest')];
    const room = janitor.room(await createRoom(edge.rooms, owner.userId));
    await janitor.enter(room, guest.userId);
    const invited = await apiClient(api.url).as(owner).post(`/rooms/${room.id}/seats/invitations`, { userId: guest.userId, seat: 2 });
    expect(invited.status).toBe(201);
    expect(await noticesOf(guest.userId)).toEqual([expect.objectContaining({ kind: 'room_invitation', data: expect.objectContaining({ roomId: room.id, seat: 2, byUserId: owner.userId }) })]);
  } finally {
    await janitor.sweep();
    await api.close();
    await edge.close();
  }
});
