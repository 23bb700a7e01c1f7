package redis

import goredis "github.com/redis/go-redis/v9"

// The waiting room's atomic operations as Lua scripts. Every key of the
// waiting room shares one hash tag, so the scripts also run on Redis Cluster
// (one slot). Times are integer milliseconds; epochs and floats travel as
// strings and are never computed on in Lua (doubles).
//
// Keys of a room R (prefix P = "{<prefix>}:"):
//
//	P r:R        hash  id cid wid epoch jf op cl tail head pre unc live share o_rate o_dev o_since o_sat o_shead
//	P r:R:p      hash  person → ticket sequence number
//	P r:R:b      zset  admitted batches "from:to:deadline" scored by to
//	P r:R:bu     hash  batch → unclaimed count
//	P r:R:c      hash  ticket → pass record "person:claimedAt:expires:ended"
//	P r:R:e      zset  ticket scored by its record's next event (expiry, then removal)
//
// Global: P g (settings, rate, tokens, owed, active, unclaimed, counters,
// controller), P lease (holder, until, token), P rooms (set of room ids),
// P stage (count, errors, lat) and P inflight (node → "n:at").

// prelude holds the helpers every room script uses.
const prelude = `
local function open_room(rk, now)
  local pre = tonumber(redis.call('HGET', rk, 'pre'))
  if pre < 0 and now >= tonumber(redis.call('HGET', rk, 'op')) then
    redis.call('HSET', rk, 'pre', redis.call('HGET', rk, 'tail'))
    return 1
  end
  return 0
end
local function fenced(lk, holder, token)
  local l = redis.call('HMGET', lk, 'holder', 'token')
  return l[1] == holder and tonumber(l[2]) == tonumber(token)
end
local function split(s)
  local out = {}
  for part in string.gmatch(s .. ':', '([^:]*):') do out[#out + 1] = part end
  return out
end
`

// join: KEYS rk rp g rooms; ARGV id cid wid epoch jf op cl person allowNew now
var joinScript = goredis.NewScript(prelude + `
local rk, rp, g = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', rk) == 0 then
  redis.call('HSET', rk, 'id', ARGV[1], 'cid', ARGV[2], 'wid', ARGV[3], 'epoch', ARGV[4],
    'jf', ARGV[5], 'op', ARGV[6], 'cl', ARGV[7], 'tail', 0, 'head', 0, 'pre', -1, 'unc', 0, 'live', 0, 'share', '0')
  redis.call('SADD', KEYS[4], ARGV[1])
end
local froze = open_room(rk, tonumber(ARGV[10]))
local seq = redis.call('HGET', rp, ARGV[8])
local found, created = 0, 0
if seq then
  found = 1
  redis.call('HINCRBY', g, 'rejoins', 1)
elseif ARGV[9] == '1' then
  seq = redis.call('HINCRBY', rk, 'tail', 1) - 1
  redis.call('HSET', rp, ARGV[8], seq)
  redis.call('HINCRBY', g, 'arrivals', 1)
  found, created = 1, 1
else
  seq = -1
end
return {tonumber(seq), found, created, froze, redis.call('HGETALL', rk)}
`)

// rejoin: KEYS rk rp g; ARGV person oldSeq allowNew now
var rejoinScript = goredis.NewScript(prelude + `
local rk, rp, g = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', rk) == 0 then return redis.error_reply('NOROOM') end
local froze = open_room(rk, tonumber(ARGV[4]))
local cur = redis.call('HGET', rp, ARGV[1])
if cur and tonumber(cur) ~= tonumber(ARGV[2]) then
  return {tonumber(cur), 1, 0, froze, redis.call('HGETALL', rk)}
end
if ARGV[3] == '1' then
  local seq = redis.call('HINCRBY', rk, 'tail', 1) - 1
  redis.call('HSET', rp, ARGV[1], seq)
  redis.call('HINCRBY', g, 'arrivals', 1)
  redis.call('HINCRBY', g, 'rejoins', -1)
  return {seq, 1, 1, froze, redis.call('HGETALL', rk)}
end
if cur then return {tonumber(cur), 1, 0, froze, redis.call('HGETALL', rk)} end
return {-1, 0, 0, froze, redis.call('HGETALL', rk)}
`)

// open: KEYS rk; ARGV now
var openScript = goredis.NewScript(prelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOROOM') end
local opened = open_room(KEYS[1], tonumber(ARGV[1]))
return {opened, redis.call('HGETALL', KEYS[1])}
`)

// claim: KEYS rk rb rbu rc re g; ARGV seq eff person now ttl
var claimScript = goredis.NewScript(prelude + `
local rk, rb, rbu, rc, re, g = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('EXISTS', rk) == 0 then return redis.error_reply('NOROOM') end
local rec = redis.call('HGET', rc, ARGV[1])
if rec then return rec end
local eff, now = tonumber(ARGV[2]), tonumber(ARGV[4])
if eff >= tonumber(redis.call('HGET', rk, 'head')) then return redis.error_reply('NOTADMITTED') end
local m = redis.call('ZRANGEBYSCORE', rb, '(' .. ARGV[2], '+inf', 'LIMIT', 0, 1)
if #m == 0 then return '' end
local b = split(m[1])
if tonumber(b[1]) > eff or now >= tonumber(b[3]) then return '' end
if redis.call('HINCRBY', rbu, m[1], -1) < 0 then
  redis.call('HINCRBY', rbu, m[1], 1)
  return ''
end
redis.call('HINCRBY', rk, 'unc', -1)
redis.call('HINCRBY', rk, 'live', 1)
redis.call('HINCRBY', g, 'unclaimed', -1)
redis.call('HINCRBY', g, 'active', 1)
redis.call('HINCRBY', g, 'claimed', 1)
local expires = now + tonumber(ARGV[5])
rec = ARGV[3] .. ':' .. ARGV[4] .. ':' .. string.format('%d', expires) .. ':'
redis.call('HSET', rc, ARGV[1], rec)
redis.call('ZADD', re, expires, ARGV[1])
return rec
`)

// endpass: KEYS rk rc g; ARGV seq used now
var endPassScript = goredis.NewScript(prelude + `
local rk, rc, g = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', rk) == 0 then return redis.error_reply('NOROOM') end
local rec = redis.call('HGET', rc, ARGV[1])
if not rec then return '' end
local r = split(rec)
if r[4] ~= '' or tonumber(ARGV[3]) >= tonumber(r[3]) then return rec end
local reason, counter = 'left', 'left'
if ARGV[2] == '1' then reason, counter = 'pass_used', 'used' end
redis.call('HSET', rc, ARGV[1], r[1] .. ':' .. r[2] .. ':' .. r[3] .. ':' .. reason)
redis.call('HINCRBY', rk, 'live', -1)
redis.call('HINCRBY', g, 'active', -1)
redis.call('HINCRBY', g, counter, 1)
return rec
`)

// lease: KEYS lease; ARGV node now ttl
var leaseScript = goredis.NewScript(`
local l = redis.call('HMGET', KEYS[1], 'holder', 'until', 'token')
local holder, till, token = l[1] or '', tonumber(l[2] or '0'), tonumber(l[3] or '0')
local now = tonumber(ARGV[2])
if holder == ARGV[1] or holder == '' or now >= till then
  if holder ~= ARGV[1] then token = token + 1 end
  till = now + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', string.format('%d', till), 'token', token)
  return {1, ARGV[1], token, string.format('%d', till)}
end
return {0, holder, token, string.format('%d', till)}
`)

// release: KEYS lease; ARGV node
var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'holder', '', 'until', 0)
end
return 1
`)

// admit: KEYS rk rb rbu g lease; ARGV holder token n now deadline share o_rate o_dev o_since o_sat o_shead
var admitScript = goredis.NewScript(prelude + `
local rk, rb, rbu, g = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not fenced(KEYS[5], ARGV[1], ARGV[2]) then return redis.error_reply('FENCED') end
if redis.call('EXISTS', rk) == 0 then return redis.error_reply('NOROOM') end
local now = tonumber(ARGV[4])
open_room(rk, now)
redis.call('HSET', rk, 'share', ARGV[6], 'o_rate', ARGV[7], 'o_dev', ARGV[8], 'o_since', ARGV[9], 'o_sat', ARGV[10], 'o_shead', ARGV[11])
local n = tonumber(ARGV[3])
if tonumber(redis.call('HGET', rk, 'pre')) < 0 or n <= 0 then return 0 end
local head = tonumber(redis.call('HGET', rk, 'head'))
local tail = tonumber(redis.call('HGET', rk, 'tail'))
local k = math.min(n, tail - head)
if k <= 0 then return 0 end
local member = string.format('%d:%d:%s', head, head + k, ARGV[5])
redis.call('ZADD', rb, head + k, member)
redis.call('HSET', rbu, member, k)
redis.call('HSET', rk, 'head', head + k)
redis.call('HINCRBY', rk, 'unc', k)
redis.call('HINCRBY', g, 'unclaimed', k)
redis.call('HINCRBY', g, 'admitted', k)
return k
`)

// expire: KEYS rk rb rbu rc re g; ARGV now limit
var expireScript = goredis.NewScript(prelude + `
local rk, rb, rbu, rc, re, g = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('EXISTS', rk) == 0 then return {0, 0} end
local now = tonumber(ARGV[1])
local noshows, expired = 0, 0
local done = false
while not done do
  local ms = redis.call('ZRANGE', rb, 0, 99)
  if #ms == 0 then break end
  for _, m in ipairs(ms) do
    local b = split(m)
    if now < tonumber(b[3]) then done = true break end
    noshows = noshows + tonumber(redis.call('HGET', rbu, m) or '0')
    redis.call('ZREM', rb, m)
    redis.call('HDEL', rbu, m)
  end
end
local due = redis.call('ZRANGEBYSCORE', re, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due, 2 do
  local seq, at = due[i], tonumber(due[i + 1])
  local rec = redis.call('HGET', rc, seq)
  if not rec then
    redis.call('ZREM', re, seq)
  else
    local r = split(rec)
    local claimed, expires = tonumber(r[2]), tonumber(r[3])
    if at == expires then
      if r[4] == '' then
        redis.call('HSET', rc, seq, r[1] .. ':' .. r[2] .. ':' .. r[3] .. ':pass_expired')
        expired = expired + 1
      end
      redis.call('ZADD', re, expires + (expires - claimed), seq)
    else
      redis.call('HDEL', rc, seq)
      redis.call('ZREM', re, seq)
    end
  end
end
if noshows > 0 or expired > 0 then
  redis.call('HINCRBY', rk, 'unc', 0 - noshows)
  redis.call('HINCRBY', rk, 'live', 0 - expired)
  redis.call('HINCRBY', g, 'unclaimed', 0 - noshows)
  redis.call('HINCRBY', g, 'active', 0 - expired)
  redis.call('HINCRBY', g, 'noshows', noshows)
  redis.call('HINCRBY', g, 'pexpired', expired)
  redis.call('HINCRBY', g, 'owed', noshows + expired)
end
return {noshows, expired}
`)

// savetick: KEYS g lease; ARGV holder token rate tokens owedUsed last ctrl decision
var saveTickScript = goredis.NewScript(prelude + `
local g = KEYS[1]
if not fenced(KEYS[2], ARGV[1], ARGV[2]) then return redis.error_reply('FENCED') end
redis.call('HSET', g, 'rate', ARGV[3], 'tokens', ARGV[4], 'last', ARGV[6], 'ctrl', ARGV[7])
local owed = tonumber(redis.call('HGET', g, 'owed') or '0') - tonumber(ARGV[5])
if owed < 0 then owed = 0 end
redis.call('HSET', g, 'owed', owed)
if ARGV[8] ~= '' then redis.call('HINCRBY', g, 'd_' .. ARGV[8], 1) end
return 1
`)

// takestage: KEYS stage inflight lease; ARGV holder token now fresh
var takeStageScript = goredis.NewScript(prelude + `
if not fenced(KEYS[3], ARGV[1], ARGV[2]) then return redis.error_reply('FENCED') end
local s = redis.call('HMGET', KEYS[1], 'count', 'errors', 'lat', 'stays', 'staysum')
redis.call('DEL', KEYS[1])
local now, fresh = tonumber(ARGV[3]), tonumber(ARGV[4])
local inflight = 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local v = split(all[i + 1])
  if now - tonumber(v[2]) <= fresh then
    inflight = inflight + tonumber(v[1])
  else
    redis.call('HDEL', KEYS[2], all[i])
  end
end
return {s[1] or '0', s[2] or '0', s[3] or '0', inflight, s[4] or '0', s[5] or '0'}
`)

// drop: KEYS rk rp rb rbu rc re g rooms; ARGV id
var dropScript = goredis.NewScript(`
local rk, g = KEYS[1], KEYS[7]
if redis.call('EXISTS', rk) == 1 then
  local h = redis.call('HMGET', rk, 'unc', 'live')
  redis.call('HINCRBY', g, 'unclaimed', 0 - tonumber(h[1] or '0'))
  redis.call('HINCRBY', g, 'active', 0 - tonumber(h[2] or '0'))
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('SREM', KEYS[8], ARGV[1])
return 1
`)
