//! Live sessions on this server: ids, expiry, the live-session limit, and
//! what a caller is told about a session that is gone.
//!
//! Sessions live in this process's memory: a restart ends them all, and a
//! second replica does not know them. An id is 128 random bits after the
//! replica's name (`sessions.replica`), which is how a load balancer finds
//! the replica, and how a replica knows an id that is not its own (421,
//! not a silent new session). The id is the only way to reach its session.

mod config;
mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

pub use config::SessionConfig;
pub use error::SessionError;

use crate::host::GrantsUsed;
use crate::runner::{CellSpec, Interpreter, RunError, Runner, SessionSpec};
use crate::sandbox::RunResult;
use crate::tenant::Tenant;

/// Who opened a session: a tenant, through a front end. A session answers
/// only to its owner: another tenant cannot reach it, and an MCP client's
/// model cannot reach a session opened through `/sessions` with another
/// policy, nor the other way round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tenant: Arc<str>,
    pub front: Front,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Api,
    Mcp,
}

impl Owner {
    pub fn new(tenant: &Tenant, front: Front) -> Self {
        Self {
            tenant: tenant.name_arc(),
            front,
        }
    }
}

/// What a caller sees of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub language: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub expires_at: String,
    pub age_seconds: f64,
    pub idle_seconds: f64,
    pub ttl_seconds: u64,
    pub cells_run: u64,
    pub memory_bytes: u64,
    pub alive: bool,
    /// Why the session ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    /// What its cells are granted (for their audit lines, not for clients).
    #[serde(skip)]
    pub grants: GrantsUsed,
}

struct Entry {
    interpreter: Interpreter,
    owner: Owner,
    created: Instant,
    created_wall: SystemTime,
    last_used: Instant,
    ttl: Duration,
    /// The end of the maximum lifetime, whatever the activity.
    hard_end: Instant,
}

impl Entry {
    fn expires(&self) -> Instant {
        (self.last_used + self.ttl).min(self.hard_end)
    }

    fn info(&self, id: &str) -> SessionInfo {
        let now = Instant::now();
        let ended = self.interpreter.ended();
        let wall = |at: Instant| {
            let offset = at.saturating_duration_since(self.created);
            humantime::format_rfc3339_millis(self.created_wall + offset).to_string()
        };
        SessionInfo {
            session_id: id.to_owned(),
            language: self.interpreter.language().to_owned(),
            created_at: wall(self.created),
            expires_at: wall(self.expires()),
            age_seconds: now.duration_since(self.created).as_secs_f64(),
            idle_seconds: now.saturating_duration_since(self.last_used).as_secs_f64(),
            ttl_seconds: self.ttl.as_secs(),
            cells_run: self.interpreter.cells_run(),
            memory_bytes: self.interpreter.memory_bytes(),
            alive: ended.is_none(),
            ended_reason: ended,
            grants: self.interpreter.grants_used().clone(),
        }
    }
}

/// Why a session is gone, kept for a while so its id gets an answer that
/// says so.
#[derive(Clone)]
struct Tombstone {
    reason: String,
    owner: Owner,
    /// Ended by a cell (410) rather than expired or deleted (404).
    by_cell: bool,
    at: Instant,
}

/// How long a gone session's id keeps its explanation, and how many are kept.
const TOMBSTONE_TTL: Duration = Duration::from_secs(3600);
const MAX_TOMBSTONES: usize = 4096;
/// How often expired sessions are swept (and their instances freed).
const SWEEP: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Table {
    live: HashMap<String, Entry>,
    /// Sessions being opened: they count against the limits already.
    opening: usize,
    opening_by_tenant: HashMap<Arc<str>, usize>,
    gone: HashMap<String, Tombstone>,
}

/// The live sessions. Cheap to clone.
#[derive(Clone)]
pub struct Sessions(Arc<Inner>);

struct Inner {
    config: SessionConfig,
    table: Mutex<Table>,
}

impl Sessions {
    /// Starts the sweeper, which ends with the last clone.
    pub fn new(config: SessionConfig) -> Self {
        let sessions = Self(Arc::new(Inner {
            config,
            table: Mutex::default(),
        }));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(sweep(Arc::downgrade(&sessions.0)));
        }
        sessions
    }

    pub fn config(&self) -> &SessionConfig {
        &self.0.config
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.0.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a session for `owner`. `ttl` is its idle expiry (default and
    /// ceiling from the config).
    pub async fn create(
        &self,
        owner: Owner,
        runner: &Runner,
        spec: SessionSpec,
        ttl: Option<u64>,
    ) -> Result<SessionInfo, SessionError> {
        let ttl = self.0.config.ttl(ttl)?;
        let tenant_max = spec.tenant.as_deref().and_then(Tenant::max_live_sessions);
        self.reserve(&owner.tenant, tenant_max)?;
        let reservation = Reservation(self, owner.tenant.clone());
        let hard_end = Instant::now() + self.0.config.max_lifetime();
        let interpreter = runner
            .open_session(spec, hard_end)
            .await
            .map_err(SessionError::Run)?;
        let id = new_id(&self.0.config.replica);
        let now = Instant::now();
        let entry = Entry {
            interpreter,
            owner,
            created: now,
            created_wall: SystemTime::now(),
            last_used: now,
            ttl,
            hard_end,
        };
        let info = entry.info(&id);
        let mut table = self.table();
        table.live.insert(id, entry);
        reservation_into_live(reservation, &mut table);
        metrics::gauge!("goru_sessions_live").set(table.live.len() as f64);
        Ok(info)
    }

    /// Whether `spec` could open now for `owner`: the ttl, the grants and
    /// limits, the live-session limits. Nothing is reserved; callers check
    /// this before waiting for a slot, so a certain refusal waits for nothing.
    pub fn precheck(
        &self,
        owner: &Owner,
        runner: &Runner,
        spec: &mut SessionSpec,
        ttl: Option<u64>,
    ) -> Result<(), SessionError> {
        self.0.config.ttl(ttl)?;
        runner.check_session(spec).map_err(SessionError::Run)?;
        let tenant_max = spec.tenant.as_deref().and_then(Tenant::max_live_sessions);
        let table = self.table();
        self.room(&table, &owner.tenant, tenant_max)
    }

    /// Counts a session being opened against the server's limit and its
    /// tenant's, or refuses.
    fn reserve(&self, tenant: &Arc<str>, tenant_max: Option<usize>) -> Result<(), SessionError> {
        let mut table = self.table();
        self.room(&table, tenant, tenant_max)?;
        table.opening += 1;
        *table.opening_by_tenant.entry(tenant.clone()).or_default() += 1;
        Ok(())
    }

    /// Room for one more session of `tenant`, or why not.
    fn room(
        &self,
        table: &Table,
        tenant: &Arc<str>,
        tenant_max: Option<usize>,
    ) -> Result<(), SessionError> {
        let now = Instant::now();
        let soonest = |table: &Table, only: Option<&str>| {
            table
                .live
                .values()
                .filter(|e| only.is_none_or(|t| *e.owner.tenant == *t))
                .map(|e| e.expires().saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_secs(1))
                .as_secs()
                .clamp(1, 60)
        };
        if let Some(max) = tenant_max {
            let own = table
                .live
                .values()
                .filter(|e| e.owner.tenant == *tenant)
                .count()
                + table.opening_by_tenant.get(tenant).copied().unwrap_or(0);
            if own >= max {
                metrics::counter!("goru_rejected_total", "reason" => "tenant_sessions", "tenant" => tenant.to_string()).increment(1);
                return Err(SessionError::TenantFull {
                    tenant: tenant.to_string(),
                    max,
                    retry_after_secs: soonest(table, Some(tenant)),
                });
            }
        }
        if table.live.len() + table.opening >= self.0.config.max_live {
            metrics::counter!("goru_rejected_total", "reason" => "sessions_full").increment(1);
            return Err(SessionError::Full {
                max: self.0.config.max_live,
                retry_after_secs: soonest(table, None),
            });
        }
        Ok(())
    }

    /// What is known of `owner`'s session `id`.
    pub fn info(&self, owner: &Owner, id: &str) -> Result<SessionInfo, SessionError> {
        let mut table = self.table();
        self.live_entry(&mut table, owner, id).map(|e| e.info(id))
    }

    /// Every live session of `owner`, oldest first.
    pub fn list(&self, owner: &Owner) -> Vec<SessionInfo> {
        let table = self.table();
        let mut all: Vec<_> = table
            .live
            .iter()
            .filter(|(_, e)| e.owner == *owner)
            .map(|(id, e)| e.info(id))
            .collect();
        all.sort_by(|a, b| b.age_seconds.total_cmp(&a.age_seconds));
        all
    }

    /// Ends `owner`'s session `id` now and frees its instance.
    pub fn delete(&self, owner: &Owner, id: &str) -> Result<(), SessionError> {
        let mut table = self.table();
        match self.live_entry(&mut table, owner, id) {
            Ok(_) => {
                bury(&mut table, id, "it was deleted".to_owned(), false);
                Ok(())
            }
            // Ended by a cell and not yet deleted: deleting it is still what
            // the caller asks for, and afterwards its id says it was deleted.
            Err(SessionError::Ended { .. }) => {
                if let Some(tombstone) = table.gone.get_mut(id) {
                    tombstone.reason = "it was deleted".to_owned();
                    tombstone.by_cell = false;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Runs a cell in `owner`'s session `id`. The session's idle clock
    /// restarts when the cell starts and when it ends.
    pub async fn run_cell(
        &self,
        owner: &Owner,
        id: &str,
        cell: CellSpec,
    ) -> Result<(RunResult, SessionInfo), SessionError> {
        let interpreter = {
            let mut table = self.table();
            let entry = self.live_entry(&mut table, owner, id)?;
            entry.last_used = Instant::now();
            entry.interpreter.clone()
        };
        let ran = interpreter.run_cell(cell, self.0.config.cell_wait()).await;
        let mut table = self.table();
        let result = match ran {
            Ok(result) => result,
            Err(RunError::SessionEnded { reason }) => {
                // Deleted or expired while this cell waited: keep that reason.
                if table.live.contains_key(id) {
                    bury(&mut table, id, reason.clone(), true);
                }
                return Err(SessionError::Ended {
                    id: id.to_owned(),
                    reason,
                });
            }
            Err(e) => return Err(SessionError::Run(e)),
        };
        let info = match table.live.get_mut(id) {
            Some(entry) => {
                entry.last_used = Instant::now();
                let info = entry.info(id);
                if let Some(reason) = interpreter.ended() {
                    bury(&mut table, id, reason, true);
                }
                info
            }
            // Deleted or expired while the cell ran.
            None => {
                interpreter.close("the session was deleted while a cell ran");
                let mut info = SessionInfo::gone(id, &interpreter);
                info.ended_reason = table.gone.get(id).map(|t| t.reason.clone());
                info
            }
        };
        Ok((result, info))
    }

    /// `owner`'s live entry for `id`, or why there is none. Expired
    /// sessions are buried on the spot, not only at the next sweep. Another
    /// owner's session is answered like an unknown id: nothing about it.
    fn live_entry<'t>(
        &self,
        table: &'t mut Table,
        owner: &Owner,
        id: &str,
    ) -> Result<&'t mut Entry, SessionError> {
        let here = &self.0.config.replica;
        if let Some(replica) = replica_of(id)
            && replica != here
        {
            return Err(SessionError::OtherReplica {
                id: id.to_owned(),
                replica: replica.to_owned(),
                here: if here.is_empty() {
                    "a replica without a name (sessions.replica)".to_owned()
                } else {
                    format!("{here:?}")
                },
            });
        }
        let foreign = table.live.get(id).is_some_and(|e| e.owner != *owner)
            || table.gone.get(id).is_some_and(|t| t.owner != *owner);
        if foreign {
            return Err(SessionError::NotFound {
                id: id.to_owned(),
                why: None,
            });
        }
        let now = Instant::now();
        // A session is never idle while one of its cells runs.
        let expired = table
            .live
            .get(id)
            .map(|e| e.expires() <= now && !e.interpreter.is_running());
        if expired == Some(true) {
            bury(table, id, "it expired".to_owned(), false);
        }
        if let Some(reason) = table.live.get(id).and_then(|e| e.interpreter.ended()) {
            bury(table, id, reason, true);
        }
        match table.live.get_mut(id) {
            Some(entry) => Ok(entry),
            None => Err(match table.gone.get(id) {
                Some(t) if t.by_cell => SessionError::Ended {
                    id: id.to_owned(),
                    reason: t.reason.clone(),
                },
                Some(t) => SessionError::NotFound {
                    id: id.to_owned(),
                    why: Some(t.reason.clone()),
                },
                None => SessionError::NotFound {
                    id: id.to_owned(),
                    why: None,
                },
            }),
        }
    }

    /// Ends every session whose time is up.
    fn sweep_once(&self) {
        let mut table = self.table();
        let now = Instant::now();
        let done: Vec<(String, String, bool)> = table
            .live
            .iter()
            .filter_map(|(id, e)| match e.interpreter.ended() {
                Some(reason) => Some((id.clone(), reason, true)),
                None if e.expires() <= now && !e.interpreter.is_running() => {
                    Some((id.clone(), "it expired".to_owned(), false))
                }
                None => None,
            })
            .collect();
        for (id, reason, by_cell) in done {
            bury(&mut table, &id, reason, by_cell);
        }
        table
            .gone
            .retain(|_, t| now.duration_since(t.at) < TOMBSTONE_TTL);
        metrics::gauge!("goru_sessions_live").set(table.live.len() as f64);
    }

    /// Ends every session (shutdown).
    pub fn close_all(&self) {
        let mut table = self.table();
        let ids: Vec<String> = table.live.keys().cloned().collect();
        for id in ids {
            bury(&mut table, &id, "the server shut down".to_owned(), false);
        }
    }
}

impl SessionInfo {
    fn gone(id: &str, interpreter: &Interpreter) -> Self {
        let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        Self {
            session_id: id.to_owned(),
            language: interpreter.language().to_owned(),
            created_at: now.clone(),
            expires_at: now,
            age_seconds: 0.0,
            idle_seconds: 0.0,
            ttl_seconds: 0,
            cells_run: interpreter.cells_run(),
            memory_bytes: 0,
            alive: false,
            ended_reason: None,
            grants: interpreter.grants_used().clone(),
        }
    }
}

/// Moves a live session to the tombstones and frees its instance.
fn bury(table: &mut Table, id: &str, reason: String, by_cell: bool) {
    let Some(entry) = table.live.remove(id) else {
        return;
    };
    entry.interpreter.close(&reason);
    if table.gone.len() >= MAX_TOMBSTONES
        && let Some(oldest) = table
            .gone
            .iter()
            .min_by_key(|(_, t)| t.at)
            .map(|(k, _)| k.clone())
    {
        table.gone.remove(&oldest);
    }
    table.gone.insert(
        id.to_owned(),
        Tombstone {
            reason,
            owner: entry.owner,
            by_cell,
            at: Instant::now(),
        },
    );
}

/// Gives a reserved place back if opening fails (or is cancelled).
struct Reservation<'a>(&'a Sessions, Arc<str>);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut table = self.0.table();
        release(&mut table, &self.1);
    }
}

fn release(table: &mut Table, tenant: &Arc<str>) {
    table.opening = table.opening.saturating_sub(1);
    if let Some(n) = table.opening_by_tenant.get_mut(tenant) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            table.opening_by_tenant.remove(tenant);
        }
    }
}

/// The reserved place became a live session: release the reservation under
/// the lock already held, without dropping it twice.
fn reservation_into_live(reservation: Reservation<'_>, table: &mut Table) {
    let tenant = reservation.1.clone();
    std::mem::forget(reservation);
    release(table, &tenant);
}

async fn sweep(sessions: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = sessions.upgrade() else {
            return;
        };
        Sessions(inner).sweep_once();
    }
}

/// The replica an id names (`ses_NAME.HEX`), if any.
pub fn replica_of(id: &str) -> Option<&str> {
    let (replica, _) = id.strip_prefix("ses_")?.split_once('.')?;
    Some(replica)
}

/// 128 bits from the OS's CSPRNG, as 32 hex digits, prefixed so an id is
/// recognisable in logs, after the replica's name when it has one (what a
/// load balancer routes by). Nothing else is in it.
fn new_id(replica: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS could not give randomness: fall back to uuid's own source
        // (also the OS CSPRNG) rather than to anything guessable.
        bytes = *uuid::Uuid::new_v4().as_bytes();
        bytes[..8].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if replica.is_empty() {
        format!("ses_{hex}")
    } else {
        format!("ses_{replica}.{hex}")
    }
}
