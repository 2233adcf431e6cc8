//! Sizes and bounds of the group fan-out benchmark: the full run and the
//! `--quick` smoke run. Every loop is bounded by a count and by a time.

use std::time::Duration;

/// Parameters of the group fan-out benchmark.
#[derive(Debug, Clone)]
pub struct GroupsParams {
    /// Group sizes (members, the owner included), one row each.
    pub sizes: Vec<usize>,
    /// `logic.large_group_threshold` of the server: groups with more members
    /// use read diffusion.
    pub large_group_threshold: u64,
    /// Members per set-up call: CreateGroup carries the owner and the first
    /// `setup_batch - 1` members, each AddMembers the next `setup_batch`.
    pub setup_batch: usize,
    /// Time limit of setting one group up; past it the run fails.
    pub setup_time: Duration,
    /// Most member devices online per group, the sender's included.
    pub online: usize,
    /// Messages sent per group and per half of the 1:1 baseline, at most.
    pub messages: u64,
    /// Time limit of the messages of one group (and of each baseline half).
    pub send_time: Duration,
    /// How long one message waits for its pushes before the next is sent.
    pub push_wait: Duration,
    /// Set by `--quick`: figures are a smoke check, not for reporting.
    pub quick: bool,
}

impl GroupsParams {
    /// The full run: about 20 seconds on 2 cores.
    pub fn full() -> Self {
        GroupsParams {
            sizes: vec![10, 100, 500, 5_000, 50_000],
            large_group_threshold: 500,
            setup_batch: 1_000,
            setup_time: Duration::from_secs(90),
            online: 20,
            messages: 100,
            send_time: Duration::from_secs(10),
            push_wait: Duration::from_secs(2),
            quick: false,
        }
    }

    /// A smoke run of a few seconds: one group on each side of the threshold.
    pub fn quick() -> Self {
        GroupsParams {
            sizes: vec![10, 600],
            online: 5,
            messages: 5,
            send_time: Duration::from_secs(5),
            setup_time: Duration::from_secs(60),
            quick: true,
            ..GroupsParams::full()
        }
    }

    /// The preset of a run: [`GroupsParams::quick`] or [`GroupsParams::full`].
    pub fn for_run(quick: bool) -> Self {
        if quick {
            GroupsParams::quick()
        } else {
            GroupsParams::full()
        }
    }

    /// Whether a group of `size` members uses read diffusion on the server.
    pub fn is_large(&self, size: usize) -> bool {
        size as u64 > self.large_group_threshold
    }

    /// Member devices online for a group of `size`.
    pub fn online_for(&self, size: usize) -> usize {
        size.min(self.online)
    }

    /// Checks the values, naming the offending one.
    pub fn validate(&self) -> Result<(), String> {
        if self.sizes.is_empty() || self.sizes.iter().any(|&s| s < 2) {
            return Err("groups sizes must list at least one size, each at least 2".into());
        }
        if self.online < 2 {
            return Err("groups online must be at least 2 (the sender and a receiver)".into());
        }
        if self.setup_batch < 2 {
            return Err("groups setup_batch must be at least 2".into());
        }
        if self.messages == 0 {
            return Err("groups messages must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_straddle_the_threshold() {
        for params in [GroupsParams::full(), GroupsParams::quick()] {
            params.validate().unwrap();
            assert!(params.sizes.iter().any(|&s| params.is_large(s)));
            assert!(params.sizes.iter().any(|&s| !params.is_large(s)));
        }
        let full = GroupsParams::full();
        assert!(!full.is_large(500), "500 members is still write diffusion");
        assert_eq!(full.online_for(10), 10);
        assert_eq!(full.online_for(50_000), 20);
        let mut bad = GroupsParams::quick();
        bad.sizes = vec![1];
        assert!(bad.validate().unwrap_err().contains("sizes"));
    }
}
