//! The configured component tree of one root.

use std::path::PathBuf;

use super::Component;

/// One configured component and its sub-components, in the order they
/// were added (the platform variant last).
pub(crate) struct Node {
    pub component: Box<dyn Component>,
    pub children: Vec<Node>,
    pub breadcrumbs: String,
    pub workdir: PathBuf,
    pub changed: bool,
    /// Its id within the root, in the order components were added (the
    /// root is 0); event handlers refer to components by it.
    pub id: usize,
}

impl Node {
    /// Number of components in the tree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Node::count).sum::<usize>()
    }
}
