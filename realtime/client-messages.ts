import { z } from 'zod';
import { CHAT_MAX_CHARS } from '../domain/rooms/model';

const roomId = z.uuid();
const ref = z.string().max(64).optional();

/** What a client may send on the socket (see docs/realtime-protocol.md). */
export const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping'), ref }).strict(),
  z.object({ type: z.literal('join'), room: roomId, password: z.string().max(64).optional(), ref }).strict(),
  z
    .object({
      type: z.literal('resume'),
      room: roomId,
      lastSeq: z.number().int().min(0),
      epoch: z.string().max(64),
      password: z.string().max(64).optional(),
      ref,
    })
    .strict(),
  z.object({ type: z.literal('leave'), room: roomId, ref }).strict(),
  z
    .object({
      type: z.literal('chat'),
      room: roomId,
      // The length rule (in characters, not UTF-16 units) is the service's; this only bounds the frame.
      text: z.string().min(1).max(CHAT_MAX_CHARS * 4),
      clientMsgId: z.string().regex(/^[\w-]{8,64}$/, '8-64 letters, digits, - or _'),
      ref,
    })
    .strict(),
]);
export type ClientMessage = z.infer<typeof clientMessage>;
