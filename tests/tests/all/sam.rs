//! `template.yaml` as data: yaml-rust2 drops the tags of CloudFormation's short forms (`!Ref X`
//! would read as the plain string `X`), so the template is read through a small loader that
//! turns `!Ref X` into `{Ref: X}` and `!Name value` into `{"Fn::Name": value}`: their long
//! forms. Then the lookups the template tests share.

use std::collections::BTreeMap;
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::yaml::Hash;

const TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));

#[derive(Default)]
struct Loader {
    stack: Vec<Frame>,
    docs: Vec<Yaml>,
}

enum Frame {
    Seq(Vec<Yaml>, Option<Tag>),
    Map(Hash, Option<Yaml>, Option<Tag>),
}

impl Loader {
    fn add(&mut self, node: Yaml, mark: Marker) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(_, key @ None, _)) => *key = Some(node),
            Some(Frame::Map(map, key, _)) => {
                let key = key.take().expect("a pending key");
                let line = mark.line();
                assert!(map.insert(key.clone(), node).is_none(), "duplicate {key:?} at line {line}");
            }
        }
    }
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::SequenceStart(_, tag) => self.stack.push(Frame::Seq(Vec::new(), tag)),
            Event::MappingStart(_, tag) => self.stack.push(Frame::Map(Hash::new(), None, tag)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, tag) = match self.stack.pop() {
                    Some(Frame::Seq(items, tag)) => (Yaml::Array(items), tag),
                    Some(Frame::Map(map, _, tag)) => (Yaml::Hash(map), tag),
                    None => panic!("unbalanced YAML at line {}", mark.line()),
                };
                self.add(long_form(node, tag), mark);
            }
            Event::Scalar(value, style, _, tag) => {
                let node = match (style, &tag) {
                    (TScalarStyle::Plain, None) => Yaml::from_str(&value),
                    _ => Yaml::String(value),
                };
                self.add(long_form(node, tag), mark);
            }
            Event::Alias(_) => panic!("template.yaml uses no YAML aliases (line {})", mark.line()),
            _ => {}
        }
    }
}

/// `!Ref X` -> `{Ref: X}`, `!Condition X` -> `{Condition: X}`, `!Sub s` -> `{"Fn::Sub": s}` ...
pub fn long_form(node: Yaml, tag: Option<Tag>) -> Yaml {
    let Some(Tag { suffix, .. }) = tag.filter(|tag| tag.handle == "!") else {
        return node;
    };
    let name = match suffix.as_str() {
        "Ref" | "Condition" => suffix,
        _ => format!("Fn::{suffix}"),
    };
    Yaml::Hash(Hash::from_iter([(Yaml::String(name), node)]))
}

pub fn parse(text: &str) -> Yaml {
    let mut loader = Loader::default();
    let loaded = Parser::new_from_str(text).load(&mut loader, false);
    loaded.expect("valid YAML");
    loader.docs.pop().expect("a YAML document")
}

pub fn template() -> Yaml {
    parse(TEMPLATE)
}

/// The node at a dotted path (`Properties.RedrivePolicy.maxReceiveCount`, `Rules.0.Id`);
/// `Yaml::BadValue` when absent.
pub fn at<'a>(node: &'a Yaml, path: &str) -> &'a Yaml {
    path.split('.').fold(node, |node, key| match key.parse::<usize>() {
        Ok(i) => &node[i],
        Err(_) => &node[key],
    })
}

/// Asserts that the node at each path equals its value (`BadValue`: absent); `whose` names
/// the resource in the messages.
pub fn expect(node: &Yaml, whose: &str, wanted: &[(&str, Yaml)]) {
    for (path, want) in wanted {
        assert_eq!(at(node, path), want, "{whose}: {path}");
    }
}

pub fn s(value: &str) -> Yaml {
    Yaml::String(value.to_owned())
}

pub fn n(value: u32) -> Yaml {
    Yaml::Integer(value.into())
}

pub const YES: Yaml = Yaml::Boolean(true);

pub fn text<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str().unwrap_or_else(|| panic!("{what} should be a string, found {node:?}"))
}

/// The resources of one type, by logical id.
pub fn resources_of<'a>(t: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    let all = t["Resources"].as_hash().expect("Resources is a mapping");
    let of_kind = all.iter().filter(|(_, r)| r["Type"].as_str() == Some(kind));
    of_kind.map(|(id, r)| (text(id, "an id"), r)).collect()
}

/// The one resource of a type.
pub fn single<'a>(t: &'a Yaml, kind: &str) -> (&'a str, &'a Yaml) {
    match resources_of(t, kind)[..] {
        [one] => one,
        ref all => panic!("expected one {kind}, found {}", all.len()),
    }
}

pub fn resource<'a>(t: &'a Yaml, id: &str) -> &'a Yaml {
    let r = &t["Resources"][id];
    assert!(!r.is_badvalue(), "template.yaml has no resource {id}");
    r
}

/// The logical id a `Ref` or `Fn::GetAtt` points at.
pub fn target(node: &Yaml) -> Option<&str> {
    match (&node["Ref"], &node["Fn::GetAtt"]) {
        (Yaml::String(id), _) => Some(id),
        (_, Yaml::String(att)) => att.split('.').next(),
        (_, Yaml::Array(parts)) => parts.first().and_then(Yaml::as_str),
        _ => None,
    }
}

/// The text of a plain string or of an `Fn::Sub` (either form).
pub fn sub_text(node: &Yaml) -> Option<&str> {
    let sub = &node["Fn::Sub"];
    node.as_str().or(sub.as_str()).or(sub[0].as_str())
}

/// `inbound` -> `Inbound` (the queue names are ASCII).
pub fn capitalized(name: &str) -> String {
    name[..1].to_uppercase() + &name[1..]
}

pub fn functions(t: &Yaml) -> Vec<(&str, &Yaml)> {
    resources_of(t, "AWS::Serverless::Function")
}

/// A function property, falling back to `Globals.Function`.
pub fn property<'a>(t: &'a Yaml, function: &'a Yaml, name: &str) -> &'a Yaml {
    let own = &function["Properties"][name];
    if own.is_badvalue() { &t["Globals"]["Function"][name] } else { own }
}

/// A function's environment: the global variables with the function's own over them.
pub fn environment<'a>(t: &'a Yaml, function: &'a Yaml) -> BTreeMap<&'a str, &'a Yaml> {
    let global = at(t, "Globals.Function.Environment.Variables");
    let own = at(function, "Properties.Environment.Variables");
    let vars = [global, own].into_iter().filter_map(Yaml::as_hash).flatten();
    vars.map(|(name, value)| (text(name, "a variable name"), value)).collect()
}

pub struct SamEvent<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub props: &'a Yaml,
}

pub fn events_of(function: &Yaml) -> Vec<SamEvent<'_>> {
    let events = function["Properties"]["Events"].as_hash().into_iter().flatten();
    events
        .map(|(name, e)| SamEvent {
            name: text(name, "an event name"),
            kind: text(&e["Type"], "an event Type"),
            props: &e["Properties"],
        })
        .collect()
}

pub fn route(event: &SamEvent<'_>) -> String {
    let method = text(&event.props["Method"], "Method").to_ascii_uppercase();
    format!("{method} {}", text(&event.props["Path"], "Path"))
}

/// The key prefixes of inline statements that allow table actions: each must be
/// `dynamodb:UpdateItem` alone, on the table, under a `dynamodb:LeadingKeys` condition.
pub fn confined_to_counters<'a>(t: &'a Yaml, function: &'a Yaml) -> Vec<&'a str> {
    let mut prefixes = Vec::new();
    for policy in property(t, function, "Policies").as_vec().into_iter().flatten() {
        for statement in policy["Statement"].as_vec().into_iter().flatten() {
            let actions: Vec<&str> =
                statement["Action"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            assert_eq!(actions, ["dynamodb:UpdateItem"], "only counting");
            let keys = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            let keys: Vec<&str> = keys.as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
            assert!(!keys.is_empty(), "a table statement confined by its leading keys");
            prefixes.extend(keys);
        }
    }
    prefixes
}
