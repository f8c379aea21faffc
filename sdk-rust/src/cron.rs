//! Cron schedules of the manifest run a `#[pb_sdk::cron_handler]`.

/// One tick of a schedule, handed to a `#[cron_handler]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The handler name given in the manifest (`func`).
    pub name: String,
    /// The schedule, e.g. `0 8 * * *`.
    pub schedule: String,
    /// The scheduled time of this tick, ms since the Unix epoch.
    pub scheduled_ms: u64,
}
