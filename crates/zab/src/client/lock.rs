//! The exclusive lock recipe (recipes.mdx "Locks", WriteLock): contenders under /app/lock
//! named `x-<session hex>-<sequence>`. The holder keeps the lock for one think interval, then
//! releases it and queues up again. Each acquisition spends one unit of the client's budget.

use super::app::ProgramSettings;
use super::contention::{Contention, Flavor};
use crate::client_api::{RecipeEvent, SessionId};
use crate::ids::Zxid;
use crate::path::Path;

pub const LOCK_DIR: &str = "/app/lock";

/// WriteLock's `"x-" + sessionId + "-"`, in hex.
pub fn lock_prefix(session: SessionId) -> String {
    format!("x-{:x}-", session.0)
}

pub fn lock(settings: &ProgramSettings) -> Contention {
    let flavor = Flavor {
        parents: &["/app", LOCK_DIR],
        prefix: lock_prefix,
        fencing: false,
        use_resource: false,
        hold_intervals: 1,
        acquired: |path: Path, _token: Zxid| RecipeEvent::LockAcquired { path },
        released: RecipeEvent::LockReleased,
    };
    Contention::new(flavor, settings.think_ms, settings.ops)
}
