const MEDIA_CONNECTION_PREFIX = 'lk:';

/** A media connection's id in the room's live state (beside the sockets' connection ids). */
export function mediaConnectionId(participantSid: string): string {
  return `${MEDIA_CONNECTION_PREFIX}${participantSid}`;
}

export function parseMediaConnectionId(connectionId: string): string | null {
  return connectionId.startsWith(MEDIA_CONNECTION_PREFIX) ? connectionId.slice(MEDIA_CONNECTION_PREFIX.length) : null;
}
