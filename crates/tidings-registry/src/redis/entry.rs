//! How one device entry is stored in a user's hash and one gateway entry in a
//! room's hash, and the Lua scripts that write entries atomically.
//!
//! Device entries: field the device id, value `<gateway>|<expires_at_ms>`,
//! where `expires_at_ms` is a Unix time in milliseconds on the Redis server's
//! clock. The expiry is the text after the *last* `|`, so a gateway address
//! may itself contain `|`.
//!
//! Room entries: field the gateway address, value `<expires_at_ms>`.

use std::time::Duration;

use redis::Script;

/// Longest ttl written; longer ones are cut to it so the arithmetic in Lua
/// (doubles) and `PEXPIRE` stay well inside their ranges.
const MAX_TTL_MS: u64 = 365 * 24 * 60 * 60 * 1000;

/// `ttl` in whole milliseconds, rounded up, at least 1 and at most a year.
pub(super) fn ttl_millis(ttl: Duration) -> u64 {
    let millis = ttl.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis)
        .unwrap_or(MAX_TTL_MS)
        .clamp(1, MAX_TTL_MS)
}

/// The gateway of a stored value if the entry is still live at `now_ms`;
/// `None` for an expired or unreadable value.
pub(super) fn live_gateway(value: &str, now_ms: u64) -> Option<&str> {
    let (gateway, expires_at) = value.rsplit_once('|')?;
    let expires_at: u64 = expires_at.parse().ok()?;
    (expires_at > now_ms).then_some(gateway)
}

/// Whether a room entry's stored expiry is still ahead of `now_ms`; an
/// unreadable value counts as expired.
pub(super) fn room_entry_live(value: &str, now_ms: u64) -> bool {
    value
        .parse::<u64>()
        .is_ok_and(|expires_at| expires_at > now_ms)
}

/// Milliseconds since the Unix epoch from a `TIME` reply (`[seconds, micros]`).
pub(super) fn time_reply_millis(reply: &[u64]) -> Option<u64> {
    match reply {
        [seconds, micros] => Some(seconds * 1000 + micros / 1000),
        _ => None,
    }
}

/// `KEYS[1]` the user's hash; `ARGV` device, gateway, ttl in ms (>= 1).
///
/// Drops the user's expired (or unreadable) entries, writes this one with an
/// expiry of server time + ttl, and extends the key's own expiry to at least
/// ttl, so the key outlives every live entry and vanishes once all are gone.
const REGISTER_LUA: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[3])
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local expires_at = tonumber(string.match(entries[i + 1], '|(%d+)$'))
  if expires_at == nil or expires_at <= now then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. string.format('%.0f', now + ttl))
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"#;

/// `KEYS[1]` the user's hash; `ARGV` device, gateway.
///
/// Deletes the device's entry only if its gateway part equals `ARGV[2]`;
/// returns 1 if it deleted one, else 0. Redis drops the key with its last field.
const UNREGISTER_LUA: &str = r#"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then
  return 0
end
if string.match(value, '^(.*)|%d+$') ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"#;

/// `KEYS[1]` the room's hash; `ARGV` gateway, ttl in ms (>= 1).
///
/// Drops the room's expired (or unreadable) gateway entries, writes this
/// gateway with an expiry of server time + ttl, and extends the key's own
/// expiry to at least ttl, as `REGISTER_LUA` does for a user's devices.
const JOIN_ROOM_LUA: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local expires_at = tonumber(entries[i + 1])
  if expires_at == nil or expires_at <= now then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + ttl))
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"#;

/// The scripts, hashed once; invoked with `EVALSHA` (loaded on demand).
pub(super) struct Scripts {
    pub(super) register: Script,
    pub(super) unregister: Script,
    pub(super) join_room: Script,
    pub(super) record_last_seen: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            register: Script::new(REGISTER_LUA),
            unregister: Script::new(UNREGISTER_LUA),
            join_room: Script::new(JOIN_ROOM_LUA),
            record_last_seen: super::presence::record_last_seen_script(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_gateway_reads_the_expiry_after_the_last_bar() {
        assert_eq!(
            live_gateway("10.0.0.7:7401|2000", 1999),
            Some("10.0.0.7:7401")
        );
        assert_eq!(
            live_gateway("gw|with|bars|2000", 1000),
            Some("gw|with|bars")
        );
        assert_eq!(live_gateway("10.0.0.7:7401|2000", 2000), None);
        assert_eq!(live_gateway("no-expiry", 0), None);
        assert_eq!(live_gateway("gw|soon", 0), None);
    }

    #[test]
    fn room_entries_are_live_until_their_expiry() {
        assert!(room_entry_live("2000", 1999));
        assert!(!room_entry_live("2000", 2000));
        assert!(!room_entry_live("soon", 0));
        assert!(!room_entry_live("", 0));
    }

    #[test]
    fn ttl_is_whole_millis_between_one_ms_and_a_year() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::from_secs(30)), 30_000);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn time_reply_becomes_millis() {
        assert_eq!(
            time_reply_millis(&[1_700_000_000, 123_456]),
            Some(1_700_000_000_123)
        );
        assert_eq!(time_reply_millis(&[1]), None);
    }
}
