//! `JsonContent`, `TomlContent` and `File::json` / `File::toml`.

use serde_json::json;

use super::*;
use crate::error::Error;
use crate::stdlib::{File, JsonContent, TomlContent};
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
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.contains("override_with needs json(..) or toml(..)")),
        "{errors:?}"
    );
}
