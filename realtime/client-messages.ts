import { z } from 'zod';
import { entityId, roomPassword, typedText } from '../domain/input/fields';
import { CHAT_MAX_CHARS } from '../domain/rooms/model';

// Canonical (lower-case) room ids: the edge keys its feeds and Redis keys by this string.
const roomId = entityId;
const ref = typedText({ min: 1, max: 64 }).optional();
/** Whatever the edge handed out in a snapshot (a UUID today); only its alphabet is checked. */
const epoch = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an epoch from a snapshot');
const lastSeq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** What a client may send on the socket (see docs/realtime-protocol.md). */
export const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping'), ref }).strict(),
  // The clock-offset exchange: t0 is the client's clock when it sent this (any ms scale it likes;
  // it comes back untouched beside the server's clock).
  z.object({ type: z.literal('time'), t0: z.number().finite().min(0).max(Number.MAX_SAFE_INTEGER), ref }).strict(),
  z.object({ type: z.literal('join'), room: roomId, password: roomPassword.optional(), ref }).strict(),
  z
    .object({
      type: z.literal('resume'),
      room: roomId,
      lastSeq,
      epoch,
      password: roomPassword.optional(),
      ref,
    })
    .strict(),
  z.object({ type: z.literal('leave'), room: roomId, ref }).strict(),
  z
    .object({
      type: z.literal('chat'),
      room: roomId,
      // The length rule (CHAT_TOO_LONG, in characters) is the service's; this bounds the frame.
      text: typedText({ min: 1, max: CHAT_MAX_CHARS * 4, multiline: true }),
      clientMsgId: z.string().regex(/^[\w-]{8,64}$/, '8-64 letters, digits, - or _'),
      ref,
    })
    .strict(),
]);
export type ClientMessage = z.infer<typeof clientMessage>;
