//! Host patterns: which hosts a command acts on (`--hosts`), the same
//! for `deploy`, `exec` and every command that takes a selection.
//!
//! A pattern is a comma list of terms, each a host name, a glob (`web*`,
//! `db[12]`) or a tag (`@web`, the host's `tags`), and each may be
//! negated with a leading `!`. The hosts selected are those any plain
//! term matches (every host when all terms are negated) minus those any
//! negated term matches, in the environment's order.

use super::{Environment, HostConfig};

/// A term of a pattern that selects nothing, or a pattern that cannot be
/// read: the selection is refused as a whole, nothing is connected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A plain name that is not a host of the environment (the same
    /// message as before patterns existed).
    #[error("unknown host `{name}` (known: {})", .known.join(", "))]
    UnknownHost { name: String, known: Vec<String> },
    #[error("host pattern `{pattern}` matches no host (known: {})", .known.join(", "))]
    NoMatch { pattern: String, known: Vec<String> },
    #[error("unknown tag `@{tag}` (known tags: {})", none_if_empty(.known))]
    UnknownTag { tag: String, known: Vec<String> },
    #[error("invalid host pattern `{pattern}`: {message}")]
    Invalid { pattern: String, message: String },
    /// Every host the terms matched was excluded again.
    #[error("the host selection `{pattern}` selects no host")]
    Empty { pattern: String },
}

fn none_if_empty(known: &[String]) -> String {
    if known.is_empty() {
        "none".into()
    } else {
        known.join(", ")
    }
}

/// What one term matches.
#[derive(Debug, Clone)]
enum Matcher {
    /// A name without glob characters.
    Name(String),
    Glob(glob::Pattern),
    Tag(glob::Pattern),
}

#[derive(Debug, Clone)]
struct Term {
    text: String,
    negated: bool,
    matcher: Matcher,
}

/// A parsed host pattern; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct HostPattern {
    terms: Vec<Term>,
}

impl HostPattern {
    /// Parses `items`, each itself a comma list (as `--hosts a,b --hosts
    /// c` arrives). Blank items are dropped; an empty pattern selects
    /// every host.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<HostPattern, PatternError> {
        let mut terms = Vec::new();
        for item in items {
            for raw in item.as_ref().split(',') {
                let text = raw.trim();
                if text.is_empty() {
                    continue;
                }
                let (negated, body) = match text.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, text),
                };
                let glob = |p: &str| {
                    glob::Pattern::new(p).map_err(|e| PatternError::Invalid {
                        pattern: text.to_string(),
                        message: e.msg.to_string(),
                    })
                };
                let matcher = if let Some(tag) = body.strip_prefix('@') {
                    Matcher::Tag(glob(tag)?)
                } else if body.contains(['*', '?', '[']) {
                    Matcher::Glob(glob(body)?)
                } else {
                    Matcher::Name(body.to_string())
                };
                if body.is_empty() || body == "@" {
                    return Err(PatternError::Invalid {
                        pattern: text.to_string(),
                        message: "nothing to match".into(),
                    });
                }
                terms.push(Term {
                    text: text.to_string(),
                    negated,
                    matcher,
                });
            }
        }
        Ok(HostPattern { terms })
    }

    /// Whether the pattern has no terms (selects every host).
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// Adds `other`'s terms negated (`--skip-hosts`).
    pub fn excluding(mut self, other: HostPattern) -> HostPattern {
        self.terms.extend(other.terms.into_iter().map(|mut t| {
            t.negated = !t.negated;
            t
        }));
        self
    }

    /// The names of the hosts of `env` this pattern selects, in the
    /// environment's order. Every term must match some host, and the
    /// result must not be empty.
    pub fn select(&self, env: &Environment) -> Result<Vec<String>, PatternError> {
        let hosts: Vec<&HostConfig> = env.hosts.values().collect();
        for term in &self.terms {
            if !hosts.iter().any(|h| term.matches(h)) {
                return Err(term.no_match(&hosts));
            }
        }
        let any_plain = self.terms.iter().any(|t| !t.negated);
        let selected: Vec<String> = hosts
            .iter()
            .filter(|h| {
                let included = !any_plain || self.terms.iter().any(|t| !t.negated && t.matches(h));
                included && !self.terms.iter().any(|t| t.negated && t.matches(h))
            })
            .map(|h| h.name.clone())
            .collect();
        if selected.is_empty() {
            return Err(PatternError::Empty {
                pattern: self.to_string(),
            });
        }
        Ok(selected)
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let texts: Vec<&str> = self.terms.iter().map(|t| t.text.as_str()).collect();
        f.write_str(&texts.join(","))
    }
}

impl Term {
    fn matches(&self, host: &HostConfig) -> bool {
        match &self.matcher {
            Matcher::Name(name) => host.name == *name,
            Matcher::Glob(glob) => glob.matches(&host.name),
            Matcher::Tag(glob) => host.tags.iter().any(|t| glob.matches(t)),
        }
    }

    fn no_match(&self, hosts: &[&HostConfig]) -> PatternError {
        let names = || hosts.iter().map(|h| h.name.clone()).collect();
        match &self.matcher {
            Matcher::Name(name) => PatternError::UnknownHost {
                name: name.clone(),
                known: names(),
            },
            Matcher::Glob(_) => PatternError::NoMatch {
                pattern: self.text.clone(),
                known: names(),
            },
            Matcher::Tag(glob) => {
                let mut known: Vec<String> = Vec::new();
                for tag in hosts.iter().flat_map(|h| &h.tags) {
                    if !known.contains(tag) {
                        known.push(tag.clone());
                    }
                }
                PatternError::UnknownTag {
                    tag: glob.as_str().to_string(),
                    known,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        let ini = "[hosts]\nweb1 = a\n\n[host:web2]\ncomponents = a\ntags = web, eu\n\n\
                   [host:db1]\ncomponents = a\ntags = db, eu\n\n[host:db2]\ncomponents = a\ntags = db\n";
        Environment::from_source(
            std::path::Path::new("/p"),
            "t",
            std::path::Path::new("/p/environments/t.cfg"),
            ini,
        )
        .unwrap()
    }

    fn select(items: &[&str]) -> Result<Vec<String>, PatternError> {
        HostPattern::parse(items)?.select(&env())
    }

    #[test]
    fn globs_tags_negation_and_lists_select_exactly() {
        let table: &[(&[&str], &[&str])] = &[
            (&[], &["web1", "web2", "db1", "db2"]),
            (&["web1"], &["web1"]),
            (&["web*"], &["web1", "web2"]),
            (&["@eu"], &["web2", "db1"]),
            (&["@db,!db2"], &["db1"]),
            (&["!@eu"], &["web1", "db2"]),
            (&["web*", "@db"], &["web1", "web2", "db1", "db2"]),
            (&["*1"], &["web1", "db1"]),
            (&["db[2]", " web1 "], &["web1", "db2"]),
            (&["@e?", "!web*"], &["db1"]),
            (&["@*"], &["web2", "db1", "db2"]),
        ];
        for (items, expected) in table {
            assert_eq!(select(items).unwrap(), *expected, "{items:?}");
        }
    }

    #[test]
    fn a_term_matching_nothing_is_refused_naming_what_exists() {
        assert_eq!(
            select(&["nope"]).unwrap_err().to_string(),
            "unknown host `nope` (known: web1, web2, db1, db2)"
        );
        assert_eq!(
            select(&["app*"]).unwrap_err().to_string(),
            "host pattern `app*` matches no host (known: web1, web2, db1, db2)"
        );
        assert_eq!(
            select(&["!@us"]).unwrap_err().to_string(),
            "unknown tag `@us` (known tags: web, eu, db)"
        );
        assert_eq!(
            select(&["web1,!web*"]).unwrap_err().to_string(),
            "the host selection `web1,!web*` selects no host"
        );
        assert!(matches!(
            select(&["web[", "x"]),
            Err(PatternError::Invalid { .. })
        ));
        assert!(matches!(select(&["!"]), Err(PatternError::Invalid { .. })));
    }

    #[test]
    fn skip_hosts_negates_their_terms() {
        let pattern = HostPattern::parse(&["@eu"])
            .unwrap()
            .excluding(HostPattern::parse(&["db*"]).unwrap());
        assert_eq!(pattern.select(&env()).unwrap(), ["web2"]);
        let skip_only = HostPattern::default().excluding(HostPattern::parse(&["!web1"]).unwrap());
        assert_eq!(skip_only.select(&env()).unwrap(), ["web1"]);
    }

    #[test]
    fn tags_load_from_ini_and_toml() {
        assert_eq!(env().hosts["web2"].tags, ["web", "eu"]);
        assert!(env().warnings.is_empty(), "{:?}", env().warnings);
        let toml = "[host.a]\ncomponents = [\"x\"]\ntags = [\"web\", \"eu\"]\n";
        let env = Environment::from_source(
            std::path::Path::new("/p"),
            "t",
            std::path::Path::new("/p/environments/t.toml"),
            toml,
        )
        .unwrap();
        assert_eq!(env.hosts["a"].tags, ["web", "eu"]);
    }
}
