//! The Redis state store, for several gateway nodes that must share one
//! user's counters and restrictions.
//!
//! Counters and sets are updated by Lua scripts, so each update is atomic
//! on the server whatever node sends it. Layout under the key prefix `P`:
//!
//! | key                  | type       | content                                   |
//! |----------------------|------------|-------------------------------------------|
//! | `P:c:WINDOW:KEY`     | hash       | bucket index → count (60 buckets/window)  |
//! | `P:s:SET`            | sorted set | member, scored by its expiry time         |
//! | `P:m:KEY`            | string     | `EXPIRY\|value`                           |
//! | `P:r:USER`           | hash       | kind → restriction (JSON), `kind:until`   |
//! | `P:restricted`       | set        | users with restrictions                   |
//!
//! Times inside the values come from the host clock (virtual when
//! replaying); Redis `EXPIRE` is set as well, in real seconds, so idle
//! keys disappear on their own.

use super::{RestrictedUser, StateStore, StoreError};
use mailward_core::state::{BUCKETS, CounterUpdate, MIN_WINDOW, Restriction, RestrictionKind};
use redis::{Client, Connection, Script};
use std::sync::Mutex;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse.
const POOL: usize = 16;

const COUNTERS_LUA: &str = r"
local now = tonumber(ARGV[1])
local buckets = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[1 + 2 * i])
  local amount = tonumber(ARGV[2 + 2 * i])
  local width = math.max(1, math.floor(window / buckets))
  local cur = math.floor(now / width)
  local oldest = cur - (buckets - 1)
  if amount > 0 then redis.call('HINCRBY', key, cur, amount) end
  local all = redis.call('HGETALL', key)
  local total = 0
  for j = 1, #all, 2 do
    if tonumber(all[j]) < oldest then
      redis.call('HDEL', key, all[j])
    else
      total = total + tonumber(all[j + 1])
    end
  end
  if #all > 0 then redis.call('EXPIRE', key, window + width) end
  out[i] = total
end
return out
";

const SEEN_LUA: &str = r"
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) > now then out[#out + 1] = 0 else out[#out + 1] = 1 end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('EXPIRE', KEYS[1], math.max(ttl, 1))
return out
";

/// Keeps the old restriction of a kind when it outlasts the new one
/// (`Restriction::merge_into`'s rule).
const RESTRICT_LUA: &str = r"
local kind, now, new_until = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local old = redis.call('HGET', KEYS[1], kind .. ':until')
local keep = false
if old then
  if old == 'none' then
    keep = true
  elseif tonumber(old) > now then
    keep = new_until ~= 'none' and tonumber(old) >= tonumber(new_until)
  end
end
if not keep then
  redis.call('HSET', KEYS[1], kind, ARGV[4], kind .. ':until', new_until)
  redis.call('SADD', KEYS[2], ARGV[5])
end
return keep and 0 or 1
";

fn rd(e: impl std::fmt::Display) -> StoreError {
    StoreError::Redis(e.to_string())
}

/// The Redis backend.
pub struct RedisStore {
    client: Client,
    prefix: String,
    pool: Mutex<Vec<Connection>>,
    counters: Script,
    seen: Script,
    restrict: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.client.get_connection_info().addr().to_string())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (checking the server answers) and keeps keys
    /// under `prefix`.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(rd)?;
        let store = RedisStore {
            client,
            prefix: prefix.to_string(),
            pool: Mutex::new(Vec::new()),
            counters: Script::new(COUNTERS_LUA),
            seen: Script::new(SEEN_LUA),
            restrict: Script::new(RESTRICT_LUA),
        };
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Deletes every key under the prefix (a replay's scratch state);
    /// returns how many.
    pub fn delete_all(&self) -> Result<usize, StoreError> {
        let pattern = format!("{}:*", self.prefix);
        self.with(|c| {
            let mut cursor: u64 = 0;
            let mut deleted = 0usize;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)?;
                if !keys.is_empty() {
                    deleted += redis::cmd("DEL").arg(&keys).query::<usize>(c)?;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
        })
    }

    fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        let c = self.client.get_connection_with_timeout(TIMEOUT).map_err(rd)?;
        c.set_read_timeout(Some(TIMEOUT)).map_err(rd)?;
        c.set_write_timeout(Some(TIMEOUT)).map_err(rd)?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection; a connection that failed is
    /// dropped rather than reused.
    fn with<R>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<R>) -> Result<R, StoreError> {
        let mut c = self.connection()?;
        match f(&mut c) {
            Ok(r) => {
                let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < POOL {
                    pool.push(c);
                }
                Ok(r)
            }
            Err(e) => Err(rd(e)),
        }
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:r:{user}", self.prefix)
    }

    fn index_key(&self) -> String {
        format!("{}:restricted", self.prefix)
    }

    fn memory_key(&self, key: &str) -> String {
        format!("{}:m:{key}", self.prefix)
    }

    fn read_user(&self, c: &mut Connection, user: &str, now: u64) -> Result<Vec<Restriction>, StoreError> {
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.user_key(user))
            .query(c)
            .map_err(rd)?;
        let mut list = Vec::new();
        for (field, value) in fields {
            if field.contains(':') {
                continue;
            }
            let r: Restriction = serde_json::from_str(&value).map_err(|e| StoreError::Corrupt {
                key: format!("{} {field}", self.user_key(user)),
                message: e.to_string(),
            })?;
            if r.active_at(now) {
                list.push(r);
            }
        }
        list.sort_by_key(|r| r.kind);
        Ok(list)
    }
}

impl StateStore for RedisStore {
    fn counters(&self, now: u64, updates: &[CounterUpdate]) -> Result<Vec<u64>, StoreError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.counters.prepare_invoke();
        inv.arg(now).arg(BUCKETS);
        for u in updates {
            let window = u.window.max(MIN_WINDOW);
            inv.key(format!("{}:c:{window}:{}", self.prefix, u.key))
                .arg(window)
                .arg(u.amount);
        }
        self.with(|c| inv.invoke::<Vec<u64>>(c))
    }

    fn seen(&self, now: u64, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.seen.prepare_invoke();
        inv.key(format!("{}:s:{set}", self.prefix)).arg(now).arg(ttl);
        for m in members {
            inv.arg(m);
        }
        let flags: Vec<u8> = self.with(|c| inv.invoke(c))?;
        Ok(flags.into_iter().map(|f| f == 1).collect())
    }

    fn remember(&self, now: u64, key: &str, value: &str, ttl: u32) -> Result<(), StoreError> {
        let stored = format!("{}|{value}", now + u64::from(ttl));
        self.with(|c| {
            redis::cmd("SET")
                .arg(self.memory_key(key))
                .arg(stored)
                .arg("EX")
                .arg(ttl.max(1))
                .query::<()>(c)
        })
    }

    fn recall(&self, now: u64, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.memory_key(k));
        }
        let values: Vec<Option<String>> = self.with(|c| cmd.query(c))?;
        Ok(values
            .into_iter()
            .map(|v| {
                let v = v?;
                let (exp, text) = v.split_once('|')?;
                (exp.parse::<u64>().ok()? > now).then(|| text.to_string())
            })
            .collect())
    }

    fn restrict(&self, now: u64, user: &str, r: &Restriction) -> Result<(), StoreError> {
        let json = serde_json::to_string(r).map_err(rd)?;
        let until = r.until.map_or_else(|| "none".to_string(), |u| u.to_string());
        let mut inv = self.restrict.prepare_invoke();
        inv.key(self.user_key(user))
            .key(self.index_key())
            .arg(r.kind.as_str())
            .arg(now)
            .arg(until)
            .arg(json)
            .arg(user);
        self.with(|c| inv.invoke::<i64>(c)).map(drop)
    }

    fn restrictions(&self, now: u64, user: &str) -> Result<Vec<Restriction>, StoreError> {
        let mut c = self.connection()?;
        let out = self.read_user(&mut c, user, now)?;
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        Ok(out)
    }

    fn restricted_users(&self, now: u64) -> Result<Vec<RestrictedUser>, StoreError> {
        let mut c = self.connection()?;
        let mut users: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.index_key())
            .query(&mut c)
            .map_err(rd)?;
        users.sort();
        let mut out = Vec::new();
        for user in users {
            let restrictions = self.read_user(&mut c, &user, now)?;
            if !restrictions.is_empty() {
                out.push(RestrictedUser { user, restrictions });
            }
        }
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        Ok(out)
    }

    fn release(&self, user: &str, kind: Option<RestrictionKind>) -> Result<bool, StoreError> {
        let key = self.user_key(user);
        let index = self.index_key();
        self.with(|c| {
            let removed: i64 = match kind {
                None => redis::cmd("DEL").arg(&key).query(c)?,
                Some(k) => redis::cmd("HDEL")
                    .arg(&key)
                    .arg(k.as_str())
                    .arg(format!("{}:until", k.as_str()))
                    .query(c)?,
            };
            let left: i64 = redis::cmd("EXISTS").arg(&key).query(c)?;
            if left == 0 {
                redis::cmd("SREM").arg(&index).arg(user).query::<i64>(c)?;
            }
            Ok(removed > 0)
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Redis has applied every write by the time it answered; its own
        // persistence (RDB/AOF) is the server's configuration.
        Ok(())
    }
}
