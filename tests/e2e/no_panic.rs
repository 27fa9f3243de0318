//! No input makes the binary panic: generated malformed environments
//! (random mixes of sections, keys, values, garbage, unicode, very long
//! lines, NULs), INI and TOML, each must end with a documented exit code
//! and without a panic message.

use std::collections::BTreeMap;

use super::support::Project;

/// xorshift64*: deterministic, so a failure can be reproduced by its case
/// number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const HEADERS: &[&str] = &[
    "[environment]",
    "[hosts]",
    "[host:localhost]",
    "[host:web]",
    "[host:]",
    "[host:ü]",
    "[component:typed]",
    "[component:hello]",
    "[component:backend]",
    "[component:frontend]",
    "[component:nope]",
    "[component:]",
    "[resolver]",
    "[vfs]",
    "[provisioner:x]",
    "[DEFAULT]",
    "[weird]",
    "[",
    "[]",
    "[[hosts]]",
    " [hosts]",
    "\u{feff}[hosts]",
];

const KEYS: &[&str] = &[
    "connect_method",
    "jobs",
    "timeout",
    "platform",
    "host_domain",
    "service_user",
    "require_v4",
    "require_v6",
    "require_sudo",
    "components",
    "ignore",
    "localhost",
    "!localhost",
    "web",
    "!",
    "data-role",
    "data-",
    "sandbox",
    "/srv",
    "port",
    "enabled",
    "names",
    "ports",
    "mode",
    "address",
    "flavor",
    "timeout",
    "label",
    "limit",
    "text",
    "workers",
    "greeting",
    "title",
    "app.internal",
    "db.internal",
    "ü",
    "key with spaces",
];

const VALUES: &[&str] = &[
    "local",
    "ssh",
    "",
    "0",
    "1",
    "-1",
    "99999999999999999999999",
    "3.5",
    "yes",
    "maybe",
    "True",
    "optional",
    "hello",
    "typed",
    "hello, typed",
    "!typed",
    "typed:feat",
    "featured:extra, !hello",
    "backend, frontend",
    "requirer",
    "provider",
    "ping, pong",
    "ticker, tocker",
    "nope",
    ",,,",
    "{{ nope }}",
    "{{",
    "{% for x in %}",
    "{{ host.name }}",
    "{{ host.data.role }}",
    "rwxrwxrwx",
    "rwxrwxrwq",
    "0o777",
    "db.internal:5432",
    "db.internal",
    "[::1]:80",
    "10.0.0.1",
    "::1",
    "999.1.1.1",
    "Developer",
    "Map",
    "chocolate",
    "1h30m",
    "ÿ漢字🎉",
    "\u{0}",
    "a\u{0}b",
    "\t",
    "=",
    ":",
    "%(x)s",
];

const GARBAGE: &[&str] = &[
    "garbage",
    "   continuation line",
    "\tindented",
    "# comment",
    "; comment",
    "",
    "   ",
    "=",
    ":",
    "= value",
    "\u{0}\u{0}\u{0}",
    "\r",
    "漢字だけの行",
    "🎉🎉🎉 = 🎉",
    "[unterminated",
    "key = value = more",
    "key: value",
];

/// A valid environment with a few odd but mostly harmless additions.
fn nearly_valid_ini(rng: &mut Rng) -> String {
    let mut text = String::from("[environment]\nconnect_method = local\n");
    if rng.chance(50) {
        text.push_str("# a comment\n; another\n\n");
    }
    text.push_str("[hosts]\nlocalhost = hello");
    if rng.chance(50) {
        text.push_str(", typed");
    }
    text.push('\n');
    if rng.chance(70) {
        text.push_str(&format!("[component:hello]\ntext = {}\n", rng.pick(VALUES)));
    }
    if rng.chance(40) {
        text.push_str(&format!(
            "[host:web]\ncomponents = featured:{}\n",
            rng.pick(&["a", "ü", "extra"])
        ));
    }
    text
}

fn ini_text(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return nearly_valid_ini(rng);
    }
    let mut lines: Vec<String> = Vec::new();
    // Often start out valid, so later stages (configure, deploy) see
    // inputs too.
    if rng.chance(60) {
        lines.push("[environment]".into());
        lines.push("connect_method = local".into());
    }
    if rng.chance(50) {
        lines.push("[hosts]".into());
        lines.push(format!("localhost = {}", rng.pick(VALUES)));
    }
    let n = 1 + rng.below(14);
    for _ in 0..n {
        let line = match rng.below(10) {
            0 | 1 => rng.pick(HEADERS).to_string(),
            2..=6 => {
                let delim = if rng.chance(80) { " = " } else { ": " };
                format!("{}{delim}{}", rng.pick(KEYS), rng.pick(VALUES))
            }
            7 => rng.pick(GARBAGE).to_string(),
            8 => format!("    {}", rng.pick(VALUES)),
            _ => {
                // A very long line.
                let unit = rng.pick(&["x", "ü", "{{", "🎉", ",", "a, "]);
                format!(
                    "{} = {}",
                    rng.pick(KEYS),
                    unit.repeat(2000 + rng.below(8000))
                )
            }
        };
        lines.push(line);
    }
    let eol = rng.pick(&["\n", "\n", "\n", "\r\n", "\r"]);
    let mut text = lines.join(eol);
    if rng.chance(70) {
        text.push_str(eol);
    }
    text
}

fn toml_text(rng: &mut Rng) -> String {
    let mut lines: Vec<String> = Vec::new();
    if rng.chance(60) {
        lines.push("[environment]".into());
        lines.push("connect_method = \"local\"".into());
    }
    let n = 1 + rng.below(10);
    for _ in 0..n {
        let line = match rng.below(8) {
            0 => rng
                .pick(&[
                    "[hosts]",
                    "[host.localhost]",
                    "[host.web.data]",
                    "[component.typed]",
                    "[component.hello]",
                    "[component.nope]",
                    "[resolver]",
                    "[vfs]",
                    "[[hosts]]",
                    "[weird]",
                    "[",
                ])
                .to_string(),
            1..=5 => {
                let value = match rng.below(6) {
                    0 => format!("{:?}", rng.pick(VALUES)),
                    1 => format!("{}", rng.next() as i64),
                    2 => rng
                        .pick(&["true", "false", "1.5", "inf", "nan", "1979-05-27"])
                        .to_string(),
                    3 => format!("[{:?}, {:?}]", rng.pick(VALUES), rng.pick(VALUES)),
                    4 => format!("{{ a = {:?} }}", rng.pick(VALUES)),
                    _ => rng.pick(VALUES).to_string(),
                };
                format!("{} = {value}", toml_key(rng))
            }
            6 => rng.pick(GARBAGE).to_string(),
            _ => format!("components = [{:?}]", rng.pick(VALUES)),
        };
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

fn toml_key(rng: &mut Rng) -> String {
    let key = rng.pick(KEYS);
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

#[test]
fn generated_malformed_environments_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let p = Project::new();
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    for case in 0..200 {
        let toml = case % 4 == 3;
        let text = if toml {
            toml_text(&mut rng)
        } else {
            ini_text(&mut rng)
        };
        let _ = std::fs::remove_dir_all(p.path().join("environments"));
        let _ = std::fs::remove_dir_all(p.path().join("work"));
        let file = if toml {
            "environments/x.toml"
        } else {
            "environments/x.cfg"
        };
        p.write(file, &text);
        let args: &[&str] = match case % 3 {
            0 => &["deploy", "x"],
            1 => &["deploy", "-P", "x"],
            _ => &["deploy", "-c", "x"],
        };
        let o = p.run(args);
        assert!(
            matches!(o.code, Some(0..=4)),
            "case {case}: exit code {:?} for {file}:\n{text:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            o.code,
            o.stdout,
            o.stderr
        );
        assert!(
            !o.stderr.contains("panicked") && !o.stderr.contains("This is a bug in batou"),
            "case {case}: panic for {file}:\n{text:?}\n{}",
            o.stderr
        );
        if o.code != Some(0) {
            assert!(
                o.stderr.contains("ERROR"),
                "case {case}: exit {:?} without an error message:\n{text:?}\n{}",
                o.code,
                o.stderr
            );
        }
        *codes.entry(o.code.unwrap_or(-1)).or_default() += 1;
    }
    // The generator reaches both ends: valid enough to succeed, and broken.
    assert!(codes.get(&3).copied().unwrap_or(0) >= 50, "{codes:?}");
    assert!(codes.get(&0).copied().unwrap_or(0) >= 5, "{codes:?}");
}

#[test]
fn odd_command_lines_never_panic() {
    let p = Project::example();
    for args in [
        &["deploy", ""][..],
        &["deploy", "."],
        &["deploy", ".."],
        &["deploy", "/"],
        &["deploy", "local", "extra"],
        &["deploy", "-t", "-1", "local"],
        &["deploy", "-j", "99999999999", "local"],
        &["deploy", "-p", "漢字", "-c", "local"],
        &["deploy", "\u{1F389}"],
        &["-d"],
        &[],
    ] {
        let o = p.run(args);
        o.no_panic();
    }
}
