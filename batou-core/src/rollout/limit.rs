//! Counts given as a number or as a share of hosts: `max_parallel = 1`,
//! `serial = 25%`, `max_fail = 50%`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number of hosts, or a percentage of the hosts it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Count(usize),
    /// 1 to 100.
    Percent(u32),
}

/// Text that is not a limit; says what a limit looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a number of hosts (at least {1}) or a percentage (1% to 100%)")]
pub struct BadLimit(pub String, pub usize);

impl Limit {
    /// Parses `N` (at least `min`) or `N%` (1 to 100).
    pub fn parse(text: &str, min: usize) -> Result<Limit, BadLimit> {
        let t = text.trim();
        let bad = || BadLimit(t.to_string(), min);
        if let Some(p) = t.strip_suffix('%') {
            let p: u32 = p.trim().parse().map_err(|_| bad())?;
            return if (1..=100).contains(&p) {
                Ok(Limit::Percent(p))
            } else {
                Err(bad())
            };
        }
        match t.parse::<usize>() {
            Ok(n) if n >= min => Ok(Limit::Count(n)),
            _ => Err(bad()),
        }
    }

    /// How many of `hosts` this allows at once: a percentage rounds
    /// down but is never less than one (Ansible's `serial` does the same),
    /// so `25%` of three hosts is one, not none.
    pub fn of(self, hosts: usize) -> usize {
        match self {
            Limit::Count(n) => n.max(1),
            Limit::Percent(p) => (hosts * p as usize / 100).max(1),
        }
    }

    /// How many of `hosts` may fail before the rollout stops: `N` means
    /// N failures go on and the next stops; `N%` stops once N% of the
    /// hosts have failed (so `50%` of four hosts stops at the second).
    pub fn tolerated(self, hosts: usize) -> usize {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => (hosts * p as usize).div_ceil(100).saturating_sub(1),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Batch sizes, `serial = 1, 25%, 100%`: the first batch takes the first
/// size's hosts, the next the second's, and the last size repeats until
/// every host is in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serial(pub Vec<Limit>);

impl Serial {
    /// Parses a comma-separated list of limits (at least one).
    pub fn parse(text: &str) -> Result<Serial, BadLimit> {
        let sizes = text
            .split(',')
            .map(|part| Limit::parse(part, 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Serial(sizes))
    }

    /// `hosts` split into batches, in their order.
    pub fn batches<T: Clone>(&self, hosts: &[T]) -> Vec<Vec<T>> {
        let mut batches = Vec::new();
        let mut rest = hosts;
        let mut k = 0;
        while !rest.is_empty() {
            let size = self.0[k.min(self.0.len() - 1)].of(hosts.len());
            let (batch, after) = rest.split_at(size.min(rest.len()));
            batches.push(batch.to_vec());
            rest = after;
            k += 1;
        }
        batches
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Limit::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_as_counts_or_percentages() {
        assert_eq!(Limit::parse(" 2 ", 1), Ok(Limit::Count(2)));
        assert_eq!(Limit::parse("25%", 1), Ok(Limit::Percent(25)));
        assert_eq!(Limit::parse("0", 0), Ok(Limit::Count(0)));
        for bad in ["0", "-1", "x", "0%", "101%", "%", ""] {
            assert!(Limit::parse(bad, 1).is_err(), "{bad}");
        }
        assert_eq!(
            Limit::parse("0", 1).unwrap_err().to_string(),
            "\"0\" is not a number of hosts (at least 1) or a percentage (1% to 100%)"
        );
    }

    #[test]
    fn percentages_round_down_but_allow_one() {
        assert_eq!(Limit::Percent(25).of(4), 1);
        assert_eq!(Limit::Percent(25).of(3), 1);
        assert_eq!(Limit::Percent(50).of(5), 2);
        assert_eq!(Limit::Percent(100).of(4), 4);
        assert_eq!(Limit::Count(3).of(2), 3);
    }

    #[test]
    fn max_fail_tolerates_up_to_the_share() {
        assert_eq!(Limit::Count(0).tolerated(4), 0);
        assert_eq!(Limit::Count(2).tolerated(4), 2);
        assert_eq!(Limit::Percent(50).tolerated(4), 1);
        assert_eq!(Limit::Percent(25).tolerated(4), 0);
        assert_eq!(Limit::Percent(30).tolerated(10), 2);
        assert_eq!(Limit::Percent(100).tolerated(4), 3);
    }

    #[test]
    fn serial_splits_canary_then_widens_and_repeats_the_last_size() {
        let hosts = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let s = Serial::parse("1, 25%, 100%").unwrap();
        assert_eq!(
            s.batches(&hosts),
            vec![vec!["a"], vec!["b", "c"], vec!["d", "e", "f", "g", "h"]]
        );
        assert_eq!(
            Serial::parse("3").unwrap().batches(&hosts[..7]),
            vec![vec!["a", "b", "c"], vec!["d", "e", "f"], vec!["g"]]
        );
        assert_eq!(s.to_string(), "1, 25%, 100%");
        assert!(Serial::parse("1,,2").is_err());
    }
}
