use super::*;

fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(|k| format!("h{k}")).collect()
}

/// One `name` root per host, in host order, none waiting for another.
fn one_each(n: usize, name: &str, max: Option<Limit>) -> Vec<RootSpec> {
    hosts(n)
        .into_iter()
        .map(|host| RootSpec {
            host,
            name: name.into(),
            deploys: true,
            max_parallel: max,
        })
        .collect()
}

fn settings(serial: Option<&str>, max_fail: Option<Limit>) -> RolloutSettings {
    RolloutSettings {
        serial: serial.map(|s| Serial::parse(s).unwrap()),
        max_fail,
        batch_wait: None,
    }
}

#[test]
fn a_limit_holds_instances_beyond_it_and_frees_them_as_they_end() {
    let order: Vec<usize> = (0..4).collect();
    let mut r = Rollout::new(
        one_each(4, "web", Some(Limit::Percent(50))),
        &[],
        &order,
        &hosts(4),
        &RolloutSettings::default(),
    );
    assert!(!r.batched());
    assert_eq!(r.hold(0), None);
    r.started(0);
    r.started(1);
    assert_eq!(r.hold(2), Some(Hold::Limit));
    r.ended(0, true);
    assert_eq!(r.hold(2), None);
}

#[test]
fn other_components_are_not_held_by_a_limit() {
    let mut roots = one_each(2, "web", Some(Limit::Count(1)));
    roots.extend(one_each(2, "db", None));
    let order: Vec<usize> = (0..4).collect();
    let mut r = Rollout::new(roots, &[], &order, &hosts(2), &RolloutSettings::default());
    r.started(0);
    assert_eq!(r.hold(1), Some(Hold::Limit));
    assert_eq!(r.hold(2), None);
    r.started(2);
    assert_eq!(r.hold(3), None);
}

#[test]
fn batches_start_one_after_another() {
    let order: Vec<usize> = (0..4).collect();
    let mut r = Rollout::new(
        one_each(4, "web", None),
        &[],
        &order,
        &hosts(4),
        &settings(Some("1, 100%"), None),
    );
    assert_eq!(
        r.first(),
        Some(BatchStart {
            index: 1,
            total: 2,
            hosts: vec!["h1".into()]
        })
    );
    assert_eq!(r.hold(0), None);
    assert_eq!(r.hold(1), Some(Hold::Batch));
    let next = r.advance().unwrap();
    assert_eq!((next.index, next.total), (2, 2));
    assert_eq!(next.hosts, ["h2", "h3", "h4"]);
    assert_eq!(r.hold(3), None);
    assert_eq!(r.advance(), None);
}

#[test]
fn a_root_an_earlier_batch_depends_on_deploys_in_that_batch() {
    // h1's app (0) waits for h2's db (1), which waits for h3's cache (2).
    let roots = vec![
        RootSpec {
            host: "h1".into(),
            name: "app".into(),
            deploys: true,
            max_parallel: None,
        },
        RootSpec {
            host: "h2".into(),
            name: "db".into(),
            deploys: true,
            max_parallel: None,
        },
        RootSpec {
            host: "h3".into(),
            name: "cache".into(),
            deploys: true,
            max_parallel: None,
        },
    ];
    let r = Rollout::new(
        roots,
        &[(0, 1), (1, 2)],
        &[2, 1, 0],
        &hosts(3),
        &settings(Some("1"), None),
    );
    assert_eq!(r.batches().len(), 3);
    assert_eq!([r.hold(0), r.hold(1), r.hold(2)], [None, None, None]);
}

#[test]
fn max_fail_stops_the_line_after_the_tolerated_hosts_and_tallies_them() {
    let order: Vec<usize> = (0..4).collect();
    let mut r = Rollout::new(
        one_each(4, "web", None),
        &[],
        &order,
        &hosts(4),
        &settings(Some("1"), Some(Limit::Percent(50))),
    );
    r.started(0);
    r.ended(0, false);
    assert!(!r.line_stopped(), "one failure of four is tolerated at 50%");
    assert_eq!(r.hold(0), Some(Hold::HostFailed));
    r.advance();
    r.started(1);
    r.ended(1, true);
    r.advance();
    r.started(2);
    r.ended(2, false);
    assert!(r.line_stopped());
    let tally = r.tally();
    assert_eq!(tally.deployed, ["h2"]);
    assert_eq!(tally.failed, ["h1", "h3"]);
    assert_eq!(tally.untouched, ["h4"]);
    assert!(tally.partial.is_empty());
}

#[test]
fn the_default_stops_at_the_first_failed_host() {
    let order: Vec<usize> = (0..2).collect();
    let mut r = Rollout::new(
        one_each(2, "web", Some(Limit::Count(1))),
        &[],
        &order,
        &hosts(2),
        &RolloutSettings::default(),
    );
    r.started(0);
    assert_eq!(r.hold(1), Some(Hold::Limit));
    r.host_lost("h1");
    assert!(r.line_stopped());
    assert_eq!(r.hold(1), None, "the lost host's root no longer counts");
}

#[test]
fn a_batch_is_tallied_by_its_own_hosts() {
    let order: Vec<usize> = (0..4).collect();
    let mut r = Rollout::new(
        one_each(4, "web", None),
        &[],
        &order,
        &hosts(4),
        &settings(Some("2"), Some(Limit::Count(1))),
    );
    r.started(0);
    r.ended(0, true);
    r.started(1);
    r.ended(1, false);
    let first = r.batch_tally(0);
    assert_eq!(first.deployed, ["h1"]);
    assert_eq!(first.failed, ["h2"]);
    assert!(first.untouched.is_empty() && first.partial.is_empty());
    // The second batch, before it starts: both hosts not started.
    assert_eq!(r.batch_tally(1).untouched, ["h3", "h4"]);
    assert!(r.batch_tally(1).deployed.is_empty());
    // No such batch: no hosts.
    assert_eq!(r.batch_tally(5), HostTally::default());
}
