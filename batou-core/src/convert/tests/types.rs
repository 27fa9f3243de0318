//! `Mode` and `Duration`: from text, from typed values, and back.

use std::time::Duration as StdDuration;

use serde_json::json;

use super::super::*;

#[test]
fn mode_from_octal_strings() {
    assert_eq!(from_config_str::<Mode>("755").unwrap(), Mode(0o755));
    assert_eq!(from_config_str::<Mode>("0755").unwrap(), Mode(0o755));
    assert_eq!(from_config_str::<Mode>("0o755").unwrap(), Mode(0o755));
    assert_eq!(from_config_str::<Mode>(" 640 ").unwrap(), Mode(0o640));
    assert_eq!(from_config_str::<Mode>("4755").unwrap(), Mode(0o4755));
    assert_eq!(from_config_str::<Mode>("0").unwrap(), Mode(0));
    assert_eq!("0o7777".parse::<Mode>().unwrap(), Mode(0o7777));
}

#[test]
fn mode_from_ls_style_strings() {
    assert_eq!(from_config_str::<Mode>("rwxr-x---").unwrap(), Mode(0o750));
    assert_eq!(from_config_str::<Mode>("rw-r--r--").unwrap(), Mode(0o644));
    assert_eq!(from_config_str::<Mode>("---------").unwrap(), Mode(0));
    assert_eq!(from_config_str::<Mode>("rwxrwxrwx").unwrap(), Mode(0o777));
    assert_eq!(from_config_str::<Mode>("--x--x--x").unwrap(), Mode(0o111));
}

#[test]
fn mode_from_integers_is_taken_as_is() {
    let mode: Mode = serde_json::from_value(json!(493)).unwrap();
    assert_eq!(mode, Mode(0o755));
    let mode: Mode = serde_json::from_value(json!(0)).unwrap();
    assert_eq!(mode, Mode(0));
    let too_big = serde_json::from_value::<Mode>(json!(0o10000)).unwrap_err();
    assert!(too_big.to_string().contains("mode 0o10000 is out of range"));
    let negative = serde_json::from_value::<Mode>(json!(-1)).unwrap_err();
    assert!(negative.to_string().contains("mode -1 is negative"));
    assert_eq!(Mode::new(0o644), Ok(Mode(0o644)));
    assert!(Mode::new(0o17777).is_err());
}

#[test]
fn mode_errors_use_batous_message() {
    for text in [
        "wrongmode",
        "rwxr-x--",
        "rwxr-x----",
        "-rwxr-x---",
        "rwsr-x---",
        "xwrr-x---",
        "",
        "0o",
        "8",
        "493x",
    ] {
        assert_eq!(
            from_config_str::<Mode>(text).unwrap_err().to_string(),
            format!(
                "cannot convert {text:?}: Mode-string should be between `---------` and `rwxrwxrwx`."
            ),
        );
    }
    assert_eq!(
        from_config_str::<Mode>("10000").unwrap_err().to_string(),
        r#"cannot convert "10000": mode 0o10000 is out of range (at most 0o7777)"#
    );
    assert!(
        from_config_str::<Mode>("7777777777777777777777777777777777777777777777")
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
}

#[test]
fn mode_serializes_as_integer_and_displays_octal() {
    assert_eq!(serde_json::to_value(Mode(0o755)).unwrap(), json!(493));
    assert_eq!(Mode(0o755).to_string(), "0755");
    assert_eq!(Mode(0o4755).to_string(), "4755");
    assert_eq!(Mode(0o7).to_string(), "0007");
    assert_eq!(format!("{:?}", Mode(0o640)), "Mode(0o640)");
    assert_eq!(u32::from(Mode(0o640)), 0o640);
    let back: Mode = serde_json::from_value(serde_json::to_value(Mode(0o750)).unwrap()).unwrap();
    assert_eq!(back, Mode(0o750));
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn duration_forms() {
    assert_eq!(from_config_str::<Duration>("90").unwrap(), secs(90));
    assert_eq!(from_config_str::<Duration>("90s").unwrap(), secs(90));
    assert_eq!(from_config_str::<Duration>("5m").unwrap(), secs(300));
    assert_eq!(from_config_str::<Duration>("1h30m").unwrap(), secs(5400));
    assert_eq!(from_config_str::<Duration>("2d").unwrap(), secs(172_800));
    assert_eq!(from_config_str::<Duration>("1m 30s").unwrap(), secs(90));
    assert_eq!(from_config_str::<Duration>("30s1m").unwrap(), secs(90));
    assert_eq!(from_config_str::<Duration>("5 m").unwrap(), secs(300));
    assert_eq!(from_config_str::<Duration>(" 0 ").unwrap(), secs(0));
    assert_eq!(
        from_config_str::<Duration>("500ms").unwrap().0,
        StdDuration::from_millis(500)
    );
    assert_eq!(
        from_config_str::<Duration>("1s250us").unwrap().0,
        StdDuration::from_micros(1_000_250)
    );
    assert_eq!(
        from_config_str::<Duration>("3µs").unwrap().0,
        StdDuration::from_micros(3)
    );
    assert_eq!(
        from_config_str::<Duration>("7ns").unwrap().0,
        StdDuration::from_nanos(7)
    );
}

#[test]
fn duration_errors() {
    let cases = [
        ("", "the duration is empty"),
        (
            "5x",
            "unknown duration unit `x` (use d, h, m, s, ms, us or ns)",
        ),
        ("5 sec", "unknown duration unit `sec`"),
        ("90 5m", "`90` needs a unit"),
        ("1.5h", "fractions are not supported"),
        ("1h30", "`30` needs a unit"),
        ("h", "expected a number in the duration at `h`"),
        ("-5s", "expected a number in the duration at `-5s`"),
        ("99999999999999999999999d", "the duration is too large"),
        ("99999999999999999999999", "the duration is too large"),
    ];
    for (text, expected) in cases {
        let message = from_config_str::<Duration>(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("cannot convert {text:?}: {expected}")),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn duration_from_typed_numbers() {
    let d: Duration = serde_json::from_value(json!(90)).unwrap();
    assert_eq!(d, secs(90));
    let d: Duration = serde_json::from_value(json!(1.5)).unwrap();
    assert_eq!(d.0, StdDuration::from_millis(1500));
    let d: Duration = serde_json::from_value(json!("2m")).unwrap();
    assert_eq!(d, secs(120));
    let negative = serde_json::from_value::<Duration>(json!(-1)).unwrap_err();
    assert!(negative.to_string().contains("cannot be negative"));
    let negative = serde_json::from_value::<Duration>(json!(-0.5)).unwrap_err();
    assert!(negative.to_string().contains("cannot be negative"));
    let huge = serde_json::from_value::<Duration>(json!(1e300)).unwrap_err();
    assert!(huge.to_string().contains("too large"));
}

#[test]
fn duration_displays_and_serializes_as_human_string() {
    assert_eq!(secs(90).to_string(), "1m30s");
    assert_eq!(secs(0).to_string(), "0s");
    assert_eq!(secs(5400).to_string(), "1h30m");
    assert_eq!(secs(90_061).to_string(), "1d1h1m1s");
    assert_eq!(
        Duration(StdDuration::from_millis(1500)).to_string(),
        "1s500ms"
    );
    assert_eq!(Duration(StdDuration::new(1, 2_003)).to_string(), "1s2us3ns");
    assert_eq!(serde_json::to_value(secs(300)).unwrap(), json!("5m"));
}

#[test]
fn duration_round_trips_exactly() {
    for d in [
        StdDuration::ZERO,
        StdDuration::from_nanos(1),
        StdDuration::new(86_399, 999_999_999),
        StdDuration::from_secs(3 * 86_400 + 7),
        StdDuration::MAX,
    ] {
        let text = Duration(d).to_string();
        assert_eq!(from_config_str::<Duration>(&text).unwrap().0, d, "{text}");
        let json = serde_json::to_value(Duration(d)).unwrap();
        assert_eq!(serde_json::from_value::<Duration>(json).unwrap().0, d);
    }
}
