//! batou's list splitting (`Attribute("list")`).

/// Splits a config string into list items the way batou's `"list"`
/// conversion does.
///
/// * If the text contains a comma, it is split on commas;
/// * else, if it contains a line break, it is split into lines;
/// * else it is a single item.
///
/// Every item is stripped of surrounding whitespace and empty items are
/// dropped, so a trailing comma or blank lines do no harm and an empty text
/// is an empty list. Commas win over line breaks: `"a,\nb"` is `["a", "b"]`,
/// but so is a multi-line value where each line ends in a comma.
///
/// ```
/// # use batou_core::convert::split_list;
/// assert_eq!(split_list("a, b, c,"), ["a", "b", "c"]);
/// assert_eq!(split_list("\n  one\n  two\n"), ["one", "two"]);
/// assert_eq!(split_list("single"), ["single"]);
/// assert!(split_list("  ").is_empty());
/// ```
pub fn split_list(text: &str) -> Vec<String> {
    split_list_borrowed(text)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// [`split_list`] without copying: the items are slices of `text`, which
/// lets the text deserializer hand out borrowed strings.
pub(crate) fn split_list_borrowed(text: &str) -> Vec<&str> {
    let items: Vec<&str> = if text.contains(',') {
        text.split(',').collect()
    } else if text.contains('\n') {
        // `lines` also drops a `\r` before the `\n`, for files written on Windows.
        text.lines().collect()
    } else {
        vec![text]
    };
    items
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}
