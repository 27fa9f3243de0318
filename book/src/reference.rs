//! The reference pages name what the code knows: every key the
//! environment loader reads from `[environment]` and `[host:NAME]`, and
//! every subcommand and flag of the command line. A key or flag added
//! without a line in `docs/reference/` fails here, naming it.

const ENVIRONMENT_PAGE: &str = include_str!("../../docs/reference/environment.md");
const CLI_PAGE: &str = include_str!("../../docs/reference/cli.md");
/// The loader's source: its `match` arms are the keys it knows.
const SETTINGS_RS: &str = include_str!("../../batou-core/src/environment/settings.rs");
const FROM_INI_RS: &str = include_str!("../../batou-core/src/environment/from_ini.rs");

/// The string patterns of the `match` that starts after `start`, up to
/// its catch-all arm (`_ =>` or `key =>`): `"a" | "b" =>` gives a and b.
fn match_keys(source: &str, start: &str) -> Vec<String> {
    let at = source
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` is no longer in the loader; update this test"));
    let mut keys = Vec::new();
    for line in source[at..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with("_ =>") || line.starts_with("key =>") {
            break;
        }
        if let Some((pattern, _)) = line.split_once("=>")
            && pattern.trim_start().starts_with('"')
        {
            for alternative in pattern.split('|') {
                let key = alternative.trim().trim_matches('"');
                if !key.is_empty() {
                    keys.push(key.to_string());
                }
            }
        }
    }
    keys
}

fn missing<'a>(page: &str, words: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    words
        .into_iter()
        .filter(|w| !page.contains(&format!("`{w}`")))
        .collect()
}

#[test]
fn every_environment_key_is_in_the_reference() {
    let keys = match_keys(SETTINGS_RS, "match key {");
    // The extraction itself is checked: these keys exist since batou 1.
    for known in ["connect_method", "service_user", "platform", "timeout"] {
        assert!(
            keys.iter().any(|k| k == known),
            "{known} not found in {keys:?}"
        );
    }
    let missing = missing(ENVIRONMENT_PAGE, &keys);
    assert!(
        missing.is_empty(),
        "[environment] keys the loader reads but docs/reference/environment.md does not name: {missing:?}"
    );
}

#[test]
fn every_host_key_is_in_the_reference() {
    let keys = match_keys(FROM_INI_RS, "match e.key.as_str() {");
    for known in ["components", "ignore", "tags"] {
        assert!(
            keys.iter().any(|k| k == known),
            "{known} not found in {keys:?}"
        );
    }
    let missing = missing(ENVIRONMENT_PAGE, &keys);
    assert!(
        missing.is_empty(),
        "[host:NAME] keys the loader reads but docs/reference/environment.md does not name: {missing:?}"
    );
}

/// `deploy --json`, `secrets edit`, ...: every visible subcommand and
/// every visible long flag, each with the path of subcommands to it.
fn flags(command: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    for arg in command.get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        if let Some(long) = arg.get_long()
            && long != "help"
            && long != "version"
        {
            out.push((path.to_string(), format!("--{long}")));
        }
        if let Some(short) = arg.get_short()
            && short != 'h'
            && short != 'V'
        {
            out.push((path.to_string(), format!("-{short}")));
        }
    }
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name()).trim().to_string();
        out.push((path.to_string(), sub_path.clone()));
        flags(sub, &sub_path, out);
    }
}

#[test]
fn every_subcommand_and_flag_is_in_the_reference() {
    let mut all = Vec::new();
    flags(&batou_cli::command(), "", &mut all);
    assert!(all.iter().any(|(_, f)| f == "--serial"), "{all:?}");
    // Each subcommand has a section (`## batou deploy`); a flag is named
    // in backticks in the section of its subcommand.
    let section = |path: &str| -> &str {
        if path.is_empty() {
            return CLI_PAGE.split("\n## ").next().unwrap_or("");
        }
        let heading = format!("\n## batou {path}\n");
        match CLI_PAGE.find(&heading) {
            Some(at) => {
                let rest = &CLI_PAGE[at + heading.len()..];
                &rest[..rest.find("\n## ").unwrap_or(rest.len())]
            }
            None => "",
        }
    };
    let mut missing = Vec::new();
    for (path, flag) in &all {
        if flag.starts_with('-') {
            let text = section(path);
            let named = text.contains(&format!("`{flag}`"))
                || text.contains(&format!("`{flag} "))
                || text.contains(&format!("`{flag}="))
                || text.contains(&format!(", {flag}`"));
            if !named {
                missing.push(format!("batou {path} {flag}"));
            }
        } else if !CLI_PAGE.contains(&format!("\n## batou {flag}\n")) {
            missing.push(format!("batou {flag} (a section `## batou {flag}`)"));
        }
    }
    assert!(
        missing.is_empty(),
        "in the command line but not in docs/reference/cli.md: {missing:#?}"
    );
}
