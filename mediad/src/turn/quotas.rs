//! Node-wide allocation counts, shared by every core's server so `total-quota` and
//! `user-quota` hold for the node.

use std::collections::HashMap;
use std::sync::Mutex;

/// Touched on Allocate and on removal only, never per packet.
#[derive(Debug, Default)]
pub struct Quotas(Mutex<Counts>);

#[derive(Debug, Default)]
struct Counts {
    per_user: HashMap<String, usize>,
    /// Kept, not summed: REST usernames carry a timestamp, so there can be as many
    /// users as allocations.
    total: usize,
}

impl Quotas {
    /// Count one more allocation for `user` if both quotas allow it.
    pub(crate) fn take(&self, user: &str, user_quota: usize, total_quota: usize) -> bool {
        let mut c = self.0.lock().unwrap();
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if (user_quota > 0 && mine >= user_quota) || (total_quota > 0 && c.total >= total_quota) {
            return false;
        }
        *c.per_user.entry(user.to_string()).or_default() += 1;
        c.total += 1;
        true
    }

    pub(crate) fn give_back(&self, user: &str) {
        let mut c = self.0.lock().unwrap();
        if let Some(n) = c.per_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(user);
            }
            c.total -= 1;
        }
    }
}
