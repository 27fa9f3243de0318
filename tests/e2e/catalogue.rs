//! The bad-input catalogue: one table of malformed inputs — environments
//! (INI and TOML), component attributes, templates, secrets and command
//! lines — each run through the real binary. Every row states the error
//! message, where it points (file:line, host, component, or the argument),
//! and the exit code; no row may panic, and no row may change anything in
//! the project or its target (`work/`, `home/`): the whole tree is
//! compared before and after.
//!
//! Rows run in one test so the table reads as one catalogue; a failure
//! lists every failing row, not just the first.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::secrets::{age_member, identity, project as secrets_project};
use super::support::{FileState, Project};

/// One malformed input and what batou must say about it.
struct Row {
    area: &'static str,
    name: &'static str,
    project: Project,
    args: Vec<String>,
    vars: Vec<(&'static str, String)>,
    code: i32,
    message: String,
    /// Where the error points, each needle as it appears in the output.
    location: Vec<String>,
    /// What the output must not say (a follow-on error, a secret).
    absent: Vec<String>,
    /// Anything outside the project the row needs while it runs.
    _outside: Option<tempfile::TempDir>,
}

const H: &str = "[environment]\nconnect_method = local\n";

fn env(rest: &str) -> String {
    format!("{H}{rest}")
}

/// `environments/FILE` → the environment name to deploy.
fn env_name(file: &str) -> &str {
    for suffix in ["/environment.cfg", "/environment.toml", ".cfg", ".toml"] {
        if let Some(name) = file.strip_suffix(suffix) {
            return name;
        }
    }
    panic!("not an environment file name: {file}")
}

/// A malformed environment file: exit 3, pointing at `FILE:LINE`.
fn env_row(name: &'static str, file: &str, text: &str, message: &str, line: usize) -> Row {
    Row {
        area: "environment",
        name,
        project: Project::new().env_file(file, text),
        args: vec!["deploy".into(), env_name(file).into()],
        vars: vec![],
        code: 3,
        message: message.into(),
        location: vec![
            format!("environments/{file}:{line}"),
            // The miette excerpt's header.
            format!("[environments/{file}:{line}:"),
        ],
        absent: vec![],
        _outside: None,
    }
}

/// An override of a component attribute that does not fit.
fn attr_row(name: &'static str, file: &str, text: &str, message: &str, line: usize) -> Row {
    Row {
        area: "component attribute",
        ..env_row(name, file, text, message, line)
    }
}

/// A broken template (the `templated` fixture's `case`): exit 3, naming
/// the template, its line, the host and the component.
fn template_row(name: &'static str, case: &str, message: &str, line: usize) -> Row {
    Row {
        area: "template",
        name,
        project: Project::new().env(
            "t",
            &env(&format!(
                "[hosts]\nlocalhost = templated\n[component:templated]\ncase = {case}\n"
            )),
        ),
        args: vec!["deploy".into(), "t".into()],
        vars: vec![],
        code: 3,
        message: message.into(),
        location: vec![
            format!("templated.j2 (line {line})"),
            "host: localhost, component: templated".into(),
        ],
        absent: vec![],
        _outside: None,
    }
}

/// A bad command line against a good project: exit 2 (usage), naming
/// the argument.
fn cli_row(name: &'static str, args: &[&str], message: &str, location: &str) -> Row {
    Row {
        area: "command line",
        name,
        project: Project::new().env("ok", &env("[hosts]\nlocalhost = hello\n")),
        args: args.iter().map(|a| a.to_string()).collect(),
        vars: vec![],
        code: 2,
        message: message.into(),
        location: vec![location.into()],
        absent: vec![],
        _outside: None,
    }
}

/// A secrets problem in the example deployment's `environments/sec/`;
/// the project comes ready (encrypted by the caller).
fn secrets_row(
    name: &'static str,
    project: Project,
    vars: Vec<(&'static str, String)>,
    message: &str,
    location: &[&str],
) -> Row {
    Row {
        area: "secrets",
        name,
        project,
        args: vec!["deploy".into(), "sec".into()],
        vars,
        code: 3,
        message: message.into(),
        location: location.iter().map(|l| l.to_string()).collect(),
        absent: vec![],
        _outside: None,
    }
}

fn with_key() -> Vec<(&'static str, String)> {
    vec![("BATOU_AGE_IDENTITIES", identity())]
}

fn rows() -> Vec<Row> {
    let mut rows = vec![
        // --- INI syntax (Python configparser's errors) ---
        env_row(
            "ini_line_without_delimiter",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\nthis line is garbage\n"),
            "`this line is garbage` is neither a `[section]` header nor a `key = value` option",
            5,
        ),
        env_row(
            "ini_key_before_any_section",
            "x.cfg",
            "connect_method = local\n[hosts]\nlocalhost = hello\n",
            "`connect_method = local` appears before any section header",
            1,
        ),
        env_row(
            "ini_duplicate_section",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[environment]\njobs = 2\n"),
            "duplicate section [environment] (first defined on line 1)",
            5,
        ),
        env_row(
            "ini_duplicate_key",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\nlocalhost = typed\n"),
            "duplicate option `localhost` in section [hosts] (first defined on line 4)",
            5,
        ),
        env_row(
            "ini_empty_key",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n= orphan value\n"),
            "option `= orphan value` has an empty key",
            5,
        ),
        // --- sections and hosts ---
        env_row(
            "superfluous_section",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[weird]\nkey = value\n"),
            "superfluous section in environment: weird",
            5,
        ),
        env_row(
            "component_section_for_unknown_component",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[component:nope]\nport = 1\n"),
            "override section for unknown component found: nope",
            5,
        ),
        env_row(
            "component_section_typo_suggests",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[component:helo]\ntext = x\n"),
            "did you mean `hello`?",
            5,
        ),
        env_row(
            "unknown_component_in_hosts",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello, nope\n"),
            "missing component: nope",
            4,
        ),
        env_row(
            "unknown_component_in_host_section",
            "x.cfg",
            &env("[host:web]\ndata-role = x\ncomponents = hello, typd\n"),
            "missing component: typd",
            5,
        ),
        env_row(
            "host_section_without_components",
            "x.cfg",
            &env("[host:web]\ndata-role = x\n"),
            "host `web` has no `components` key",
            3,
        ),
        env_row(
            "duplicate_host_across_sections",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[host:localhost]\ncomponents = typed\n"),
            "duplicate host: localhost (first defined at environments/x.cfg:4)",
            5,
        ),
        env_row(
            "duplicate_host_ignored_and_not",
            "x.cfg",
            &env("[hosts]\nweb = hello\n!web = typed\n"),
            "duplicate host: web",
            5,
        ),
        // --- [environment] values ---
        env_row(
            "invalid_jobs",
            "x.cfg",
            &env("jobs = many\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `jobs`: \"many\" is not a number of jobs, at least 1",
            3,
        ),
        env_row(
            "zero_jobs",
            "x.cfg",
            &env("jobs = 0\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `jobs`: \"0\"",
            3,
        ),
        env_row(
            "invalid_timeout",
            "x.cfg",
            &env("timeout = 3s\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `timeout`: \"3s\" is not a whole number of seconds",
            3,
        ),
        env_row(
            "invalid_require_v4",
            "x.cfg",
            &env("require_v4 = sometimes\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `require_v4`: \"sometimes\" is not True, False or optional",
            3,
        ),
        env_row(
            "invalid_require_v6",
            "x.cfg",
            &env("\nrequire_v6 = 2\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `require_v6`",
            4,
        ),
        env_row(
            "empty_connect_method",
            "x.cfg",
            "[environment]\nconnect_method =\n[hosts]\nlocalhost = hello\n",
            "invalid value for `connect_method`: \"\" is not a connect method",
            2,
        ),
        env_row(
            "environment_require_sudo_not_boolean",
            "x.cfg",
            &env("require_sudo = sure\n[hosts]\nlocalhost = hello\n"),
            "invalid value for `require_sudo`: \"sure\" is not a boolean",
            3,
        ),
        // --- host keys ---
        env_row(
            "host_ignore_not_boolean",
            "x.cfg",
            &env("[host:web]\ncomponents = hello\nignore = maybe\n"),
            "invalid value for `ignore`: \"maybe\" is not a boolean",
            5,
        ),
        env_row(
            "host_require_sudo_not_boolean",
            "x.cfg",
            &env("[host:web]\ncomponents = hello\nrequire_sudo = perhaps\n"),
            "invalid value for `require_sudo`: \"perhaps\" is not a boolean",
            5,
        ),
        // --- [vfs] and [resolver] ---
        env_row(
            "vfs_unknown_sandbox",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[vfs]\nsandbox = Bogus\n"),
            "invalid value for `sandbox`: \"Bogus\" is not `Developer` or `Map`",
            6,
        ),
        env_row(
            "resolver_invalid_ip",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[resolver]\ndb.internal = 10.0.0.256\n"),
            "not a valid IP address for `db.internal`: 10.0.0.256",
            6,
        ),
        env_row(
            "resolver_invalid_ip_on_second_line",
            "x.cfg",
            &env(
                "[hosts]\nlocalhost = hello\n[resolver]\ndb.internal =\n    10.1.2.3\n    fd00::zz\n",
            ),
            "not a valid IP address for `db.internal`: fd00::zz",
            8,
        ),
        env_row(
            "resolver_invalid_ip_after_a_comment_line",
            "x.cfg",
            &env(
                "[hosts]\nlocalhost = hello\n[resolver]\ndb.internal = 10.1.2.3\n# the v6 one\n    nonsense\n",
            ),
            "not a valid IP address for `db.internal`: nonsense",
            8,
        ),
        // --- overrides: unknown attributes, conversions, expansion ---
        attr_row(
            "override_for_undefined_attribute",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nprot = 8080\n"),
            "override for undefined attribute `prot` of component `typed`",
            6,
        ),
        attr_row(
            "undefined_attribute_did_you_mean",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nflavour = vanilla\n"),
            "did you mean `flavor`?",
            6,
        ),
        attr_row(
            "u16_not_a_number",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = abc\n"),
            "cannot convert `typed.port`: cannot convert \"abc\" to an integer",
            6,
        ),
        attr_row(
            "u16_out_of_range",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nenabled = yes\nport = 70000\n"),
            "cannot convert \"70000\" to an integer: out of range (0 to 65535)",
            7,
        ),
        attr_row(
            "bool_not_a_boolean",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nenabled = maybe\n"),
            "cannot convert `typed.enabled`: cannot convert \"maybe\" to a boolean",
            6,
        ),
        attr_row(
            "list_of_ints_with_a_word",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nports = 80, http, 443\n"),
            "cannot convert \"http\" to an integer",
            6,
        ),
        attr_row(
            "list_of_ints_multiline",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nports =\n    80\n    -1\n"),
            "cannot convert \"-1\" to an integer: out of range",
            7,
        ),
        attr_row(
            "mode_bad_letter",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nmode = rwxrwxrwq\n"),
            "Mode-string should be between `---------` and `rwxrwxrwx`.",
            6,
        ),
        attr_row(
            "mode_out_of_range",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nmode = 17777\n"),
            "is out of range (at most 0o7777)",
            6,
        ),
        attr_row(
            "address_without_port",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal\n"),
            "Need port for service address.",
            6,
        ),
        attr_row(
            "address_bad_port",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal:http\n"),
            "cannot convert `typed.address`",
            6,
        ),
        attr_row(
            "enum_unknown_variant",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nflavor = mint\n"),
            "cannot convert \"mint\" to one of `vanilla`, `chocolate`, `strawberry`",
            6,
        ),
        attr_row(
            "duration_not_a_duration",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\ntimeout = soonish\n"),
            "cannot convert `typed.timeout`",
            6,
        ),
        attr_row(
            "expansion_of_undefined_name",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nlabel = {{ nope }}\n"),
            "error while expanding attribute `typed.label`: undefined value",
            6,
        ),
        attr_row(
            "expansion_syntax_error",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = 1\nlabel = {{ host.name\n"),
            "error while expanding attribute `typed.label`",
            7,
        ),
        attr_row(
            "override_in_example_backend",
            "x.cfg",
            &env("[hosts]\nlocalhost = backend, frontend\n[component:backend]\nworkers = lots\n"),
            "cannot convert `backend.workers`",
            6,
        ),
        // --- the directory layout ---
        env_row(
            "directory_layout_line_numbers",
            "prod/environment.cfg",
            &env("[hosts]\nlocalhost = hello\n[component:hello]\ntxt = hi\n"),
            "override for undefined attribute `txt` of component `hello`",
            6,
        ),
        // --- TOML ---
        env_row(
            "toml_syntax_error",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n\n[hosts]\nlocalhost = [\"hello\"\n",
            "unclosed array, expected `]`",
            5,
        ),
        env_row(
            "toml_duplicate_key",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\nconnect_method = \"ssh\"\n[hosts]\nlocalhost = [\"hello\"]\n",
            "duplicate key",
            3,
        ),
        env_row(
            "toml_unknown_component_section",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\"]\n[component.nope]\nport = 1\n",
            "override section for unknown component found: nope",
            5,
        ),
        env_row(
            "toml_conversion_error",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nenabled = true\nport = 70000\n",
            "cannot convert `typed.port`",
            7,
        ),
        env_row(
            "toml_wrong_type",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nnames = 5\n",
            "cannot convert `typed.names`",
            6,
        ),
        env_row(
            "toml_unknown_component_in_hosts",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\", \"nope\"]\n",
            "missing component: nope",
            4,
        ),
        env_row(
            "toml_superfluous_section",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\"]\n[weird]\nx = 1\n",
            "superfluous section in environment: weird",
            5,
        ),
        env_row(
            "toml_bad_jobs",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\njobs = 0\n[hosts]\nlocalhost = [\"hello\"]\n",
            "invalid value for `jobs`",
            3,
        ),
    ];
    rows.extend(more_environment_rows());
    rows.extend(parity_rows());
    rows.extend(template_rows());
    rows.extend(cli_rows());
    rows.extend(secrets_rows());
    rows
}

fn more_environment_rows() -> Vec<Row> {
    vec![
        env_row(
            "ini_section_header_unclosed",
            "x.cfg",
            &env("[hosts\nlocalhost = hello\n"),
            "`[hosts` is neither a `[section]` header nor a `key = value` option",
            3,
        ),
        env_row(
            "toml_hosts_not_a_table",
            "t.toml",
            "hosts = 5\n[environment]\nconnect_method = \"local\"\n",
            "superfluous section in environment: hosts",
            1,
        ),
        env_row(
            "resolver_empty_address",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[resolver]\ndb.internal = 10.0.0.1, \n"),
            "not a valid IP address for `db.internal`",
            6,
        ),
    ]
}

/// Issue #20: what batou 2.7.1 does differently (points 1, 2, 6, 10).
fn parity_rows() -> Vec<Row> {
    let secrets_and_env = secrets_project("[component:nosuch]\nkey = x-secret\n");
    let with_nope = secrets_and_env
        .read("environments/sec/environment.cfg")
        .replace(
            "components = backend, frontend",
            "components = backend, frontend, nope",
        );
    secrets_and_env.write("environments/sec/environment.cfg", &with_nope);
    vec![
        // 1: a secrets error does not hide the environment's.
        secrets_row(
            "secrets_error_with_an_environment_error",
            secrets_and_env,
            with_key(),
            "missing component: nope",
            &[
                "environments/sec/environment.cfg:7",
                "secrets section for unknown component found: nosuch",
            ],
        ),
        // 2: the provider of a consumer that failed is no "unused" error.
        Row {
            absent: vec!["unused provided resources".into()],
            ..attr_row(
                "failed_consumer_leaves_no_unused_resource",
                "x.cfg",
                &env(
                    "[hosts]\nlocalhost = provider, requirer\n[component:requirer]\noptional = perhaps\n",
                ),
                "cannot convert `requirer.optional`",
                6,
            )
        },
        // 6: a host section without components for a host not in [hosts].
        env_row(
            "host_section_adding_keys_to_an_unknown_host",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[host:other]\nservice_user = app\n"),
            "or list the host in [hosts]",
            5,
        ),
        // 10: the undefined name, and the closest known one.
        attr_row(
            "expansion_of_a_misspelt_attribute",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nlabel = {{ component.lable }}\n"),
            "`component.lable` is undefined; did you mean `component.label`?",
            6,
        ),
        Row {
            area: "template",
            ..attr_row(
                "expansion_of_a_misspelt_host_data_key",
                "x.cfg",
                &env(
                    "[host:localhost]\ncomponents = typed\ndata-role = db\n[component:typed]\nlabel = {{ host.data.rol }}\n",
                ),
                "`host.data.rol` is undefined; did you mean `host.data.role`?",
                7,
            )
        },
    ]
}

fn more_attribute_rows() -> Vec<Row> {
    vec![
        attr_row(
            "option_u32_negative",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nlimit = -1\n"),
            "cannot convert `typed.limit`",
            6,
        ),
        attr_row(
            "bool_number",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nenabled = 2\n"),
            "cannot convert \"2\" to a boolean",
            6,
        ),
        attr_row(
            "u16_blank",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nport =\n"),
            "cannot convert `typed.port`",
            6,
        ),
        attr_row(
            "u16_float",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = 80.5\n"),
            "cannot convert \"80.5\" to an integer",
            6,
        ),
        attr_row(
            "toml_list_of_strings_for_ints",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nports = [\"80\"]\n",
            "cannot convert `typed.ports`",
            6,
        ),
        attr_row(
            "toml_table_for_a_string",
            "t.toml",
            "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nlabel = { a = 1 }\n",
            "cannot convert `typed.label`",
            6,
        ),
        attr_row(
            "address_port_out_of_range",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal:70000\n"),
            "cannot convert `typed.address`",
            6,
        ),
        attr_row(
            "duration_negative",
            "x.cfg",
            &env("[hosts]\nlocalhost = typed\n[component:typed]\ntimeout = -5s\n"),
            "cannot convert `typed.timeout`",
            6,
        ),
    ]
}

fn template_rows() -> Vec<Row> {
    let mut rows = vec![
        template_row(
            "template_syntax_error",
            "syntax",
            "syntax error: unexpected end of block",
            2,
        ),
        template_row(
            "template_undefined_name",
            "undefined",
            "undefined value: `nope` is undefined",
            3,
        ),
        template_row("template_unknown_filter", "filter", "unknown filter", 1),
        template_row(
            "template_loop_over_a_number",
            "loop",
            "number is not iterable",
            2,
        ),
        template_row(
            "template_unclosed_expression",
            "unclosed",
            "unexpected end of input",
            1,
        ),
        template_row(
            "template_undefined_attribute",
            "attribute",
            "`host.name.nope` is undefined",
            2,
        ),
    ];
    // Attribute values are templates too.
    rows.push(Row {
        area: "template",
        ..attr_row(
            "expansion_unknown_filter",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[component:hello]\ntext = {{ host.name | shout }}\n"),
            "error while expanding attribute `hello.text`",
            6,
        )
    });
    rows.push(Row {
        area: "template",
        ..attr_row(
            "expansion_line_statement",
            "x.cfg",
            &env("[hosts]\nlocalhost = hello\n[component:hello]\ntext = {% for %}\n"),
            "error while expanding attribute `hello.text`",
            6,
        )
    });
    // The example's own template needs host data the environment lacks.
    let example = super::support::example_env().replace("data-role = primary\n", "");
    rows.push(Row {
        area: "template",
        name: "example_template_without_host_data",
        project: Project::new().env("local", &example),
        args: vec!["deploy".into(), "local".into()],
        vars: vec![],
        code: 3,
        message: "`host.data.role` is undefined".into(),
        location: vec![
            "templates/backend.conf (line 10)".into(),
            "host: localhost, component: backend".into(),
        ],
        absent: vec![],
        _outside: None,
    });
    rows
}

fn cli_rows() -> Vec<Row> {
    vec![
        cli_row(
            "unknown_subcommand",
            &["frobnicate"],
            "unrecognized subcommand 'frobnicate'",
            "Usage: batou-test",
        ),
        cli_row(
            "deploy_without_environment",
            &["deploy"],
            "the following required arguments were not provided",
            "<ENVIRONMENT>",
        ),
        cli_row(
            "jobs_not_a_number",
            &["deploy", "--jobs", "many", "ok"],
            "invalid value 'many'",
            "'--jobs <JOBS>'",
        ),
        cli_row(
            "jobs_zero",
            &["deploy", "-j", "0", "ok"],
            "invalid value '0'",
            "'--jobs <JOBS>'",
        ),
        cli_row(
            "jobs_negative",
            &["deploy", "ok", "-j", "-1"],
            "unexpected argument '-1' found",
            "'-1'",
        ),
        cli_row(
            "unknown_flag",
            &["deploy", "--bogus", "ok"],
            "unexpected argument '--bogus' found",
            "'--bogus'",
        ),
        cli_row(
            "extra_argument",
            &["deploy", "ok", "extra"],
            "unexpected argument 'extra' found",
            "'extra'",
        ),
        cli_row(
            "flag_without_value",
            &["deploy", "--platform"],
            "a value is required",
            "'--platform <PLATFORM>'",
        ),
        cli_row(
            "exit_code_without_predict",
            &["deploy", "--exit-code", "ok"],
            "the following required arguments were not provided",
            "--predict-only",
        ),
        cli_row(
            "timeout_not_a_number",
            &["deploy", "--timeout", "x", "ok"],
            "invalid value 'x'",
            "'--timeout <TIMEOUT>'",
        ),
        cli_row(
            "local_without_predict_or_check",
            &["deploy", "--local", "ok"],
            "The --local option is only to be used with --consistency-only or --predict-only.",
            "--local",
        ),
        cli_row(
            "unknown_component_selected",
            &["deploy", "--components", "nope", "ok"],
            "unknown component `nope` (known: hello)",
            "nope",
        ),
        cli_row(
            "unknown_host_selected",
            &["deploy", "--hosts", "nope", "ok"],
            "unknown host `nope` (known: localhost)",
            "nope",
        ),
        cli_row(
            "completions_for_an_unknown_shell",
            &["completions", "tcsh"],
            "invalid value 'tcsh'",
            "'<SHELL>'",
        ),
        cli_row(
            "secrets_edit_without_environment",
            &["secrets", "edit"],
            "the following required arguments were not provided",
            "<ENVIRONMENT>",
        ),
        Row {
            code: 3,
            ..cli_row(
                "missing_environment",
                &["deploy", "nope"],
                "missing environment `nope`",
                "environments/nope.cfg",
            )
        },
        Row {
            code: 3,
            ..cli_row(
                "environment_name_with_a_path",
                &["deploy", "../environments/ok"],
                "missing environment",
                "environments/",
            )
        },
    ]
}

fn secrets_rows() -> Vec<Row> {
    let corrupted = secrets_project("[backend]\ngreeting = x-secret\n");
    let path = corrupted.path().join("environments/sec/secrets.cfg.age");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 20);
    std::fs::write(&path, bytes).unwrap();

    let diffable = Project::new()
        .env_file("sec/environment.cfg", &super::support::example_env())
        .file(
            "environments/sec/secrets.cfg.age-diffable",
            &format!(
                "[batou]\nmembers = {}\n\n[backend]\nworkers = not*base64\n",
                age_member()
            ),
        );
    let not_utf8 = Project::new()
        .env_file("sec/environment.cfg", &super::support::example_env())
        .bytes(
            "environments/sec/secrets.cfg.age-diffable",
            b"[batou]\n\xff\xfe\n",
        );
    let gpg_garbage = Project::new()
        .env_file("sec/environment.cfg", &super::support::example_env())
        .bytes("environments/sec/secrets.cfg.gpg", b"\x85\x01\x0cgarbage");
    let whole_file = secrets_project("[backend]\ngreeting = x-secret\n").bytes(
        "environments/sec/secret-cert.pem.age",
        b"age-encryption.org/v1\n-> nonsense\n",
    );
    // An OpenPGP message that was never encrypted (gpg would print it).
    let unencrypted =
        Project::new().env_file("sec/environment.cfg", &super::support::example_env());
    let gnupg = tempfile::tempdir().unwrap();
    std::fs::set_permissions(gnupg.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let clear = gnupg.path().join("clear.txt");
    std::fs::write(&clear, "[backend]\ngreeting = forged\n").unwrap();
    let stored = std::process::Command::new("gpg")
        .env("GNUPGHOME", gnupg.path())
        .args(["--batch", "--quiet", "--store", "--output"])
        .arg(unencrypted.path().join("environments/sec/secrets.cfg.gpg"))
        .arg(&clear)
        .output()
        .expect("gpg must be installed");
    assert!(stored.status.success());
    let gnupg_home = gnupg.path().display().to_string();
    vec![
        Row {
            _outside: Some(gnupg),
            ..secrets_row(
                "secrets_gpg_not_encrypted",
                unencrypted,
                vec![("GNUPGHOME", gnupg_home)],
                "gpg found no encrypted data in it",
                &["environments/sec/secrets.cfg.gpg"],
            )
        },
        secrets_row(
            "secrets_missing_key",
            secrets_project("[backend]\ngreeting = x-secret\n"),
            vec![],
            "tried: (none found)",
            &["environments/sec/secrets.cfg.age"],
        ),
        secrets_row(
            "secrets_corrupted_file",
            corrupted,
            with_key(),
            "is not a valid encrypted file",
            &["environments/sec/secrets.cfg.age"],
        ),
        secrets_row(
            "secrets_unknown_component_section",
            secrets_project("[component:nosuch]\nkey = x-secret\n"),
            with_key(),
            "secrets section for unknown component found: nosuch",
            &["environments/sec/secrets.cfg.age"],
        ),
        secrets_row(
            "secrets_override_defined_twice",
            secrets_project("[backend]\nworkers = 7\n"),
            with_key(),
            "A value backend.workers is defined both in environment and secrets.",
            &[
                "environments/sec/environment.cfg:13",
                "environments/sec/secrets.cfg.age:5",
            ],
        ),
        secrets_row(
            "secrets_value_does_not_convert",
            secrets_project("[backend]\ndebug = perhaps\n"),
            with_key(),
            "cannot convert `backend.debug`",
            &["environments/sec/secrets.cfg.age:5"],
        ),
        secrets_row(
            "secrets_unknown_attribute",
            secrets_project("[backend]\ngreting = x-secret\n"),
            with_key(),
            "override for undefined attribute `greting`",
            &["environments/sec/secrets.cfg.age:5"],
        ),
        secrets_row(
            "secrets_two_configs",
            secrets_project("[backend]\ngreeting = x\n")
                .file("environments/sec/secrets.cfg.gpg", ""),
            with_key(),
            "more than one secrets config",
            &[
                "environments/sec/secrets.cfg.age",
                "environments/sec/secrets.cfg.gpg",
            ],
        ),
        secrets_row(
            "secrets_age_diffable_not_base64",
            diffable,
            with_key(),
            "not base64",
            &[
                "environments/sec/secrets.cfg.age-diffable",
                "[backend] workers (line 5)",
            ],
        ),
        secrets_row(
            "secrets_age_diffable_not_utf8",
            not_utf8,
            with_key(),
            "must be UTF-8 text",
            &["environments/sec/secrets.cfg.age-diffable"],
        ),
        secrets_row(
            "secrets_gpg_garbage",
            gpg_garbage,
            vec![("GNUPGHOME", "/nonexistent-gnupg-home".into())],
            "error while calling gpg: exit code 2 while calling `gpg --batch --quiet --status-fd 2 --decrypt",
            &["environments/sec/secrets.cfg.gpg"],
        ),
        secrets_row(
            "secrets_whole_file_corrupted",
            whole_file,
            with_key(),
            "is not a valid encrypted file",
            &["environments/sec/secret-cert.pem.age"],
        ),
        secrets_row(
            "secrets_unknown_section_kind",
            secrets_project("[weird:x]\nkey = x-secret\n"),
            with_key(),
            "unknown section kind `weird`",
            &["environments/sec/secrets.cfg.age"],
        ),
    ]
}

/// Everything in the project, to prove a run changed nothing — except
/// the run's own lock file (`.batou-lock`, which every run of the CLI
/// takes in the project, not on a target) and so the project directory's
/// own entry.
fn snapshot(p: &Project) -> BTreeMap<PathBuf, FileState> {
    let mut states = p.states();
    states.retain(|path, _| !path.as_os_str().is_empty() && path != &PathBuf::from(".batou-lock"));
    states
}

#[test]
fn bad_input_catalogue() {
    let mut rows = rows();
    rows.extend(more_attribute_rows());
    assert!(rows.len() >= 60, "the catalogue has {} rows", rows.len());
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.name), "row {} twice", row.name);
        let before = snapshot(&row.project);
        let args: Vec<&str> = row.args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = row.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = row.project.run_with(&args, &vars);
        let text = format!("{}\n{}", out.stderr_unwrapped(), out.stdout);
        let mut problems = Vec::new();
        if out.code != Some(row.code) {
            problems.push(format!("exit code {:?}, expected {}", out.code, row.code));
        }
        if text.contains("panicked") || text.contains("This is a bug in batou") {
            problems.push("panicked".into());
        }
        if !text.contains(&row.message) {
            problems.push(format!("no message {:?}", row.message));
        }
        for needle in &row.location {
            if !text.contains(needle) {
                problems.push(format!("no location {needle:?}"));
            }
        }
        for needle in &row.absent {
            if text.contains(needle.as_str()) {
                problems.push(format!("{needle:?} in the output"));
            }
        }
        // Secrets never appear in an error.
        if text.contains("x-secret") {
            problems.push("a secret value is in the output".into());
        }
        let after = snapshot(&row.project);
        if before != after {
            let changed: Vec<_> = after
                .iter()
                .filter(|(p, s)| before.get(*p) != Some(*s))
                .map(|(p, _)| p.display().to_string())
                .chain(
                    before
                        .keys()
                        .filter(|p| !after.contains_key(*p))
                        .map(|p| format!("-{}", p.display())),
                )
                .collect();
            problems.push(format!("the run changed {changed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {}: {}\n  batou-test {}\n{}",
                row.area,
                row.name,
                problems.join("; "),
                row.args.join(" "),
                text.lines()
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    let mut per_area: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        *per_area.entry(row.area).or_default() += 1;
    }
    for area in [
        "environment",
        "component attribute",
        "template",
        "command line",
        "secrets",
    ] {
        assert!(
            per_area.get(area).copied().unwrap_or(0) >= 5,
            "too few {area} rows: {per_area:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}
