//! No import cycles: the files of `shared` form a graph without cycles, and so do the files of
//! each function crate apart from its root (`lib.rs` holds the function and its route table,
//! which name the handlers that use it).
//!
//! The graph is read from the sources: an edge from a file to the file defining what it names
//! with `use crate::...`/`use super::...` or a qualified `crate::`/`super::` path in its code.
//! A module's re-exports of its own children are its public face, not a dependency, and a name
//! reached through a re-export leads to the file that defines it. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Crate {
    /// Module path (`["repo", "keys", "claims"]`) to its file.
    files: BTreeMap<Vec<String>, PathBuf>,
    /// Module path to its source, test modules removed.
    sources: BTreeMap<Vec<String>, String>,
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn without_tests(source: &str) -> String {
    match source.find("#[cfg(test)]\nmod tests {") {
        Some(at) => source[..at].to_owned(),
        None => source.to_owned(),
    }
}

fn read_crate(src: &Path) -> Crate {
    let mut files = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Binaries and test folders are not the library's modules.
                if !matches!(path.file_name().and_then(|n| n.to_str()), Some("bin" | "tests")) {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
                let module = module_path(src, &path);
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                sources.insert(module.clone(), without_tests(&text));
                files.insert(module, path);
            }
        }
    }
    Crate { files, sources }
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split_whitespace().collect::<Vec<_>>().join(" ")];
    };
    let prefix = tree[..open].trim();
    let inner = tree[open + 1..].strip_suffix('}').unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The `use` statements of a source (whether `pub`), each expanded into paths.
fn uses(source: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let is_use =
        |l: &str| ["use ", "pub use ", "pub(crate) use "].iter().any(|p| l.trim_start().starts_with(p));
    for statement in source.split(';') {
        let Some(first) = statement.lines().position(is_use) else { continue };
        let lines: Vec<&str> = statement.lines().skip(first).collect();
        let joined = lines.join("\n");
        let line = joined.trim_start();
        let (public, rest) = if let Some(rest) = line.strip_prefix("pub use ") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("pub(crate) use ") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("use ") {
            (false, rest)
        } else {
            continue;
        };
        for path in expand(rest) {
            let path = path.split(" as ").next().unwrap_or(&path).to_owned();
            out.push((public, path));
        }
    }
    out
}

/// Qualified paths in code: `crate::a::b`, `super::c`, and `child::d` for the module's own
/// children (a parent calling into a child).
fn qualified(source: &str, children: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let is_use =
        |l: &str| ["use ", "pub use ", "pub(crate) use "].iter().any(|p| l.trim_start().starts_with(p));
    for line in source.lines().filter(|l| !l.trim_start().starts_with("//") && !is_use(l)) {
        let child_starts = children.iter().map(|c| format!("{c}::"));
        for start in ["crate::".to_owned(), "super::".to_owned()].into_iter().chain(child_starts) {
            let start = start.as_str();
            let mut rest = line;
            while let Some(at) = rest.find(start) {
                let path: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                // `$crate::` is a macro's, expanded in the crates that call it.
                let in_macro = rest[..at].ends_with('$');
                let part_of_a_name =
                    rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
                if !in_macro && !part_of_a_name {
                    let path = path.trim_end_matches(':');
                    let local = !(path.starts_with("crate::") || path.starts_with("super::"));
                    out.push(if local { format!("self::{path}") } else { path.to_owned() });
                }
                rest = &rest[at + start.len()..];
            }
        }
    }
    out
}

impl Crate {
    /// The file defining what `path`, written in `module`, names.
    fn resolve(&self, module: &[String], path: &str, depth: usize) -> Option<Vec<String>> {
        let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
        let mut at: Vec<String> = match segments.peek().copied() {
            Some("crate") => {
                segments.next();
                Vec::new()
            }
            Some("super") => {
                let mut parent = module.to_vec();
                while segments.peek() == Some(&"super") {
                    segments.next();
                    parent.pop();
                }
                parent
            }
            Some("self") => {
                segments.next();
                module.to_vec()
            }
            _ => return None,
        };
        for segment in segments {
            let mut child = at.clone();
            child.push(segment.to_owned());
            if self.files.contains_key(&child) {
                at = child;
                continue;
            }
            // An item of `at`: follow it if `at` only re-exports it.
            if depth < 8
                && let Some(source) = self.sources.get(&at)
            {
                for (public, target) in uses(source) {
                    let last = target.rsplit("::").next().unwrap_or_default();
                    if public && last == segment {
                        let target = if target.starts_with("crate")
                            || target.starts_with("super")
                            || target.starts_with("self")
                        {
                            target
                        } else {
                            format!("self::{target}")
                        };
                        if let Some(found) = self.resolve(&at, &target, depth + 1) {
                            return Some(found);
                        }
                    }
                }
            }
            break;
        }
        Some(at)
    }

    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (module, source) in &self.sources {
            let own_children =
                |target: &Vec<String>| target.len() > module.len() && target.starts_with(module);
            let mut paths: Vec<(bool, String)> = uses(source)
                .into_iter()
                .map(|(public, p)| {
                    let local = !(p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"));
                    // `pub use child::X` in a module: its own child's item, named by the child.
                    (public, if local { format!("self::{p}") } else { p })
                })
                .collect();
            let children: Vec<String> = self
                .files
                .keys()
                .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
                .filter_map(|m| m.last().cloned())
                .collect();
            paths.extend(qualified(source, &children).into_iter().map(|p| (false, p)));
            let targets = graph.entry(module.clone()).or_default();
            for (public, path) in paths {
                let Some(target) = self.resolve(module, &path, 0) else { continue };
                if &target == module || (public && own_children(&target)) {
                    continue;
                }
                if self.files.contains_key(&target) {
                    targets.insert(target);
                }
            }
        }
        graph
    }
}

/// Every strongly connected component of more than one file (Tarjan).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        for next in s.graph.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[next].min(s.low[node]);
                s.low.insert(node, low);
            } else if s.stack.contains(&next) {
                let low = s.index[next].min(s.low[node]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                component.push(top.clone());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state =
        State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn show(components: &[Vec<Vec<String>>]) -> Vec<String> {
    components
        .iter()
        .map(|c| c.iter().map(|m| format!("crate::{}", m.join("::"))).collect::<Vec<_>>().join(" <-> "))
        .collect()
}

#[test]
fn no_file_of_shared_takes_part_in_an_import_cycle() {
    let shared = read_crate(&Path::new(ROOT).join("shared/src"));
    assert!(shared.files.len() > 50, "read {} files", shared.files.len());
    let graph = shared.edges();
    let auth = graph.get(&vec!["http".to_owned(), "auth".to_owned()]).cloned().unwrap_or_default();
    assert!(auth.contains(&vec!["repo".to_owned(), "members".to_owned()]), "the reader sees auth -> members");
    assert_eq!(show(&cycles(&graph)), Vec::<String>::new());
}

#[test]
fn no_file_of_a_function_crate_but_its_root_takes_part_in_an_import_cycle() {
    let functions = Path::new(ROOT).join("functions");
    for dir in std::fs::read_dir(&functions).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let src = dir.path().join("src");
        if !src.join("lib.rs").exists() {
            continue;
        }
        let krate = read_crate(&src);
        let mut graph = krate.edges();
        graph.remove(&Vec::new());
        for targets in graph.values_mut() {
            targets.remove(&Vec::new());
        }
        assert_eq!(show(&cycles(&graph)), Vec::<String>::new(), "{}", dir.path().display());
    }
}

#[test]
fn the_reader_finds_a_cycle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    let (a, b, c) = (vec!["a".to_owned()], vec!["b".to_owned()], vec!["c".to_owned()]);
    graph.insert(a.clone(), BTreeSet::from([b.clone()]));
    graph.insert(b.clone(), BTreeSet::from([a.clone(), c.clone()]));
    graph.insert(c.clone(), BTreeSet::new());
    assert_eq!(cycles(&graph).len(), 1);
    assert_eq!(expand("a::{b, c::{d, e as f}}"), vec!["a::b", "a::c::d", "a::c::e as f"]);
}
