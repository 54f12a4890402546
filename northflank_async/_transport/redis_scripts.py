"""The Redis coordinator's server-side scripts (Lua) and the layout of its keys.

Every decision on the fleet's shared state is taken inside Redis by these scripts, reading
Redis' own clock (``redis.call('TIME')``), so that the processes' clocks never meet and no two
processes can interleave a read and a write. `redis_store` runs them.
"""

from __future__ import annotations

# Both scripts set ``hold`` and ``lease`` (milliseconds, or nil) before this prelude. What it
# reads is clamped, since another process (a bug, an older version, a hand) may have written
# it: a reservation is never held longer than ``hold`` from now, a probe's lease never longer
# than ``lease``, and a count no script writes (below 0, not a number) is no count at all (the
# window is unknown: one request probes it); ``remaining`` is at most ``limit``.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if hold then
  local until_ms = now + hold
  for _, late in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. until_ms, '+inf')) do
    redis.call('ZADD', KEYS[2], until_ms, late)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local s = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset', 'probe', 'probe_until',
                     'blind')
local function count(value)
  local n = tonumber(value)
  if n and n == n and n >= 0 and n < 1e15 then return math.floor(n) end
  return nil
end
local limit, remaining, reset = count(s[1]), count(s[2]), count(s[3])
if limit and remaining and remaining > limit then remaining = limit end
local probe, probe_until, blind = s[4], count(s[5]), s[6] == '1'
if probe_until and lease and probe_until > now + lease then probe_until = now + lease end
if probe and (not probe_until or now >= probe_until
              or not redis.call('ZSCORE', KEYS[2], probe)) then
  probe = false  -- its lease or its reservation ran out: it tells nothing
end
local function put(field, value)
  if value then redis.call('HSET', KEYS[1], field, value)
  else redis.call('HDEL', KEYS[1], field) end
end
local function save()
  put('limit', limit)
  put('remaining', remaining)
  put('reset', reset)
  put('probe', probe)
  put('probe_until', probe and probe_until)
  put('blind', blind and '1')
  local keep = 3600000  -- an hour after the last write, or after the reset if later
  if reset and reset > now then keep = keep + reset - now end
  redis.call('PEXPIRE', KEYS[1], keep)
end
local function view()
  return {limit or -1, remaining or -1, reset and math.max(0, reset - now) or -1}
end
"""

# ARGV: ticket, reservation ms, probe lease ms.
# Returns {code, wait ms, limit, remaining, reset in ms} (-1: unknown); code 0: go, 1: go as
# the probe, 2: a probe is out (ask again), 3: the window is spent (wait for its reset).
_RESERVE = (
    "local hold, lease = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    + _PRELUDE
    + """
if reset and now >= reset then reset = nil end
if remaining == 0 and not reset then remaining = nil end
local code, wait = 0, 0
if remaining == nil then
  if probe then
    code, wait = 2, probe_until - now
  elseif not blind then
    code, probe, probe_until = 1, ARGV[1], now + tonumber(ARGV[3])
  end
elseif remaining > 0 or not reset then
  remaining = math.max(0, remaining - 1)
else
  code, wait = 3, reset - now
end
if code < 2 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
end
save()
local v = view()
return {code, wait, v[1], v[2], v[3]}
"""
)

# ARGV: ticket, cancelled ('1'/'0'), then limit, remaining, reset ms ('' when not told).
# Returns {limit, remaining, reset in ms} (-1: unknown).
_SETTLE = (
    "local hold, lease = nil, nil\n"
    + _PRELUDE
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then
  local others = redis.call('ZCARD', KEYS[2])
  local l, r = tonumber(ARGV[3]), tonumber(ARGV[4])
  local deadline = now + tonumber(ARGV[5])
  local announced = math.max(0, math.min(r, l) - others)
  if remaining == nil or reset == nil or now >= reset then
    remaining, reset = announced, deadline
  else
    remaining = math.min(remaining, announced)
    reset = deadline  -- the answer the store hears last sets the window's end (see resilience.md)
  end
  limit, blind = l, false
end
if probe == ARGV[1] then
  probe = false
  if remaining == nil and ARGV[2] ~= '1' then blind = true end
end
save()
return view()
"""
)


# -- monitoring groups ------------------------------------------------------------------------
#
# Keys of group ``G`` (one hash tag, so one node): ``NS:group:{G}:leader`` (the member holding
# the poll lease, expiring with it), ``NS:group:{G}:fence`` (the fencing counter, raised at
# each new lease), ``NS:group:{G}:positions`` (a hash: each job's durable position, JSON of
# ids and statuses), ``NS:group:{G}:events`` (the stream of events, with the consumer group
# ``members``), ``NS:group:{G}:told:<project>/<owner>/<build>`` (an outcome claimed: told once,
# by a poll or a notification, whichever claimed it first; expiring after `OUTCOME_TTL`).

#: A group's stream keeps about this many events (handed out or not), oldest dropped first.
STREAM_MAXLEN = 100_000
#: How long (seconds) a group remembers an outcome told (by a poll or a notification): a day.
OUTCOME_TTL = 86_400.0
_CONSUMERS = "members"

# KEYS: leader, fence. ARGV: member, lease ms. Returns the fencing token, or 0.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local fence = redis.call('GET', KEYS[2])
  if fence then return tonumber(fence) end
  return redis.call('INCR', KEYS[2])
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""

# KEYS: leader. ARGV: member.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# Appending a group's events, each with its claims (`_core.fleet.claims_of`). Per event, ARGV
# holds a mode and the event's text; its keys follow in KEYS, in order: with mode 1 or 3 the key
# it claims (appended only if that key is set now, NX, for the claim time), with mode 2 or 3 the
# key that keeps it out once set (a build's outcome: no start nor status after its end).
# ``{k}`` is the index of the last fixed key, ``{a}`` of the first event's mode, ``{ms}`` and
# ``{maxlen}`` the ARGV of the claim time and of the stream's bound, ``{stream}`` its KEY.
_APPEND = """
local k = {k}
local appended = 0
for i = {a}, #ARGV, 2 do
  local mode = tonumber(ARGV[i])
  local keep = true
  local claim = nil
  if mode % 2 == 1 then k = k + 1; claim = KEYS[k] end
  if mode >= 2 then
    k = k + 1
    if redis.call('EXISTS', KEYS[k]) == 1 then keep = false end
  end
  if keep and claim then keep = redis.call('SET', claim, '1', 'NX', 'PX', ARGV[{ms}]) end
  if keep then
    redis.call('XADD', KEYS[{stream}], 'MAXLEN', '~', ARGV[{maxlen}], '*', 'e', ARGV[i + 1])
    appended = appended + 1
  end
end
"""

# KEYS: leader, fence, events, positions, then the events' claim keys (see _APPEND). ARGV:
# member, fence, job, position, maxlen, claim ms, then per event its mode and text.
# Returns 1 when written, 0 (nothing written) when the lease or the fence moved on.
_PUBLISH = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
"""
    + _APPEND.format(k=4, a=7, ms=6, maxlen=5, stream=3)
    + """
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return 1
"""
)

# KEYS: events, then the events' claim keys (see _APPEND). ARGV: claim ms, maxlen, then per
# event its mode and text. What a member told by a notification appends: an outcome (and the
# start before it, unless told already) claimed and appended at once, never claimed without
# being in the stream, where it is handed to one member and again if that member dies.
# Returns the number of events appended.
_TELL = _APPEND.format(k=1, a=3, ms=1, maxlen=2, stream=1) + "return appended\n"


# -- receiving groups -------------------------------------------------------------------------
#
# Keys of receiving group ``G`` (one hash tag): ``NS:webhooks:{G}:events`` (the stream of
# notifications waiting or being handled, with the consumer group ``members``; an entry leaves
# it when acknowledged) and ``NS:webhooks:{G}:seen:<digest>`` (one per event id queued lately,
# expiring after the receivers' dedupe time).

# KEYS: seen, events. ARGV: ttl ms (0: no expiry), limit, payload. Returns 1 (queued), 0 (a
# repeat: nothing written) or -1 (``limit`` events wait already: nothing written, send later).
_QUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
if ARGV[1] == '0' then redis.call('SET', KEYS[1], '1')
else redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""

# KEYS: events. ARGV: entry ids. Acknowledged and removed at once (the stream holds only what
# waits or is being handled, so its length is the backlog).
_DONE = """
local n = 0
if #ARGV > 0 then
  n = redis.call('XACK', KEYS[1], 'members', unpack(ARGV))
  redis.call('XDEL', KEYS[1], unpack(ARGV))
end
return n
"""
