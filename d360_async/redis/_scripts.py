"""The Lua scripts of a campaign on Redis: each change of a campaign is one script, so each is
atomic and one round trip.

Every script gets the campaign's keys in the order of ``CampaignKeys.all`` (state, queue,
counts, ids, meta, written, recipients, deliveries, evidence; one hash tag, one Cluster slot)
and starts with ``_PRELUDE``. A state is compared as a whole string before it is changed
(compare and set): a worker changes a message only from the state it last saw, so two workers
can never both send it. Count changes are summed in the script and written once at its end.
"""

from __future__ import annotations

from typing import Final

__all__ = ["APPLY", "CLAIM", "DELIVER", "ENQUEUE", "HEARTBEAT", "OPEN", "REPORT"]

_PRELUDE: Final = r"""
local STATE, QUEUE, COUNTS, IDS, META = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local WRITTEN, RECIPIENTS, DELIVERIES, EVIDENCE = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local GROUP = 'workers'
local HEAD = 65
local function owner(sid)
  local p = redis.call('XPENDING', QUEUE, GROUP, sid, sid, 1)
  if p[1] then return p[1][2] end
  return false
end
local delta = {}
local function count(name, by)
  delta[name] = (delta[name] or 0) + by
end
local function flush_counts()
  for name, by in pairs(delta) do
    if by ~= 0 then redis.call('HINCRBY', COUNTS, name, by) end
  end
  delta = {}
end
local function move(old, new)
  if old then count(old, -1) end
  count(new, 1)
end
local function finish(sid)
  redis.call('XACK', QUEUE, GROUP, sid)
  redis.call('XDEL', QUEUE, sid)
end
local function decided(s)
  return s == 's' or s == 'f' or s == 'k' or s == 'u'
end
local function failure(value, by)
  local tail = string.sub(value, HEAD + 1)
  local sep = string.find(tail, '\31', 1, true)
  if sep then
    local label = string.sub(tail, sep + 1)
    if label ~= '' then count('f:' .. label, by) end
  end
end
local function message_id(value)
  local tail = string.sub(value, HEAD + 1)
  local sep = string.find(tail, '\31', 1, true)
  if sep then return string.sub(tail, 1, sep - 1) end
  return tail
end
local function finished()
  return redis.call('HGET', META, 'sealed') and redis.call('XLEN', QUEUE) == 0
end
local function check_done()
  if finished() and not redis.call('HGET', META, 'done') then
    redis.call('HSET', META, 'done', redis.call('TIME')[1])
    local keep = tonumber(redis.call('HGET', META, 'keep') or '0')
    if keep > 0 then
      for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, keep) end
    end
  end
end
"""

#: Create the campaign (or find it). ARGV: campaign id, a salt for the digests, seconds to keep
#: the keys once done (0: until deleted). Returns {salt} or {false} if the keys hold another
#: campaign (a digest collision).
OPEN: Final = (
    _PRELUDE
    + r"""
local id = redis.call('HGET', META, 'id')
if id and id ~= ARGV[1] then return {false} end
if not id then
  redis.call('HSET', META, 'id', ARGV[1], 'salt', ARGV[2], 'keep', ARGV[3])
end
if redis.call('EXISTS', QUEUE) == 0 then
  redis.call('XGROUP', 'CREATE', QUEUE, GROUP, '0', 'MKSTREAM')
end
return {redis.call('HGET', META, 'salt')}
"""
)

#: Enqueue messages. ARGV[1]: the total number of messages when this call ends the input
#: ('' otherwise); ARGV[2]: seconds after which an ``unknown`` message is queued again ('':
#: never); then triples: position, state (``q`` or a decided one), body ('' for a decided
#: message). A position already there is left alone if it is the same message, except an
#: ``unknown`` one written at least ARGV[2] seconds ago (no status settled it), queued again.
#: Returns {added, present, queued again}, or {-1, position} (another message at that
#: position: another campaign), or {-2, position} (a new position after the campaign was
#: sealed).
ENQUEUE: Final = (
    _PRELUDE
    + r"""
local sealed = redis.call('HGET', META, 'sealed')
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local known = {}
for i = 3, #ARGV, 3 do
  local cur = redis.call('HGET', STATE, ARGV[i])
  if cur then
    if string.sub(cur, 2, HEAD) ~= string.sub(ARGV[i + 1], 2, HEAD) then
      return {-1, ARGV[i]}
    end
    known[i] = true
  elseif sealed then
    return {-2, ARGV[i]}
  end
end
local added, present, again = 0, 0, 0
for i = 3, #ARGV, 3 do
  if known[i] then
    present = present + 1
    local cur = redis.call('HGET', STATE, ARGV[i])
    local written = tonumber(redis.call('HGET', WRITTEN, ARGV[i]) or '0')
    if window and string.sub(cur, 1, 1) == 'u' and string.sub(ARGV[i + 1], 1, 1) == 'q'
        and written <= now - window then
      redis.call('HSET', STATE, ARGV[i], ARGV[i + 1])
      move('u', 'q')
      redis.call('XADD', QUEUE, '*', 'i', ARGV[i], 'b', ARGV[i + 2])
      again = again + 1
    end
  else
    local value = ARGV[i + 1]
    local s = string.sub(value, 1, 1)
    redis.call('HSET', STATE, ARGV[i], value)
    move(false, s)
    if s == 'f' then failure(value, 1) end
    if s == 'q' then redis.call('XADD', QUEUE, '*', 'i', ARGV[i], 'b', ARGV[i + 2]) end
    added = added + 1
  end
end
if again > 0 and redis.call('HDEL', META, 'done') == 1 then
  for _, key in ipairs(KEYS) do redis.call('PERSIST', key) end
end
if ARGV[1] ~= '' and not sealed then
  redis.call('HSET', META, 'sealed', ARGV[1])
  check_done()
end
flush_counts()
return {added, present, again}
"""
)

#: Claim messages for a worker. ARGV: the worker, how many at most, the idle time (ms) after
#: which another worker's message is taken over, '1' to take over idle messages when new ones
#: run short, '1' to first take back this worker's own unacknowledged messages (a restart).
#: Returns {done, JSON array: entry id, position, body, state, written, entry id...} (one
#: string to parse, not a reply of nested arrays): only messages still to decide
#: (queued, or pending: a worker died with its request possibly written); those decided
#: meanwhile are acknowledged. done is 1 when the campaign has nothing left at all.
CLAIM: Final = (
    _PRELUDE
    + r"""
local me, count = ARGV[1], tonumber(ARGV[2])
local out = {}
-- the states of a read's entries are read at once (one call per thousand entries, not one
-- per entry: unpack takes a few thousand values at most)
local function take(entries, from)
  local positions, sids, bodies = {}, {}, {}
  local last = math.min(#entries, from + 999)
  for k = from, last do
    local sid, fields = entries[k][1], entries[k][2]
    if fields then
      local n = #sids + 1
      sids[n], positions[n], bodies[n] = sid, fields[2], fields[4]
    end
  end
  if #sids > 0 then
    local states = redis.call('HMGET', STATE, unpack(positions))
    for j, sid in ipairs(sids) do
      local position, cur = positions[j], states[j]
      local s = cur and string.sub(cur, 1, 1)
      if s == 'q' or s == 'p' then
        out[#out + 1] = sid
        out[#out + 1] = position
        out[#out + 1] = bodies[j]
        out[#out + 1] = cur
        out[#out + 1] = s == 'p' and (redis.call('HGET', WRITTEN, position) or '') or ''
      else
        finish(sid)
      end
    end
  end
  if last < #entries then take(entries, last + 1) end
end
local function read(from, n)
  local got = redis.call('XREADGROUP', 'GROUP', GROUP, me, 'COUNT', n, 'STREAMS', QUEUE, from)
  if got then take(got[1][2], 1) end
end
if ARGV[5] == '1' then read('0', 100000) end
if #out < count then read('>', count - #out) end
if #out < count and ARGV[4] == '1' then
  local cursor = redis.call('HGET', META, 'cursor') or '0-0'
  local res = redis.call('XAUTOCLAIM', QUEUE, GROUP, me, ARGV[3], cursor, 'COUNT', count - #out)
  redis.call('HSET', META, 'cursor', res[1])
  take(res[2], 1)
end
local done = 0
if #out == 0 and finished() then done = 1 end
if #out == 0 then return {done, '[]'} end
return {done, cjson.encode(out)}
"""
)

#: Apply a worker's changes, in order. ARGV[1]: the worker; ARGV[2]: a JSON array of
#: quintuples: kind, position, entry id, expected state, new state. Nothing changes a message
#: that is no longer this worker's (another took it over), except the answer to a request
#: this worker wrote.
#:   P  pending: if the message is this worker's and in the expected state (the one the worker
#:      last saw).
#:   R  restore: if the message is this worker's and in the expected state (this worker's
#:      pending), back to the new state (the one before).
#: A P or R whose message is already in its new state counts as applied: a batch sent again
#: after its answer was lost changes nothing twice (outcomes and releases are idempotent too).
#:   O  outcome: if the state is the expected one and the message this worker's; or if the
#:      outcome is ``sent`` over this worker's pending or over an unknown state (the answer is
#:      the evidence).
#:   X  release: a message this worker will not send goes back to the end of the queue.
#: A pending mark also notes when (``written``) and the recipient's latest position
#: (``recipients``); an ``unknown`` outcome of a message a status matched while it was pending
#: is stored ``sent`` with that status's message id (settled).
#: A decided message still this worker's is acknowledged and deleted from the queue.
#: Returns a string of one 1/0 per change: applied or not.
APPLY: Final = (
    _PRELUDE
    + r"""
local me = ARGV[1]
local ops = cjson.decode(ARGV[2])
local out = {}
local now = false
-- every state read at once, kept here as it changes, and written at once at the end: one
-- call for each kind of write, whatever the size of the batch
local positions = {}
for i = 2, #ops, 5 do positions[#positions + 1] = ops[i] end
local states, changed, written, recipients, ids, acked = {}, {}, {}, {}, {}, {}
if #positions > 0 then
  local read = redis.call('HMGET', STATE, unpack(positions))
  for j, position in ipairs(positions) do states[position] = read[j] end
end
for i = 1, #ops, 5 do
  local kind, position, sid = ops[i], ops[i + 1], ops[i + 2]
  local expected, new = ops[i + 3], ops[i + 4]
  local cur = states[position]
  local s = cur and string.sub(cur, 1, 1)
  -- the answer to this worker's own pending mark (it names the worker): no need to ask
  -- the consumer group whose entry it is
  local mine = (kind == 'O' and cur == expected and s == 'p'
                and string.sub(cur, HEAD + 1) == me) or owner(sid) == me
  local done = 0
  if kind == 'P' or kind == 'R' then
    if mine and cur == new then
      done = 1  -- applied already: the same batch again, its answer lost
    elseif mine and cur == expected then
      states[position], changed[position] = new, true
      move(s, string.sub(new, 1, 1))
      s = string.sub(new, 1, 1)
      if kind == 'P' then
        if not now then
          local t = redis.call('TIME')
          now = t[1] .. '.' .. string.format('%06d', t[2])
        end
        written[position] = now
        recipients[string.sub(new, 2, 33)] = position
      end
      done = 1
    end
  elseif kind == 'O' then
    local ns = string.sub(new, 1, 1)
    local evidence = ns == 's' and (cur == expected or s == 'u')
    if cur and ((mine and cur == expected) or evidence) then
      if ns == 'u' then
        local proof = redis.call('HGET', EVIDENCE, position)
        if proof then
          new = 's' .. string.sub(new, 2, HEAD) .. proof .. '\31'
          ns = 's'
          count('settled', 1)
        end
      end
      states[position], changed[position] = new, true
      move(s, ns)
      if ns == 'f' then failure(new, 1) end
      if ns == 's' then
        local id = message_id(new)
        if id ~= '' then ids[id] = position end
      end
      s = ns
      done = 1
    end
  elseif kind == 'X' and mine then
    local entry = redis.call('XRANGE', QUEUE, sid, sid)
    finish(sid)
    if entry[1] then redis.call('XADD', QUEUE, '*', unpack(entry[1][2])) end
    mine = false
    done = 1
  end
  if mine and decided(s) then acked[#acked + 1] = sid end
  out[#out + 1] = done
end
local function hset(key, fields)
  local flat = {}
  for field, value in pairs(fields) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
for position in pairs(changed) do changed[position] = states[position] end
hset(STATE, changed)
hset(WRITTEN, written)
hset(RECIPIENTS, recipients)
hset(IDS, ids)
flush_counts()
if #acked > 0 then
  redis.call('XACK', QUEUE, GROUP, unpack(acked))
  redis.call('XDEL', QUEUE, unpack(acked))
  check_done()
end
return table.concat(out)
"""
)


#: Keep a live worker's messages from being taken over: reset their idle time. ARGV[1]: the
#: worker; then entry ids. Returns how many are still this worker's.
HEARTBEAT: Final = (
    _PRELUDE
    + r"""
local kept = 0
for i = 2, #ARGV do
  if owner(ARGV[i]) == ARGV[1] then
    redis.call('XCLAIM', QUEUE, GROUP, ARGV[1], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""
)

#: Record delivery statuses. ARGV[1]: seconds a status may be earlier than the write it
#: matches by recipient; then quintuples: message id, rank (1 sent, 2 failed, 3 delivered,
#: 4 read), error code ('' for none), timestamp, recipient digest ('' to match by id only).
#: A status matches the message accepted with its id (or matched before); else the latest
#: pending or unknown message of its recipient written before it: an unknown one is settled
#: (``sent`` with the status's id), a pending one keeps it as evidence for its outcome. Each
#: message id keeps its most advanced status. Returns one code per status: 1 message,
#: 2 settled, 3 in flight, 0 none. Keys made after a kept campaign ended expire with it.
DELIVER: Final = (
    _PRELUDE
    + r"""
local slack = tonumber(ARGV[1])
local out = {}
local function keep(id, rank, code, position)
  local cur = redis.call('HGET', DELIVERIES, id)
  if cur then
    local r, c, p = string.match(cur, '^(%d+):([^:]*):(.*)$')
    if tonumber(r) >= rank then rank, code = tonumber(r), c end
    if p ~= '' then position = p end
  end
  redis.call('HSET', DELIVERIES, id, rank .. ':' .. code .. ':' .. position)
end
for i = 2, #ARGV, 5 do
  local id, rank, code = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local at, recipient = tonumber(ARGV[i + 3]), ARGV[i + 4]
  local position = redis.call('HGET', IDS, id)
  if not position then
    local cur = redis.call('HGET', DELIVERIES, id)
    if cur then position = string.match(cur, ':([^:]*)$') end
    if position == '' then position = nil end
  end
  local match = 0
  if position then
    keep(id, rank, code, position)
    match = 1
  elseif recipient ~= '' then
    local p = redis.call('HGET', RECIPIENTS, recipient)
    local cur = p and redis.call('HGET', STATE, p)
    local s = cur and string.sub(cur, 1, 1)
    local w = p and tonumber(redis.call('HGET', WRITTEN, p) or '')
    if (s == 'p' or s == 'u') and string.sub(cur, 2, 33) == recipient and w
        and w <= at + slack then
      keep(id, rank, code, p)
      if s == 'p' then
        redis.call('HSETNX', EVIDENCE, p, id)
        match = 3
      else
        redis.call('HSET', STATE, p, 's' .. string.sub(cur, 2, HEAD) .. id .. '\31')
        move('u', 's')
        count('settled', 1)
        redis.call('HSET', IDS, id, p)
        match = 2
      end
    end
  end
  out[#out + 1] = match
end
local keep = tonumber(redis.call('HGET', META, 'keep') or '0')
if keep > 0 and redis.call('HGET', META, 'done') then
  for _, key in ipairs(KEYS) do
    if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, keep) end
  end
end
flush_counts()
return out
"""
)

#: Everything a report needs, in one round trip: {meta fields, counts fields, queue length,
#: accepted messages by their most advanced status {rank 1..4}, {error code, count...} of
#: those that failed}. Reads every recorded status: O(statuses).
REPORT: Final = (
    _PRELUDE
    + r"""
local best, codes = {}, {}
local flat = redis.call('HGETALL', DELIVERIES)
for i = 1, #flat, 2 do
  local r, c, p = string.match(flat[i + 1], '^(%d+):([^:]*):(.*)$')
  r = tonumber(r)
  if p ~= '' and (best[p] == nil or r > best[p]) then
    local cur = redis.call('HGET', STATE, p)
    if cur and string.sub(cur, 1, 1) == 's' then
      best[p] = r
      codes[p] = c
    end
  end
end
local ranks, failed = {0, 0, 0, 0}, {}
for p, r in pairs(best) do
  ranks[r] = ranks[r] + 1
  if r == 2 then failed[codes[p]] = (failed[codes[p]] or 0) + 1 end
end
local by_code = {}
for c, n in pairs(failed) do
  by_code[#by_code + 1] = c
  by_code[#by_code + 1] = n
end
return {redis.call('HGETALL', META), redis.call('HGETALL', COUNTS), redis.call('XLEN', QUEUE),
        ranks, by_code}
"""
)
