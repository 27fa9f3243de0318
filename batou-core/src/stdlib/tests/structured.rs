//! `JsonContent`, `TomlContent` and `File::json` / `File::toml`.

use serde_json::json;

use super::*;
use crate::error::Error;
use crate::stdlib::{File, JsonContent, TomlContent, YamlContent};
use crate::testutil::needing_update;

#[test]
fn json_is_sorted_indented_by_four_and_written_once() {
    let s = Stage::new(|_, ctx| {
        ctx.add(JsonContent::new(
            "data.json",
            json!({"zeta": 1, "alpha": {"y": [1, 2], "x": null}, "mid": "s"}),
        ))?;
        Ok(())
    });
    let (report, _) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(
        s.read("data.json"),
        "{\n    \"alpha\": {\n        \"x\": null,\n        \"y\": [\n            1,\n            2\n        ]\n    },\n    \"mid\": \"s\",\n    \"zeta\": 1\n}"
    );
    let before = identity(&s.path("data.json"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("data.json")), before);
}

#[test]
fn compact_json_and_overrides_merge_deeply() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            JsonContent::new("c.json", json!({"b": {"k": 1, "l": [1]}, "a": 1}))
                .override_with(json!({"b": {"m": 2, "l": [2]}, "a": 3}))
                .human_readable(false),
        )?;
        ctx.add(
            File::new("f.json")
                .json(json!({"x": {"a": 1}}))
                .override_with(json!({"x": {"b": 2}})),
        )?;
        ctx.add(File::new("g.json").json_compact(json!({"b": 1, "a": 2})))?;
        Ok(())
    });
    s.deploy();
    assert_eq!(s.read("c.json"), r#"{"a":3,"b":{"k":1,"l":[1,2],"m":2}}"#);
    assert_eq!(
        s.read("f.json"),
        "{\n    \"x\": {\n        \"a\": 1,\n        \"b\": 2\n    }\n}"
    );
    assert_eq!(s.read("g.json"), r#"{"a":2,"b":1}"#);
}

#[derive(Serialize)]
struct Settings {
    server: Server,
    name: &'static str,
}

#[derive(Serialize)]
struct Server {
    port: u16,
    hosts: Vec<&'static str>,
}

#[test]
fn toml_from_a_struct_with_sorted_keys() {
    let s = Stage::new(|_, ctx| {
        let settings = Settings {
            server: Server {
                port: 8080,
                hosts: vec!["a", "b"],
            },
            name: "app",
        };
        ctx.add(TomlContent::new("app.toml", &settings))?;
        ctx.add(File::new("f.toml").toml(&settings).mode(0o600))?;
        Ok(())
    });
    s.deploy();
    let expected = "name = \"app\"\n\n[server]\nhosts = [\"a\", \"b\"]\nport = 8080\n";
    assert_eq!(s.read("app.toml"), expected);
    assert_eq!(s.read("f.toml"), expected);
    assert_eq!(mode_of(&s.path("f.toml")), 0o600);
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn drift_shows_a_diff_of_the_rendered_text_and_predict_writes_nothing() {
    let s = Stage::new(|_, ctx| {
        ctx.add(TomlContent::new("a.toml", json!({"b": 2, "a": 1})))?;
        Ok(())
    });
    std::fs::write(s.prepare().join("a.toml"), "a = 1\nb = 3\n").unwrap();
    let before = identity(&s.path("a.toml"));
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(
        needing_update(&events),
        ["Scene > TomlContent('a.toml') > Content('a.toml')"]
    );
    assert_eq!(diffs(&events)[0].1[3..], [" a = 1", "-b = 3", "+b = 2"]);
    assert_eq!(identity(&s.path("a.toml")), before);
    s.deploy();
    assert_eq!(s.read("a.toml"), "a = 1\nb = 2\n");
}

#[test]
fn data_toml_cannot_hold_is_a_configuration_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(TomlContent::new("a.toml", json!([1, 2])))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.starts_with("cannot write TOML")),
        "{errors:?}"
    );
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("x").content("a").override_with(json!({})))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.contains("override_with needs json(..), toml(..) or yaml(..)")),
        "{errors:?}"
    );
}

#[test]
fn yaml_is_block_style_sorted_and_written_once() {
    let s = Stage::new(|_, ctx| {
        ctx.add(YamlContent::new(
            "config.yaml",
            json!({
                "zeta": [1, {"b": 2, "a": 1}],
                "alpha": {"y": "yes", "x": null, "w": "1.0", "v": "plain", "t": "on", "s": "1:20", "r": 1e100},
                "mid": true,
            }),
        ))?;
        Ok(())
    });
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!s.path("config.yaml").exists(), "predict wrote");
    let (report, _) = s.deploy();
    assert_eq!(report.changed, 1);
    let text = s.read("config.yaml");
    assert_eq!(
        text,
        "alpha:\n  r: 1.0e+100\n  s: \"1:20\"\n  t: \"on\"\n  v: plain\n  w: \"1.0\"\n  x: null\n  \"y\": \"yes\"\nmid: true\nzeta:\n- 1\n- a: 1\n  b: 2\n"
    );
    // What a YAML reader makes of it is the data (PyYAML, batou's reader).
    let out = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True))",
        ])
        .arg(s.path("config.yaml"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"alpha": {"r": 1e+100, "s": "1:20", "t": "on", "v": "plain", "w": "1.0", "x": null, "y": "yes"}, "mid": true, "zeta": [1, {"a": 1, "b": 2}]}"#
    );
    let before = identity(&s.path("config.yaml"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("config.yaml")), before);
}

#[test]
fn yaml_overrides_merge_deeply_and_drift_is_repaired() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            YamlContent::new("a.yaml", json!({"server": {"port": 80, "hosts": ["a"]}}))
                .override_with(json!({"server": {"port": 8080, "hosts": ["b"]}}))
                .mode(0o640),
        )?;
        ctx.add(File::new("f.yaml").yaml(&Settings {
            server: Server {
                port: 1,
                hosts: vec![],
            },
            name: "app",
        }))?;
        Ok(())
    });
    s.deploy();
    let wanted = "server:\n  hosts:\n  - a\n  - b\n  port: 8080\n";
    assert_eq!(s.read("a.yaml"), wanted);
    assert_eq!(mode_of(&s.path("a.yaml")), 0o640);
    assert_eq!(
        s.read("f.yaml"),
        "name: app\nserver:\n  hosts: []\n  port: 1\n"
    );

    std::fs::write(s.path("a.yaml"), "server:\n  hosts:\n  - a\n  port: 80\n").unwrap();
    let before = identity(&s.path("a.yaml"));
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(
        needing_update(&events),
        ["Scene > YamlContent('a.yaml') > Content('a.yaml')"]
    );
    assert!(
        diffs(&events)[0].1.contains(&"+  port: 8080".to_string()),
        "{events:#?}"
    );
    assert_eq!(identity(&s.path("a.yaml")), before, "predict wrote");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("a.yaml"), wanted);
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn yaml_of_data_that_cannot_serialize_is_a_configuration_error() {
    let s = Stage::new(|_, ctx| {
        // Map keys that are not strings: no YAML (nor JSON) key.
        let data: std::collections::HashMap<Vec<u8>, u8> = [(vec![1u8], 1u8)].into();
        ctx.add(YamlContent::new("bad.yaml", data))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.starts_with("cannot serialize the data")),
        "{errors:?}"
    );
    assert!(!s.path("bad.yaml").exists());
}
