//! Ordering roots by their dependencies, and finding cycles.

/// Topologically sorts `n` nodes where `edges` are `(a, b)`: "a depends on
/// b", so b comes first. Ties go to the lower index (environment order).
/// On a cycle, returns the nodes of one cycle, in order.
pub(crate) fn topo_sort(n: usize, edges: &[(usize, usize)]) -> Result<Vec<usize>, Vec<usize>> {
    let mut deps_left = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut unique: Vec<(usize, usize)> = edges.iter().copied().filter(|(a, b)| a != b).collect();
    unique.sort_unstable();
    unique.dedup();
    for &(a, b) in &unique {
        deps_left[a] += 1;
        dependents[b].push(a);
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|i| deps_left[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for &d in &dependents[next] {
            deps_left[d] -= 1;
            if deps_left[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(n, &unique, &deps_left))
}

/// One cycle among the nodes Kahn's algorithm could not place.
fn find_cycle(n: usize, edges: &[(usize, usize)], deps_left: &[usize]) -> Vec<usize> {
    let stuck: Vec<bool> = (0..n).map(|i| deps_left[i] > 0).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if stuck[a] && stuck[b] {
            next[a].push(b);
        }
    }
    // Every stuck node has a stuck dependency, so walking always finds a
    // node seen before: the cycle is the walk from that node on.
    let Some(start) = (0..n).find(|i| stuck[*i]) else {
        return Vec::new();
    };
    let mut path = vec![start];
    let mut seen_at = vec![usize::MAX; n];
    seen_at[start] = 0;
    let mut current = start;
    loop {
        let Some(&step) = next[current].iter().min() else {
            return path;
        };
        if seen_at[step] != usize::MAX {
            return path[seen_at[step]..].to_vec();
        }
        seen_at[step] = path.len();
        path.push(step);
        current = step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_ties_by_index() {
        // 0 depends on 2, 1 independent.
        assert_eq!(topo_sort(3, &[(0, 2)]).unwrap(), [1, 2, 0]);
    }

    #[test]
    fn cycle_is_reported_in_order() {
        let err = topo_sort(4, &[(0, 1), (1, 2), (2, 0), (3, 0)]).unwrap_err();
        assert_eq!(err, [0, 1, 2]);
    }
}
