//! The layout rules of the workspace, checked on the sources themselves:
//! - no import circle between modules of one crate: for every module, the graph of its child
//!   modules (an edge A → B when any file under A names an item under B by a `crate::`,
//!   `super::` or `self::` path, in a `use` or in code) has no cycle;
//! - no source file over 800 lines, and the binary's `main.rs` only dispatches (≤ 150 lines).
//!
//! The parser is small on purpose: it strips comments, strings and character literals, follows
//! `mod name;` declarations from each crate root, and reads paths. Macros that build paths are
//! not seen, which only ever hides an edge, never adds one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crate roots of the workspace, relative to its top.
const ROOTS: [&str; 4] = [
    "protocol/src/lib.rs",
    "circuits/src/lib.rs",
    "node/src/lib.rs",
    "node/src/main.rs",
];

const MAX_LINES: usize = 800;
const MAX_MAIN_LINES: usize = 150;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the node crate sits in the workspace")
        .to_path_buf()
}

/// One source file of a crate and the module path it defines (empty for the root).
struct Module {
    path: Vec<String>,
    file: PathBuf,
    code: String,
}

/// Source text with comments, strings and character literals blanked out (kept as spaces so
/// that tokens on either side stay apart).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(prev(&c, i))
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if c[i] == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c[i]);
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn prev(c: &[char], i: usize) -> char {
    if i == 0 { ' ' } else { c[i - 1] }
}

fn ident_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// The `mod name;` declarations of a file (not inline `mod name { … }`), with any `#[path]`.
fn declared_modules(raw: &str, code: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let lines_raw: Vec<&str> = raw.lines().collect();
    for (n, line) in code.lines().enumerate() {
        let t = line.trim();
        let rest = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(rest) = rest.strip_prefix("mod ") else {
            continue;
        };
        let Some(name) = rest.strip_suffix(';') else {
            continue;
        };
        let path_attr = n
            .checked_sub(1)
            .and_then(|p| lines_raw.get(p))
            .and_then(|l| l.trim().strip_prefix("#[path = \""))
            .and_then(|l| l.strip_suffix("\"]"))
            .map(str::to_string);
        found.push((name.trim().to_string(), path_attr));
    }
    found
}

/// Every file of the crate rooted at `root`, with its module path.
fn crate_modules(root: &Path) -> Vec<Module> {
    let mut modules = Vec::new();
    let mut stack = vec![(Vec::<String>::new(), root.to_path_buf())];
    while let Some((path, file)) = stack.pop() {
        let raw = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = strip(&raw);
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = if path.is_empty() || stem == "mod" {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for (name, path_attr) in declared_modules(&raw, &code) {
            let child = match path_attr {
                Some(p) => file.parent().unwrap().join(p),
                None => {
                    let flat = dir.join(format!("{name}.rs"));
                    if flat.exists() {
                        flat
                    } else {
                        dir.join(&name).join("mod.rs")
                    }
                }
            };
            let mut child_path = path.clone();
            child_path.push(name);
            stack.push((child_path, child));
        }
        modules.push(Module { path, file, code });
    }
    modules
}

/// Splits a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn go(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .split("::")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            let mut base = prefix.to_vec();
            base.extend(head);
            let inner = &s[open + 1..s.rfind('}').unwrap_or(s.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&inner[start..i], &base, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(&inner[start..], &base, out);
        } else {
            let s = s.split(" as ").next().unwrap_or(s);
            let mut path = prefix.to_vec();
            path.extend(
                s.split("::")
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && *p != "*")
                    .map(str::to_string),
            );
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    go(tree, &[], &mut out);
    out
}

/// The paths a file names: its `use` trees and every `crate::`/`super::`/`self::` path in code.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(at) = code[i..].find("use ") {
        let start = i + at;
        i = start + 4;
        if start > 0 && ident_char(bytes[start - 1] as char) {
            continue;
        }
        let Some(end) = code[i..].find(';') else {
            break;
        };
        paths.extend(expand_use(&code[i..i + end]));
        i += end;
    }
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(anchor) {
            let start = from + at;
            from = start + anchor.len();
            if start > 0 && (ident_char(bytes[start - 1] as char) || bytes[start - 1] == b':') {
                continue;
            }
            let mut end = start;
            while end < bytes.len() && (ident_char(bytes[end] as char) || bytes[end] == b':') {
                end += 1;
            }
            let path: Vec<String> = code[start..end]
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            paths.push(path);
        }
    }
    paths
}

/// The module a path names, as an absolute module path, or `None` for another crate's item.
fn resolve(from: &[String], path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments = path.iter();
    let mut abs: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("self") => {
            segments.next();
            from.to_vec()
        }
        Some("super") => {
            let mut base = from.to_vec();
            while segments.clone().next().map(String::as_str) == Some("super") {
                segments.next();
                base.pop();
            }
            base
        }
        Some(first) => {
            // A uniform path through a child module of this one.
            let mut child = from.to_vec();
            child.push(first.to_string());
            if !known.contains(&child) {
                return None;
            }
            from.to_vec()
        }
        None => return None,
    };
    for s in segments {
        abs.push(s.clone());
        if !known.contains(&abs) {
            abs.pop();
            break;
        }
    }
    Some(abs)
}

/// The cycles among the children of each module, as readable lines.
fn module_cycles(modules: &[Module]) -> Vec<String> {
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    // parent → (child → (child → an example "file names path")).
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>> =
        BTreeMap::new();
    for m in modules {
        for path in named_paths(&m.code) {
            let Some(target) = resolve(&m.path, &path, &known) else {
                continue;
            };
            let common = m
                .path
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < m.path.len() && common < target.len() {
                edges
                    .entry(m.path[..common].to_vec())
                    .or_default()
                    .entry(m.path[common].clone())
                    .or_default()
                    .entry(target[common].clone())
                    .or_insert_with(|| format!("{} names {}", m.file.display(), path.join("::")));
            }
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &edges {
        // Every child that reaches itself is on a cycle; report each strongly connected set once.
        let reach = |from: &String| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.clone()];
            while let Some(n) = todo.pop() {
                for next in graph.get(&n).into_iter().flat_map(|e| e.keys()) {
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
            seen
        };
        let mut done = BTreeSet::new();
        for child in graph.keys() {
            if done.contains(child) || !reach(child).contains(child) {
                continue;
            }
            let set: BTreeSet<String> = reach(child)
                .into_iter()
                .filter(|other| reach(other).contains(child))
                .collect();
            let mut line = format!("in `{}`: {{{}}}", display(parent), joined(&set));
            for a in &set {
                for (b, example) in graph.get(a).into_iter().flatten() {
                    if set.contains(b) {
                        line.push_str(&format!("\n    {a} → {b}: {example}"));
                    }
                }
            }
            cycles.push(line);
            done.extend(set);
        }
    }
    cycles
}

fn display(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

fn joined(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[test]
fn no_module_of_a_crate_imports_in_a_circle() {
    let mut found = Vec::new();
    for root in ROOTS {
        let modules = crate_modules(&workspace().join(root));
        assert!(
            modules.len() > 1 || root.ends_with("main.rs"),
            "{root}: no modules found"
        );
        for cycle in module_cycles(&modules) {
            found.push(format!("{root}: {cycle}"));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_too_long() {
    let mut long = Vec::new();
    for root in ROOTS {
        for m in crate_modules(&workspace().join(root)) {
            let lines = fs::read_to_string(&m.file)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            let limit = if m.file.ends_with("node/src/main.rs") {
                MAX_MAIN_LINES
            } else {
                MAX_LINES
            };
            if lines > limit {
                long.push(format!(
                    "{}: {lines} lines (limit {limit})",
                    m.file.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over the limit:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_a_circle_and_reads_use_trees() {
    let module = |path: &[&str], code: &str| Module {
        path: path.iter().map(|s| s.to_string()).collect(),
        file: PathBuf::from(path.join("/")),
        code: strip(code),
    };
    let modules = [
        module(&[], "mod a; mod b; mod c;"),
        module(&["a"], "use crate::{b::{Thing, other}, c};"),
        module(&["b"], "fn f() { super::a::g(); } // crate::c::h"),
        module(&["c"], "const S: &str = \"crate::a\";"),
    ];
    let cycles = module_cycles(&modules);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].starts_with("in `crate`: {a, b}"), "{}", cycles[0]);
    assert_eq!(
        expand_use("crate::{x::{Y, z as w}, v}"),
        vec![
            vec!["crate", "x", "Y"],
            vec!["crate", "x", "z"],
            vec!["crate", "v"],
        ]
    );
}
