//! What templates see as `component`: the component's attributes, plus
//! what batou's templates use of a component — `component.map(path)`,
//! `component.expand(text)`, `component.workdir`, and the properties every
//! batou component has: `component.host`, `component.environment`,
//! `component.features` and `component.root` (the root component: `name`,
//! `workdir`, `host`, `environment`, `features`).

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, ErrorKind, State, Value};

use crate::vfs::PathMapper;

/// A component's attributes with batou's component methods.
#[derive(Debug)]
pub(crate) struct ComponentView {
    pub attributes: Value,
    pub workdir: PathBuf,
    pub mapper: Arc<PathMapper>,
    /// The root: `name`, `workdir`, `host`, `environment`, `features`.
    pub root: Value,
}

impl ComponentView {
    pub fn value(
        attributes: Value,
        workdir: PathBuf,
        mapper: Arc<PathMapper>,
        root: Value,
    ) -> Value {
        Value::from_object(ComponentView {
            attributes,
            workdir,
            mapper,
            root,
        })
    }
}

impl Object for ComponentView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(value) = self
            .attributes
            .get_item(key)
            .ok()
            .filter(|v| !v.is_undefined())
        {
            return Some(value);
        }
        // An attribute of the same name wins, as in a batou component.
        match key.as_str()? {
            "workdir" => Some(Value::from(self.workdir.to_string_lossy().into_owned())),
            // batou's `Component.host`/`.environment` are the root's.
            name @ ("host" | "environment" | "features") => {
                self.root.get_attr(name).ok().filter(|v| !v.is_undefined())
            }
            "root" => Some(self.root.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.attributes.try_iter() {
            Ok(keys) => Enumerator::Values(keys.collect()),
            Err(_) => Enumerator::Empty,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "map" => {
                let (path,): (String,) = minijinja::value::from_args(args)?;
                let mapped = self.mapper.map(&self.workdir, path.as_ref());
                Ok(Value::from(mapped.to_string_lossy().into_owned()))
            }
            "expand" => {
                let (text,): (String,) = minijinja::value::from_args(args)?;
                crate::template::expand(state, &text).map(Value::from)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a component has no method `{method}` (it has map, expand)"),
            )),
        }
    }
}
