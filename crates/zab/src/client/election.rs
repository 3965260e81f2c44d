//! The leader election recipe (recipes.mdx "Leader Election", reference §6.1): contenders
//! under /app/leader_election named `guid-<session hex>-n_<sequence>`. The leader's token is
//! its znode's czxid, which a protected resource can use for fencing. While leading it uses
//! the resource once per think interval; after a few it resigns and rejoins, so a run sees
//! several terms. Each term spends one unit of the client's budget.

use super::app::ProgramSettings;
use super::contention::{Contention, Flavor};
use crate::client_api::{RecipeEvent, SessionId};
use crate::ids::Zxid;
use crate::path::Path;

/// Uses of the protected resource per term.
pub const TERM_USES: u32 = 3;

pub const ELECTION_DIR: &str = "/app/leader_election";

/// The name prefix carrying the session id, by which a contender finds its own znode after a
/// create whose answer was lost.
pub fn guid_prefix(session: SessionId) -> String {
    format!("guid-{:x}-n_", session.0)
}

pub fn election(settings: &ProgramSettings) -> Contention {
    let flavor = Flavor {
        parents: &["/app", ELECTION_DIR],
        prefix: guid_prefix,
        fencing: true,
        use_resource: true,
        hold_intervals: TERM_USES,
        acquired: |path: Path, token: Zxid| RecipeEvent::Leading { path, token },
        released: RecipeEvent::NotLeading,
    };
    Contention::new(flavor, settings.think_ms, settings.ops)
}
