//! What ports of batou deployments meet (issue #20, points 4, 5, 7, 8, 9
//! and 12): behaviour batou 2.7.1 has that a ported deployment relies on.

use super::support::{LOCAL, Project};

fn templated(case: &str) -> Project {
    Project::new().env(
        "t",
        &format!("{LOCAL}[hosts]\nlocalhost = templated\n[component:templated]\ncase = {case}\n"),
    )
}

/// batou warns about templates above 100 KiB (its `template.py`) and
/// still renders them; so do we, naming the template and its size.
#[test]
fn a_template_above_100_kib_is_warned_about_and_rendered() {
    let p = templated("big");
    let o = p.run(&["deploy", "t"]).success();
    let o = o.stdout_contains(
        "WARN: template templated.j2 is 116021 bytes (113.3 KiB), more than 100 KiB",
    );
    // Once, though configure ran more than one pass.
    assert_eq!(
        o.stdout.matches("is 116021 bytes").count(),
        1,
        "{}",
        o.stdout
    );
    assert!(
        p.read("work/templated/out.txt")
            .ends_with("host localhost\n")
    );

    // A small template is not warned about.
    templated("ok")
        .run(&["deploy", "t"])
        .success()
        .stdout_lacks("WARN");
}
