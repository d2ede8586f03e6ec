import type { RoomType, SeatView } from '../rooms/model';
import { CAMERA_VIDEO, MUSIC_AUDIO, VOICE_AUDIO, mediaPermissions, sameGrant, seatOf } from './grants';
import { djSeatIndex } from './music';

const seat = (index: number, over: Partial<SeatView> = {}): SeatView => ({ index, userId: 'u1', locked: false, mutedByAdmin: false, selfMuted: false, ...over });
const room = (type: RoomType, seatCount = 9) => ({ type, seatCount });
const decide = (type: RoomType, s: SeatView | null, max = 4, seatCount = 9) => mediaPermissions({ room: room(type, seatCount), seat: s, videoPublishersMax: max });

describe('media grants from the seat grid', () => {
  it('a listener subscribes only, in every room type', () => {
    for (const type of ['voice', 'video', 'music'] as const) {
      expect(decide(type, null)).toEqual({ grant: { canSubscribe: true, canPublish: false, sources: [], canPublishData: false }, publish: {} });
    }
  });

  it('a voice seat publishes a microphone as speech', () => {
    expect(decide('voice', seat(3))).toEqual({
      grant: { canSubscribe: true, canPublish: true, sources: ['microphone'], canPublishData: false },
      publish: { audio: VOICE_AUDIO },
    });
    expect(VOICE_AUDIO).toMatchObject({ channels: 1, dtx: true, red: true });
  });

  it('a self-muted speaker keeps the permission; a moderator-muted one loses the microphone', () => {
    expect(decide('voice', seat(2, { selfMuted: true })).grant.sources).toEqual(['microphone']);
    expect(decide('voice', seat(2, { mutedByAdmin: true }))).toEqual({
      grant: { canSubscribe: true, canPublish: false, sources: [], canPublishData: false },
      publish: {},
    });
  });

  it('a locked seat or an empty seat publishes nothing', () => {
    expect(decide('voice', seat(2, { locked: true })).grant.canPublish).toBe(false);
    expect(decide('video', seat(0, { locked: true })).grant.sources).toEqual([]);
    expect(decide('voice', seat(2, { userId: null })).grant.canPublish).toBe(false);
  });

  it('video rooms: a camera with simulcast layers on seats below the cap, audio only from the cap on', () => {
    const below = decide('video', seat(3), 4);
    expect(below.grant.sources).toEqual(['microphone', 'camera']);
    expect(below.publish.video).toBe(CAMERA_VIDEO);
    expect(CAMERA_VIDEO.simulcast).toBe(true);
    expect(CAMERA_VIDEO.layers.map((l) => l.height)).toEqual([180, 360, 720]);
    const bitrates = CAMERA_VIDEO.layers.map((l) => l.maxBitrateBps);
    expect([...bitrates].sort((a, b) => a - b)).toEqual(bitrates);
    const atCap = decide('video', seat(4), 4);
    expect(atCap.grant.sources).toEqual(['microphone']);
    expect(atCap.publish.video).toBeUndefined();
    expect(decide('video', seat(0), 1).grant.sources).toEqual(['microphone', 'camera']);
    expect(decide('video', seat(1), 1).grant.sources).toEqual(['microphone']);
  });

  it('a moderator mute on a video seat keeps the camera', () => {
    expect(decide('video', seat(1, { mutedByAdmin: true }))).toEqual({
      grant: { canSubscribe: true, canPublish: true, sources: ['camera'], canPublishData: false },
      publish: { video: CAMERA_VIDEO },
    });
  });

  it('music rooms: the DJ seat publishes music (stereo, higher bitrate, no DTX, no RED); other seats speech', () => {
    expect(decide('music', seat(1)).publish.audio).toBe(MUSIC_AUDIO);
    expect(MUSIC_AUDIO).toMatchObject({ channels: 2, dtx: false, red: false });
    expect(MUSIC_AUDIO.maxBitrateBps).toBeGreaterThanOrEqual(128_000);
    expect(MUSIC_AUDIO.maxBitrateBps).toBeLessThanOrEqual(192_000);
    expect(decide('music', seat(0)).publish.audio).toBe(VOICE_AUDIO);
    expect(decide('music', seat(2)).publish.audio).toBe(VOICE_AUDIO);
    expect(decide('music', seat(0), 4, 1).publish.audio).toBe(MUSIC_AUDIO);
    expect(decide('music', seat(1, { mutedByAdmin: true })).grant.canPublish).toBe(false);
  });

  it('the DJ seat', () => {
    expect(djSeatIndex({ type: 'music', seatCount: 9 })).toBe(1);
    expect(djSeatIndex({ type: 'music', seatCount: 1 })).toBe(0);
    expect(djSeatIndex({ type: 'voice', seatCount: 9 })).toBeNull();
    expect(djSeatIndex({ type: 'video', seatCount: 9 })).toBeNull();
  });

  it('finds a member seat and compares grants as sets', () => {
    const seats = [seat(0, { userId: 'owner' }), seat(1, { userId: null }), seat(2, { userId: 'u2' })];
    expect(seatOf(seats, 'u2')?.index).toBe(2);
    expect(seatOf(seats, 'nobody')).toBeNull();
    const a = { canSubscribe: true, canPublish: true, sources: ['microphone', 'camera'] as const, canPublishData: false };
    expect(sameGrant({ ...a, sources: ['microphone', 'camera'] }, { ...a, sources: ['camera', 'microphone'] })).toBe(true);
    expect(sameGrant({ ...a, sources: ['microphone'] }, { ...a, sources: ['camera', 'microphone'] })).toBe(false);
    expect(sameGrant({ ...a, sources: [] }, { ...a, sources: [], canSubscribe: false })).toBe(false);
  });
});
