/**
 * The room's live state as one Redis Lua script, dispatched on ARGV[1]. Every change to a
 * room (seats, members, chat, moderation) runs here, so it is atomic: two users can never
 * hold one seat, and each change appends exactly one numbered event to the room's stream and
 * publishes it, in the same step. Sequence numbers are therefore contiguous and in order.
 *
 * ARGV: [1] command, [2] now (ms, from the caller's clock so tests control time),
 *       [3] JSON arguments, [4] JSON settings.
 * Keys derive from the room id under one hash tag per room; this runs on a single Redis node.
 */
export const ROOM_SCRIPT = String.raw`
local cmd = ARGV[1]
local now = tonumber(ARGV[2])
local a = cjson.decode(ARGV[3])
local cfg = cjson.decode(ARGV[4])

local LIVE = 'aura:rooms:live'
local LEASES = 'aura:presence:leases'
local AWAY = 'aura:presence:away'
local EMPTY = 'aura:rooms:empty'
local COUNTS = 'aura:rooms:count-changed'
-- A room that never played anything (the shape of LivePlayback in db/repositories/room-playlists.ts).
local IDLE_PLAYBACK = '{"state":"idle","itemId":null,"videoId":null,"title":null,"durationMs":null,"positionMs":0,"at":0,"endsAt":null,"version":0}'

local function key(room, s) return 'aura:room:{' .. room .. '}:' .. s end
local function fail(code, extra)
  local r = extra or {}
  r.error = code
  return cjson.encode(r)
end
local function ok(r)
  r = r or {}
  r.ok = true
  return cjson.encode(r)
end
local function int(s) return string.format('%d', s) end

-- Appends one event to the room's stream and publishes it. The envelope is built by hand so
-- "seq" is always its first field: edges read it without parsing the whole message.
-- emit_json takes the data already encoded (the media parts arrive as JSON, and a decode and
-- re-encode would turn their empty lists into objects).
local function emit_json(room, etype, dataJson)
  local seq = redis.call('INCR', key(room, 'seq'))
  local json = '{"seq":' .. int(seq) .. ',"room":"' .. room .. '","type":"' .. etype .. '","at":' .. int(now) ..
    ',"data":' .. dataJson .. '}'
  redis.call('XADD', key(room, 'events'), 'MAXLEN', '~', cfg.streamMax, int(seq) .. '-0', 'e', json)
  redis.call('PUBLISH', 'aura:room:' .. room, json)
  return seq
end

local function emit(room, etype, data, notice)
  local seq = emit_json(room, etype, cjson.encode(data))
  if notice then
    -- A system line in the recent chat, so a late joiner's snapshot tells the story too.
    redis.call('LPUSH', key(room, 'chat'), cjson.encode({ id = 's' .. int(seq), kind = 'system', event = etype,
      userId = notice, createdAt = now }))
    redis.call('LTRIM', key(room, 'chat'), 0, cfg.recentChat - 1)
  end
  return seq
end

local function is_open(room) return redis.call('HGET', key(room, 'meta'), 'status') == 'open' end
local function is_member(room, user) return redis.call('ZSCORE', key(room, 'members'), user) ~= false end
local function seat_count(room) return tonumber(redis.call('HGET', key(room, 'meta'), 'seats')) end

local function seat_get(room, i)
  local raw = redis.call('HGET', key(room, 'seats'), tostring(i))
  if not raw then return nil end
  return cjson.decode(raw)
end
local function seat_put(room, i, s) redis.call('HSET', key(room, 'seats'), tostring(i), cjson.encode(s)) end
local function seat_view(i, s)
  local u = cjson.null
  if s.u ~= '' then u = s.u end
  return { index = i, userId = u, locked = s.l == 1, mutedByAdmin = s.m == 1, selfMuted = s.s == 1 }
end
local function seat_of(room, user)
  local i = redis.call('HGET', key(room, 'seat-of'), user)
  if i then return tonumber(i) end
  return nil
end

local function seats_event(room, views, reason, user, by)
  local data = { seats = views, reason = reason, userId = user }
  if by then data.byUserId = by end
  local notice = nil
  if user then notice = user end
  return emit(room, 'seat.updated', data, notice)
end

-- A music room's now-playing line set by its DJ goes when they leave the DJ seat (one set by
-- the owner or an admin stays). meta.dj is the DJ seat's index (domain/media/music.ts).
local function dj_left(room, i, user)
  if user == '' or redis.call('HGET', key(room, 'meta'), 'dj') ~= tostring(i) then return end
  local raw = redis.call('HGET', key(room, 'media'), 'nowPlaying')
  if not raw or raw == 'null' then return end
  local np = cjson.decode(raw)
  if np.asDj ~= true or np.byUserId ~= user then return end
  redis.call('HSET', key(room, 'media'), 'nowPlaying', 'null')
  emit(room, 'music.now-playing', { nowPlaying = cjson.null, reason = 'dj-left', userId = user }, nil)
end

-- Frees seat i (its occupant loses it); returns the seat's new view.
local function vacate(room, i)
  local s = seat_get(room, i)
  dj_left(room, i, s.u)
  if s.u ~= '' then redis.call('HDEL', key(room, 'seat-of'), s.u) end
  s.u = ''
  s.m = 0
  s.s = 0
  seat_put(room, i, s)
  return seat_view(i, s)
end

-- Seats user on seat i (or the first open seat when i < 0). The host seat is the owner's.
local function occupy(room, user, i, owner)
  if seat_of(room, user) then return nil, 'ALREADY_SEATED' end
  local n = seat_count(room)
  if i < 0 then
    for j = 1, n - 1 do
      local s = seat_get(room, j)
      if s.u == '' and s.l == 0 then
        i = j
        break
      end
    end
    if i < 0 then return nil, 'NO_FREE_SEAT' end
  end
  if i >= n then return nil, 'SEAT_NOT_FOUND' end
  if i == 0 and user ~= owner then return nil, 'SEAT_HOST_ONLY' end
  local s = seat_get(room, i)
  if s.u ~= '' then return nil, 'SEAT_TAKEN' end
  if s.l == 1 then return nil, 'SEAT_LOCKED' end
  s.u = user
  -- A moderator's mute follows the speaker, so stepping down and back up doesn't shed it.
  if redis.call('HEXISTS', key(room, 'admin-muted'), user) == 1 then s.m = 1 else s.m = 0 end
  s.s = 0
  seat_put(room, i, s)
  redis.call('HSET', key(room, 'seat-of'), user, i)
  redis.call('DEL', key(room, 'invite:' .. user))
  return seat_view(i, s), nil
end

-- Someone who got a seat another way (invited, or the queue was approved) leaves the queue.
local function dequeue(room, user, reason)
  if redis.call('ZREM', key(room, 'applications'), user) == 1 then
    emit(room, 'seat.application-resolved', { userId = user, approved = true, reason = reason }, nil)
  end
end

local function update_live_index(room)
  local count = redis.call('ZCARD', key(room, 'members'))
  if count == 0 then
    redis.call('ZREM', LIVE, room)
    if is_open(room) then redis.call('ZADD', EMPTY, now + cfg.emptyTimeoutMs, room) end
  else
    redis.call('ZADD', LIVE, count, room)
    redis.call('ZREM', EMPTY, room)
  end
  return count
end

-- In a big room, an event per listener coming or going would cost every member a delivery:
-- filling a room of n would take n^2. Past cfg.memberEventsMax members, listeners' comings,
-- goings and presence are summed up in one member.count event a second (the sweep sends it).
-- Seat changes, kicks and bans are still told one by one.
local function announce_member(room, etype, data, user, count)
  if count <= cfg.memberEventsMax or data.reason == 'kicked' or data.reason == 'banned' then
    emit(room, etype, data, user)
  else
    redis.call('SADD', COUNTS, room)
  end
end

local function remove_member(room, user, reason, by)
  if not is_member(room, user) then return false end
  local i = seat_of(room, user)
  if i then seats_event(room, { vacate(room, i) }, reason, user, by) end
  if redis.call('ZREM', key(room, 'applications'), user) == 1 then
    emit(room, 'seat.application-resolved', { userId = user, approved = false, reason = 'left' }, nil)
  end
  redis.call('DEL', key(room, 'invite:' .. user))
  redis.call('ZREM', key(room, 'members'), user)
  -- Every connection of theirs leaves with them, on every edge: their leases go, so an edge
  -- still holding one learns at its next renewal (and a later drop can't count them away).
  for _, conn in ipairs(redis.call('SMEMBERS', key(room, 'conns:' .. user))) do
    redis.call('ZREM', LEASES, room .. '|' .. user .. '|' .. conn)
  end
  redis.call('DEL', key(room, 'conns:' .. user))
  redis.call('ZREM', AWAY, room .. '|' .. user)
  local count = update_live_index(room)
  local data = { userId = user, reason = reason, memberCount = count }
  if by then data.byUserId = by end
  announce_member(room, 'member.left', data, user, count)
  return true
end

-- One connection of a user left a room (closed socket, or its edge died and the lease ran out).
-- When it was the user's last, they stay a member for the grace period: a phone that
-- reconnects in time keeps its seat.
local function drop_connection(room, user, conn)
  if redis.call('ZREM', LEASES, room .. '|' .. user .. '|' .. conn) == 0 then return end
  if not is_member(room, user) then return end
  redis.call('SREM', key(room, 'conns:' .. user), conn)
  if redis.call('SCARD', key(room, 'conns:' .. user)) == 0 then
    redis.call('ZADD', AWAY, now + cfg.graceMs, room .. '|' .. user)
    -- Others can grey the member out; they stay (with their seat) until the grace ends.
    if seat_of(room, user) or redis.call('ZCARD', key(room, 'members')) <= cfg.memberEventsMax then
      emit(room, 'member.presence', { userId = user, connected = false, graceEndsAt = now + cfg.graceMs }, nil)
    end
  end
end

-- A closed room's state stays an hour (late resumes still get its last events), then goes.
-- Only an open room (checked in PostgreSQL first) is ever made live again.
local function expire_room(room)
  for _, k in ipairs({ 'meta', 'seats', 'seq', 'events', 'chat', 'chat-muted', 'admin-muted', 'media' }) do
    redis.call('PEXPIRE', key(room, k), 3600000)
  end
end

local function split(s)
  local parts = {}
  for p in string.gmatch(s, '[^|]+') do parts[#parts + 1] = p end
  return parts
end

local function room_view(room) return cjson.decode(redis.call('HGET', key(room, 'meta'), 'view')) end

if cmd == 'init' then
  -- Idempotent: a room already live keeps its state (and its epoch).
  if redis.call('HEXISTS', key(a.room, 'meta'), 'epoch') == 1 then return ok({ state = 'live' }) end
  -- Mutes are PostgreSQL's records: a room is only (re)built with them in hand.
  local records = a.moderation
  if records == nil or records == cjson.null then return ok({ state = 'needs-records' }) end
  local muteAll = 0
  if records.muteAll then muteAll = 1 end
  redis.call('HSET', key(a.room, 'meta'), 'epoch', a.epoch, 'status', 'open', 'owner', a.owner, 'seats', a.seatCount,
    'mode', a.seatMode, 'muteAll', muteAll, 'view', cjson.encode(a.view))
  if a.dj ~= nil and a.dj ~= cjson.null then redis.call('HSET', key(a.room, 'meta'), 'dj', a.dj) end
  -- The room's media (playback, playlist head, now-playing) as PostgreSQL has it, each part
  -- tagged with the revision it was written at (see the media command).
  redis.call('DEL', key(a.room, 'media'))
  if a.media ~= nil and a.media ~= cjson.null then
    redis.call('HSET', key(a.room, 'media'), 'playback', a.media.playback, 'playbackRev', a.media.revision,
      'playlist', a.media.playlist, 'playlistRev', a.media.revision, 'nowPlaying', a.media.nowPlaying, 'nowPlayingRev', a.media.revision)
  end
  for i = 0, a.seatCount - 1 do
    redis.call('HSET', key(a.room, 'seats'), tostring(i), cjson.encode({ u = '', l = 0, m = 0, s = 0 }))
  end
  redis.call('DEL', key(a.room, 'chat-muted'), key(a.room, 'admin-muted'))
  for _, m in ipairs(records.chatMutes) do
    if m['until'] > now then redis.call('ZADD', key(a.room, 'chat-muted'), m['until'], m.userId) end
  end
  for _, user in ipairs(records.seatMutes) do redis.call('HSET', key(a.room, 'admin-muted'), user, '1') end
  redis.call('ZADD', EMPTY, now + cfg.emptyTimeoutMs, a.room)
  return ok({ state = 'created' })
end

if cmd == 'join' then
  if not redis.call('HGET', key(a.room, 'meta'), 'status') then return fail('ROOM_NOT_LIVE') end
  if not is_open(a.room) then return fail('ROOM_CLOSED') end
  local kicked = redis.call('PTTL', key(a.room, 'kicked:' .. a.user))
  if kicked > 0 then return fail('ROOM_KICK_COOLDOWN', { retryAfterMs = kicked }) end
  if redis.call('EXISTS', key(a.room, 'banned:' .. a.user)) == 1 then return fail('ROOM_BANNED') end
  -- A media connection (LiveKit) counts only for someone already in the room: it never admits.
  if a.memberOnly and not is_member(a.room, a.user) then return fail('NOT_IN_ROOM') end
  redis.call('ZADD', LEASES, now + cfg.leaseMs, a.room .. '|' .. a.user .. '|' .. a.conn)
  redis.call('SADD', key(a.room, 'conns:' .. a.user), a.conn)
  local back = redis.call('ZREM', AWAY, a.room .. '|' .. a.user) == 1
  local joined = false
  if not is_member(a.room, a.user) then
    redis.call('ZADD', key(a.room, 'members'), now, a.user)
    local count = update_live_index(a.room)
    announce_member(a.room, 'member.joined', { userId = a.user, memberCount = count }, a.user, count)
    joined = true
  elseif back and (seat_of(a.room, a.user) or redis.call('ZCARD', key(a.room, 'members')) <= cfg.memberEventsMax) then
    emit(a.room, 'member.presence', { userId = a.user, connected = true }, nil)
  end
  return ok({ joined = joined })
end

if cmd == 'isMember' then
  return ok({ member = is_member(a.room, a.user) })
end

-- Who a gift goes to, checked against the live room in one round trip: the sender must be a
-- member; named receivers must be members (the missing are listed); "seated" is everyone on a
-- seat and "room" everyone present, the sender excluded, at most a.limit of them.
if cmd == 'giftTargets' then
  if not is_open(a.room) then return fail('ROOM_NOT_LIVE') end
  if not is_member(a.room, a.user) then return fail('NOT_IN_ROOM') end
  local receivers, missing = {}, {}
  if a.everyone == 'seated' then
    for i = 0, seat_count(a.room) - 1 do
      local st = seat_get(a.room, i)
      if st and st.u ~= '' and st.u ~= a.user then receivers[#receivers + 1] = st.u end
    end
  elseif a.everyone == 'room' then
    local rows = redis.call('ZRANGE', key(a.room, 'members'), 0, a.limit + 1)
    for _, u in ipairs(rows) do
      if u ~= a.user and #receivers < a.limit + 1 then receivers[#receivers + 1] = u end
    end
  else
    for _, u in ipairs(a.users) do
      if is_member(a.room, u) then receivers[#receivers + 1] = u else missing[#missing + 1] = u end
    end
  end
  return ok({ receivers = receivers, missing = missing })
end

if cmd == 'dropConnection' then
  drop_connection(a.room, a.user, a.conn)
  return ok()
end

if cmd == 'renewLeases' then
  -- Returns the leases that were swept while their socket lived on (a stalled edge), and
  -- whether the user is still a member, so the edge can tell those sockets to rejoin.
  local lost = {}
  for _, lease in ipairs(a.leases) do
    if redis.call('ZADD', LEASES, 'XX', 'CH', now + cfg.leaseMs, lease) == 0 and
        redis.call('ZSCORE', LEASES, lease) == false then
      lost[#lost + 1] = lease
    end
  end
  if #lost == 0 then return ok({ lost = 0 }) end
  return ok({ lost = lost })
end

if cmd == 'leave' then
  if not is_member(a.room, a.user) then return fail('NOT_IN_ROOM') end
  remove_member(a.room, a.user, 'left', nil)
  return ok()
end

if cmd == 'removeMember' then
  -- Kick or ban: the member goes now, whatever their connections; a kick adds a cooldown.
  if a.cooldownMs and a.cooldownMs > 0 then
    redis.call('SET', key(a.room, 'kicked:' .. a.user), '1', 'PX', a.cooldownMs)
  end
  -- A ban is also marked here, so a join already past the PostgreSQL check can't slip in.
  if a.reason == 'banned' then redis.call('SET', key(a.room, 'banned:' .. a.user), '1') end
  local removed = remove_member(a.room, a.user, a.reason, a.by)
  return ok({ removed = removed })
end

if cmd == 'unban' then
  redis.call('DEL', key(a.room, 'banned:' .. a.user))
  return ok()
end

if cmd == 'sweep' then
  -- Leases of connections whose edge stopped renewing them (it crashed).
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, cfg.sweepBatch)
  for _, lease in ipairs(expired) do
    local p = split(lease)
    drop_connection(p[1], p[2], p[3])
  end
  -- Members whose every connection dropped more than the grace period ago.
  local gone = redis.call('ZRANGEBYSCORE', AWAY, '-inf', now, 'LIMIT', 0, cfg.sweepBatch)
  local removed = 0
  for _, entry in ipairs(gone) do
    local p = split(entry)
    redis.call('ZREM', AWAY, entry)
    if redis.call('SCARD', key(p[1], 'conns:' .. p[2])) == 0 then
      if remove_member(p[1], p[2], 'disconnected', nil) then removed = removed + 1 end
    end
  end
  -- Big rooms' member counts, summed up since the last sweep.
  for _, room in ipairs(redis.call('SPOP', COUNTS, cfg.sweepBatch)) do
    if is_open(room) then emit(room, 'member.count', { memberCount = redis.call('ZCARD', key(room, 'members')) }, nil) end
  end
  local empty = redis.call('ZRANGEBYSCORE', EMPTY, '-inf', now, 'LIMIT', 0, cfg.sweepBatch)
  if #empty == 0 then empty = 0 end
  return ok({ leases = #expired, removed = removed, empty = empty })
end

if cmd == 'closeIfEmpty' then
  -- Closing an empty room is two steps (Redis, then PostgreSQL) and the EMPTY entry stays
  -- until 'forgetEmpty', so a crash between them is finished by the next sweep.
  if redis.call('ZCARD', key(a.room, 'members')) > 0 then
    redis.call('ZREM', EMPTY, a.room)
    return ok({ close = false })
  end
  -- Someone may have come and gone since the sweep read the deadline: it moved on.
  local deadline = redis.call('ZSCORE', EMPTY, a.room)
  if deadline and tonumber(deadline) > now then return ok({ close = false }) end
  if is_open(a.room) then
    redis.call('HSET', key(a.room, 'meta'), 'status', 'closed')
    emit(a.room, 'room.closed', { reason = 'empty' }, nil)
    expire_room(a.room)
  end
  return ok({ close = true })
end

if cmd == 'forgetEmpty' then
  redis.call('ZREM', EMPTY, a.room)
  return ok()
end

if cmd == 'close' then
  if not redis.call('HGET', key(a.room, 'meta'), 'status') then return ok({ closed = false }) end
  if not is_open(a.room) then return ok({ closed = false }) end
  redis.call('HSET', key(a.room, 'meta'), 'status', 'closed')
  local members = redis.call('ZRANGE', key(a.room, 'members'), 0, -1)
  for _, user in ipairs(members) do
    redis.call('ZREM', AWAY, a.room .. '|' .. user)
    for _, conn in ipairs(redis.call('SMEMBERS', key(a.room, 'conns:' .. user))) do
      redis.call('ZREM', LEASES, a.room .. '|' .. user .. '|' .. conn)
    end
    redis.call('DEL', key(a.room, 'conns:' .. user))
  end
  redis.call('DEL', key(a.room, 'members'), key(a.room, 'seat-of'), key(a.room, 'applications'))
  redis.call('ZREM', LIVE, a.room)
  redis.call('ZREM', EMPTY, a.room)
  emit(a.room, 'room.closed', { reason = a.reason, byUserId = a.by }, nil)
  expire_room(a.room)
  return ok({ closed = true })
end

if cmd == 'updateRoom' then
  if not is_open(a.room) then return fail('ROOM_CLOSED') end
  redis.call('HSET', key(a.room, 'meta'), 'mode', a.view.seatMode, 'view', cjson.encode(a.view))
  emit(a.room, 'room.updated', { room = a.view, byUserId = a.by }, nil)
  return ok()
end

if cmd == 'roleChanged' then
  emit(a.room, 'role.changed', { userId = a.user, role = a.role, byUserId = a.by }, a.user)
  return ok()
end

if cmd == 'snapshot' then
  -- Everything a joining client draws, at exactly one sequence number.
  local m = key(a.room, 'meta')
  local status = redis.call('HGET', m, 'status')
  if not status then return fail('ROOM_NOT_LIVE') end
  local n = seat_count(a.room)
  local seats = {}
  for i = 0, n - 1 do seats[#seats + 1] = seat_view(i, seat_get(a.room, i)) end
  local recent = redis.call('LRANGE', key(a.room, 'chat'), 0, -1)
  local chat = {}
  for i = #recent, 1, -1 do chat[#chat + 1] = recent[i] end
  local seq = tonumber(redis.call('GET', key(a.room, 'seq')) or '0')
  local muted = redis.call('ZSCORE', key(a.room, 'chat-muted'), a.user or '')
  local mutedUntil = cjson.null
  if muted and tonumber(muted) > now then mutedUntil = tonumber(muted) end
  return '{"ok":true,"seq":' .. int(seq) .. ',"epoch":' .. cjson.encode(redis.call('HGET', m, 'epoch')) ..
    ',"status":"' .. status .. '","room":' .. redis.call('HGET', m, 'view') ..
    ',"seats":' .. cjson.encode(seats) ..
    ',"memberCount":' .. int(redis.call('ZCARD', key(a.room, 'members'))) ..
    ',"applicationCount":' .. int(redis.call('ZCARD', key(a.room, 'applications'))) ..
    ',"muteAll":' .. tostring(redis.call('HGET', m, 'muteAll') == '1') ..
    ',"chatMutedUntil":' .. cjson.encode(mutedUntil) ..
    ',"member":' .. tostring(is_member(a.room, a.user or '')) ..
    ',"playback":' .. (redis.call('HGET', key(a.room, 'media'), 'playback') or IDLE_PLAYBACK) ..
    ',"playlist":' .. (redis.call('HGET', key(a.room, 'media'), 'playlist') or '{"length":0,"head":[]}') ..
    ',"nowPlaying":' .. (redis.call('HGET', key(a.room, 'media'), 'nowPlaying') or 'null') ..
    ',"recentChat":[' .. table.concat(chat, ',') .. ']}'
end

if cmd == 'readEvents' then
  -- The events after a.after, if the stream still holds every one of them (and the room's
  -- state was not rebuilt since: a new epoch numbers events afresh).
  local epoch = redis.call('HGET', key(a.room, 'meta'), 'epoch')
  local cur = tonumber(redis.call('GET', key(a.room, 'seq')) or '0')
  local missed = cur - a.after
  if not epoch or epoch ~= a.epoch or missed < 0 or missed > a.max then
    return { ok({ recovered = false, seq = cur }) }
  end
  if missed == 0 then return { ok({ recovered = true, seq = cur }) } end
  local entries = redis.call('XRANGE', key(a.room, 'events'), int(a.after + 1) .. '-0', '+', 'COUNT', missed)
  if #entries ~= missed or entries[1][1] ~= int(a.after + 1) .. '-0' then
    return { ok({ recovered = false, seq = cur }) }
  end
  local out = { ok({ recovered = true, seq = cur }) }
  for _, e in ipairs(entries) do out[#out + 1] = e[2][2] end
  return out
end

if cmd == 'members' then
  -- Keyset page over join time: the cursor is the last (joinedAt, userId) seen.
  local rows = redis.call('ZRANGEBYSCORE', key(a.room, 'members'), a.afterScore, '+inf', 'WITHSCORES', 'LIMIT', 0, a.limit + 200)
  local items = {}
  local i = 1
  while i < #rows and #items <= a.limit do
    local user, score = rows[i], tonumber(rows[i + 1])
    if score > a.afterScore or (a.afterUser == '' or user > a.afterUser) then
      local connected = redis.call('SCARD', key(a.room, 'conns:' .. user)) > 0
      items[#items + 1] = { userId = user, joinedAt = score, connected = connected,
        seat = seat_of(a.room, user) or cjson.null }
    end
    i = i + 2
  end
  local more = #items > a.limit
  if more then table.remove(items) end
  if #items == 0 then return '{"ok":true,"items":[],"more":false}' end
  return ok({ items = items, more = more })
end

if cmd == 'media' then
  -- A committed change of the room's playback, playlist or now-playing line (PostgreSQL is the
  -- record): each part given is stored if it is newer than the stored one (a.revision, bumped
  -- under PostgreSQL's row lock, orders changes whose live steps arrive out of order), and the
  -- events of the parts stored are emitted, in the same step. A stale part emits nothing: the
  -- room already shows something newer.
  if not redis.call('HGET', key(a.room, 'meta'), 'status') then return fail('ROOM_NOT_LIVE') end
  if not is_open(a.room) then return fail('ROOM_CLOSED') end
  local mk = key(a.room, 'media')
  local stored = {}
  for _, part in ipairs({ 'playback', 'playlist', 'nowPlaying' }) do
    local json = a.parts[part]
    if json ~= nil then
      local rev = tonumber(redis.call('HGET', mk, part .. 'Rev') or '-1')
      if a.revision > rev then
        redis.call('HSET', mk, part, json, part .. 'Rev', a.revision)
        stored[part] = true
      end
    end
  end
  local seq = 0
  for _, e in ipairs(a.events) do
    if stored[e.part] then seq = emit_json(a.room, e.type, e.data) end
  end
  return ok({ seq = seq, stale = seq == 0 })
end

if cmd == 'nowPlaying' then
  -- The DJ (whoever sits on the DJ seat now) sets the line as DJ; the owner and admins may set
  -- it from anywhere. Decided here, against the live seat, so a DJ who just left can't.
  if not is_open(a.room) then return fail('ROOM_CLOSED') end
  local dj = redis.call('HGET', key(a.room, 'meta'), 'dj')
  if not dj then return fail('NOT_A_MUSIC_ROOM') end
  local seat = seat_get(a.room, tonumber(dj))
  local asDj = seat ~= nil and seat.u == a.user
  if not asDj and not a.moderator then return fail('DJ_SEAT_REQUIRED') end
  local mk = key(a.room, 'media')
  local rev = tonumber(redis.call('HGET', mk, 'nowPlayingRev') or '-1')
  if a.revision <= rev then return ok({ asDj = asDj, stale = true }) end
  local line = cjson.null
  if a.line ~= cjson.null then
    line = { title = a.line.title, artist = a.line.artist, byUserId = a.user, asDj = asDj, at = now }
  end
  local json = cjson.encode(line)
  redis.call('HSET', mk, 'nowPlaying', json, 'nowPlayingRev', a.revision)
  local seq = emit_json(a.room, 'music.now-playing', '{"nowPlaying":' .. json .. ',"reason":"set","userId":"' .. a.user .. '"}')
  return ok({ asDj = asDj, seq = seq, line = line })
end

-- Everything below acts inside an open room, by a member.
if not is_open(a.room) then return fail('ROOM_CLOSED') end
if a.actor and not is_member(a.room, a.actor) then return fail('NOT_IN_ROOM') end

if cmd == 'takeSeat' then
  local owner = redis.call('HGET', key(a.room, 'meta'), 'owner')
  local mode = redis.call('HGET', key(a.room, 'meta'), 'mode')
  if mode == 'apply' and not a.moderator then return fail('SEAT_APPLY_REQUIRED') end
  local view, err = occupy(a.room, a.actor, a.seat, owner)
  if err then return fail(err) end
  local seq = seats_event(a.room, { view }, 'taken', a.actor, nil)
  dequeue(a.room, a.actor, 'seated')
  return ok({ seat = view, seq = seq })
end

if cmd == 'leaveSeat' then
  local i = seat_of(a.room, a.actor)
  if not i then return fail('NOT_SEATED') end
  local seq = seats_event(a.room, { vacate(a.room, i) }, 'left', a.actor, nil)
  return ok({ seq = seq })
end

if cmd == 'moveSeat' then
  local from = seat_of(a.room, a.actor)
  if not from then return fail('NOT_SEATED') end
  if from == a.seat then return fail('ALREADY_SEATED') end
  local owner = redis.call('HGET', key(a.room, 'meta'), 'owner')
  if a.seat < 0 or a.seat >= seat_count(a.room) then return fail('SEAT_NOT_FOUND') end
  if a.seat == 0 and a.actor ~= owner then return fail('SEAT_HOST_ONLY') end
  local target = seat_get(a.room, a.seat)
  if target.u ~= '' then return fail('SEAT_TAKEN') end
  if target.l == 1 then return fail('SEAT_LOCKED') end
  local old = seat_get(a.room, from)
  dj_left(a.room, from, a.actor)
  target.u = a.actor
  target.m = old.m
  target.s = old.s
  seat_put(a.room, a.seat, target)
  old.u = ''
  old.m = 0
  old.s = 0
  seat_put(a.room, from, old)
  redis.call('HSET', key(a.room, 'seat-of'), a.actor, a.seat)
  local seq = seats_event(a.room, { seat_view(from, old), seat_view(a.seat, target) }, 'moved', a.actor, nil)
  return ok({ seq = seq })
end

-- A moderator acts on a seat as they last saw it: if someone else sat down since, refuse
-- (they were authorised against the earlier occupant, not this one).
local function seat_changed(s)
  local expected = a.expect
  if expected == nil or expected == cjson.null then expected = '' end
  return s.u ~= expected
end

if cmd == 'lockSeat' then
  if a.seat < 0 or a.seat >= seat_count(a.room) then return fail('SEAT_NOT_FOUND') end
  local s = seat_get(a.room, a.seat)
  if a.locked and seat_changed(s) then return fail('SEAT_CHANGED') end
  local occupant = s.u
  if a.locked and occupant ~= '' then
    -- Locking an occupied seat closes that mic: its speaker steps down.
    vacate(a.room, a.seat)
    s = seat_get(a.room, a.seat)
  end
  if a.locked then s.l = 1 else s.l = 0 end
  seat_put(a.room, a.seat, s)
  local subject = nil
  if occupant ~= '' then subject = occupant end
  local reason = 'unlocked'
  if a.locked then reason = 'locked' end
  local seq = seats_event(a.room, { seat_view(a.seat, s) }, reason, subject, a.by)
  return ok({ seq = seq })
end

if cmd == 'muteSeat' then
  -- By the speaker (self) or by a moderator naming the seat.
  local i = a.seat
  if a.self then i = seat_of(a.room, a.actor) end
  if not i then return fail('NOT_SEATED') end
  if i < 0 or i >= seat_count(a.room) then return fail('SEAT_NOT_FOUND') end
  local s = seat_get(a.room, i)
  if s.u == '' then return fail('NOT_SEATED') end
  if a.self then
    if not a.muted and s.m == 1 then return fail('SEAT_MUTED_BY_ADMIN') end
    if a.muted then s.s = 1 else s.s = 0 end
  else
    if seat_changed(s) then return fail('SEAT_CHANGED') end
    if a.muted then
      s.m = 1
      redis.call('HSET', key(a.room, 'admin-muted'), s.u, '1')
    else
      s.m = 0
      redis.call('HDEL', key(a.room, 'admin-muted'), s.u)
    end
  end
  seat_put(a.room, i, s)
  local reason = 'unmuted'
  if a.muted then reason = 'muted' end
  local by = nil
  if not a.self then by = a.by end
  local seq = seats_event(a.room, { seat_view(i, s) }, reason, s.u, by)
  return ok({ seq = seq, userId = s.u })
end

if cmd == 'seatOccupant' then
  if a.seat < 0 or a.seat >= seat_count(a.room) then return fail('SEAT_NOT_FOUND') end
  local s = seat_get(a.room, a.seat)
  if s.u == '' then return ok({ userId = false }) end
  return ok({ userId = s.u })
end

if cmd == 'removeFromSeat' then
  local i = seat_of(a.room, a.user)
  if not i then return fail('NOT_SEATED') end
  local seq = seats_event(a.room, { vacate(a.room, i) }, 'removed', a.user, a.by)
  return ok({ seq = seq })
end

if cmd == 'invite' then
  if not is_member(a.room, a.user) then return fail('NOT_IN_ROOM') end
  if seat_of(a.room, a.user) then return fail('ALREADY_SEATED') end
  if a.seat >= seat_count(a.room) then return fail('SEAT_NOT_FOUND') end
  redis.call('SET', key(a.room, 'invite:' .. a.user), a.seat, 'PX', a.ttlMs)
  local seq = emit(a.room, 'seat.invited', { userId = a.user, seat = a.seat, byUserId = a.by,
    expiresAt = now + a.ttlMs }, nil)
  return ok({ seq = seq })
end

if cmd == 'answerInvite' then
  local seat = redis.call('GET', key(a.room, 'invite:' .. a.actor))
  if not seat then return fail('INVITATION_NOT_FOUND') end
  redis.call('DEL', key(a.room, 'invite:' .. a.actor))
  if not a.accept then
    local seq = emit(a.room, 'seat.invite-declined', { userId = a.actor }, nil)
    return ok({ seq = seq })
  end
  local owner = redis.call('HGET', key(a.room, 'meta'), 'owner')
  local view, err = occupy(a.room, a.actor, tonumber(seat), owner)
  if err then return fail(err) end
  local seq = seats_event(a.room, { view }, 'invited', a.actor, nil)
  dequeue(a.room, a.actor, 'invited')
  return ok({ seat = view, seq = seq })
end

if cmd == 'apply' then
  if redis.call('HGET', key(a.room, 'meta'), 'mode') ~= 'apply' then return fail('VALIDATION_FAILED', { message = 'this room has free seating: take a seat' }) end
  if seat_of(a.room, a.actor) then return fail('ALREADY_SEATED') end
  if redis.call('ZADD', key(a.room, 'applications'), 'NX', now, a.actor) == 0 then return ok({ queued = false }) end
  local seq = emit(a.room, 'seat.applied', { userId = a.actor, queueLength = redis.call('ZCARD', key(a.room, 'applications')) }, nil)
  return ok({ queued = true, seq = seq })
end

if cmd == 'withdrawApplication' then
  if redis.call('ZREM', key(a.room, 'applications'), a.actor) == 0 then return fail('APPLICATION_NOT_FOUND') end
  local seq = emit(a.room, 'seat.application-resolved', { userId = a.actor, approved = false, reason = 'withdrawn' }, nil)
  return ok({ seq = seq })
end

if cmd == 'resolveApplication' then
  if not redis.call('ZSCORE', key(a.room, 'applications'), a.user) then return fail('APPLICATION_NOT_FOUND') end
  if not a.approve then
    redis.call('ZREM', key(a.room, 'applications'), a.user)
    local seq = emit(a.room, 'seat.application-resolved', { userId = a.user, approved = false, reason = 'rejected', byUserId = a.by }, nil)
    return ok({ seq = seq })
  end
  local owner = redis.call('HGET', key(a.room, 'meta'), 'owner')
  local view, err = occupy(a.room, a.user, a.seat, owner)
  if err then return fail(err) end
  redis.call('ZREM', key(a.room, 'applications'), a.user)
  emit(a.room, 'seat.application-resolved', { userId = a.user, approved = true, byUserId = a.by }, nil)
  local seq = seats_event(a.room, { view }, 'approved', a.user, a.by)
  return ok({ seat = view, seq = seq })
end

if cmd == 'applications' then
  return ok({ queue = redis.call('ZRANGE', key(a.room, 'applications'), 0, -1) })
end

if cmd == 'chat' then
  -- Idempotent per message: a client resending after a lost ack publishes nothing twice.
  local dedupe = key(a.room, 'msg:' .. a.message.id)
  local prior = redis.call('GET', dedupe)
  if prior then return ok({ seq = tonumber(prior), duplicate = true }) end
  if not a.checked then
    -- A personal mute holds for anyone (the owner may mute an admin); mute-all spares moderators.
    local mutedUntil = redis.call('ZSCORE', key(a.room, 'chat-muted'), a.actor)
    if mutedUntil and tonumber(mutedUntil) > now then return fail('CHAT_MUTED', { ['until'] = tonumber(mutedUntil) }) end
    if not a.moderator and redis.call('HGET', key(a.room, 'meta'), 'muteAll') == '1' then return fail('CHAT_MUTED', { all = true }) end
    local rate = key(a.room, 'chat-rate:' .. a.actor)
    local used = redis.call('INCR', rate)
    if used == 1 then redis.call('PEXPIRE', rate, cfg.chatWindowMs) end
    if used > cfg.chatPerWindow then return fail('RATE_LIMITED', { retryAfterMs = redis.call('PTTL', rate) }) end
  end
  -- The check runs before the message is archived, the publish after: nothing refused here
  -- is ever written to PostgreSQL.
  if a.checkOnly then return ok({ allowed = true }) end
  local seq = emit(a.room, 'chat.message', { message = a.message }, nil)
  redis.call('LPUSH', key(a.room, 'chat'), cjson.encode(a.message))
  redis.call('LTRIM', key(a.room, 'chat'), 0, cfg.recentChat - 1)
  -- A day: a client resending after a lost ack does so within seconds, a stuck outbox within hours.
  redis.call('SET', dedupe, seq, 'PX', 86400000)
  return ok({ seq = seq, duplicate = false })
end

if cmd == 'chatRemoved' then
  -- Recall (by the sender) or delete (by a moderator): the recent list drops the text too.
  local list = redis.call('LRANGE', key(a.room, 'chat'), 0, -1)
  for idx, raw in ipairs(list) do
    local m = cjson.decode(raw)
    if m.id == a.messageId then
      m.body = cjson.null
      if a.how == 'recalled' then m.recalled = true else m.deleted = true end
      redis.call('LSET', key(a.room, 'chat'), idx - 1, cjson.encode(m))
    end
  end
  local data = { messageId = a.messageId }
  if a.how == 'deleted' then data.byUserId = a.by end
  local seq = emit(a.room, 'chat.' .. a.how, data, nil)
  return ok({ seq = seq })
end

if cmd == 'chatMute' then
  -- A JSON null decodes to cjson.null, which Lua counts as true: lifting a mute sends no untilMs.
  if a.untilMs == cjson.null then a.untilMs = nil end
  if a.untilMs then
    redis.call('ZADD', key(a.room, 'chat-muted'), a.untilMs, a.user)
  else
    redis.call('ZREM', key(a.room, 'chat-muted'), a.user)
  end
  redis.call('ZREMRANGEBYSCORE', key(a.room, 'chat-muted'), '-inf', now)
  local data = { userId = a.user, byUserId = a.by }
  if a.untilMs then data['until'] = a.untilMs end
  local etype = 'chat.unmuted'
  if a.untilMs then etype = 'chat.muted' end
  local seq = emit(a.room, etype, data, a.user)
  return ok({ seq = seq })
end

if cmd == 'muteAll' then
  local v = 0
  if a.on then v = 1 end
  redis.call('HSET', key(a.room, 'meta'), 'muteAll', v)
  local seq = emit(a.room, 'chat.mute-all', { on = a.on, byUserId = a.by }, nil)
  return ok({ seq = seq })
end

if cmd == 'emit' then
  -- A system announcement (and the benchmark's load): one event, nothing else changes.
  local seq = emit(a.room, a.type, a.data, nil)
  return ok({ seq = seq })
end

return fail('UNKNOWN_COMMAND')
`;
