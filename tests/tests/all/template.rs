//! `template.yaml` against the code: the table, queues and bucket against
//! `gestor_shared::resources`, each function's routes against its crate's `ROUTES`, and the
//! SAM mistakes cfn-lint lets through (event types, batch failure reporting, schedule
//! expressions, secrets in plain text).
//!
//! yaml-rust2 drops the tags of CloudFormation's short forms (`!Ref X` would read as the plain
//! string `X`), so the template is read through a small loader that turns `!Ref X` into
//! `{Ref: X}` and `!Name value` into `{"Fn::Name": value}`: their long forms.

use gestor_shared::http::{Access, Route};
use gestor_shared::ports::Index;
use gestor_shared::resources::{self, EXPORTS_EXPIRE_DAYS, EXPORTS_PREFIX, QueueSpec};
use gestor_shared::settings::REQUIRED_SECRETS;
use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::yaml::Hash;

const TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));
const FUNCTIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");

/// Each function binary with the routes its crate serves.
fn crate_routes() -> BTreeMap<&'static str, &'static [Route]> {
    BTreeMap::from([
        ("contacts", gestor_contacts::ROUTES),
        ("members", gestor_members::ROUTES),
        ("audit", gestor_audit::ROUTES),
        ("openapi", gestor_openapi::ROUTES),
        ("channels", gestor_channels::ROUTES),
        ("conversations", gestor_conversations::ROUTES),
        ("webhooks", gestor_webhooks::ROUTES),
        // Queue consumers: no routes.
        ("inbound", &[]),
        ("deferred", &[]),
    ])
}

// ------------------------------------------------------------------ reading the template

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
fn long_form(node: Yaml, tag: Option<Tag>) -> Yaml {
    let Some(Tag { suffix, .. }) = tag.filter(|tag| tag.handle == "!") else {
        return node;
    };
    let name = match suffix.as_str() {
        "Ref" | "Condition" => suffix,
        _ => format!("Fn::{suffix}"),
    };
    Yaml::Hash(Hash::from_iter([(Yaml::String(name), node)]))
}

fn parse(text: &str) -> Yaml {
    let mut loader = Loader::default();
    let loaded = Parser::new_from_str(text).load(&mut loader, false);
    loaded.expect("valid YAML");
    loader.docs.pop().expect("a YAML document")
}

fn template() -> Yaml {
    parse(TEMPLATE)
}

/// The node at a dotted path (`Properties.RedrivePolicy.maxReceiveCount`, `Rules.0.Id`);
/// `Yaml::BadValue` when absent.
fn at<'a>(node: &'a Yaml, path: &str) -> &'a Yaml {
    path.split('.').fold(node, |node, key| match key.parse::<usize>() {
        Ok(i) => &node[i],
        Err(_) => &node[key],
    })
}

/// Asserts that the node at each path equals its value (`BadValue`: absent); `whose` names
/// the resource in the messages.
fn expect(node: &Yaml, whose: &str, wanted: &[(&str, Yaml)]) {
    for (path, want) in wanted {
        assert_eq!(at(node, path), want, "{whose}: {path}");
    }
}

fn s(value: &str) -> Yaml {
    Yaml::String(value.to_owned())
}

fn n(value: u32) -> Yaml {
    Yaml::Integer(value.into())
}

const YES: Yaml = Yaml::Boolean(true);

fn text<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str().unwrap_or_else(|| panic!("{what} should be a string, found {node:?}"))
}

/// The resources of one type, by logical id.
fn resources_of<'a>(t: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    let all = t["Resources"].as_hash().expect("Resources is a mapping");
    let of_kind = all.iter().filter(|(_, r)| r["Type"].as_str() == Some(kind));
    of_kind.map(|(id, r)| (text(id, "an id"), r)).collect()
}

/// The one resource of a type.
fn single<'a>(t: &'a Yaml, kind: &str) -> (&'a str, &'a Yaml) {
    match resources_of(t, kind)[..] {
        [one] => one,
        ref all => panic!("expected one {kind}, found {}", all.len()),
    }
}

fn resource<'a>(t: &'a Yaml, id: &str) -> &'a Yaml {
    let r = &t["Resources"][id];
    assert!(!r.is_badvalue(), "template.yaml has no resource {id}");
    r
}

/// The logical id a `Ref` or `Fn::GetAtt` points at.
fn target(node: &Yaml) -> Option<&str> {
    match (&node["Ref"], &node["Fn::GetAtt"]) {
        (Yaml::String(id), _) => Some(id),
        (_, Yaml::String(att)) => att.split('.').next(),
        (_, Yaml::Array(parts)) => parts.first().and_then(Yaml::as_str),
        _ => None,
    }
}

/// The text of a plain string or of an `Fn::Sub` (either form).
fn sub_text(node: &Yaml) -> Option<&str> {
    let sub = &node["Fn::Sub"];
    node.as_str().or(sub.as_str()).or(sub[0].as_str())
}

/// `inbound` -> `Inbound` (the queue names are ASCII).
fn capitalized(name: &str) -> String {
    name[..1].to_uppercase() + &name[1..]
}

fn functions(t: &Yaml) -> Vec<(&str, &Yaml)> {
    resources_of(t, "AWS::Serverless::Function")
}

/// A function property, falling back to `Globals.Function`.
fn property<'a>(t: &'a Yaml, function: &'a Yaml, name: &str) -> &'a Yaml {
    let own = &function["Properties"][name];
    if own.is_badvalue() { &t["Globals"]["Function"][name] } else { own }
}

/// A function's environment: the global variables with the function's own over them.
fn environment<'a>(t: &'a Yaml, function: &'a Yaml) -> BTreeMap<&'a str, &'a Yaml> {
    let global = at(t, "Globals.Function.Environment.Variables");
    let own = at(function, "Properties.Environment.Variables");
    let vars = [global, own].into_iter().filter_map(Yaml::as_hash).flatten();
    vars.map(|(name, value)| (text(name, "a variable name"), value)).collect()
}

struct SamEvent<'a> {
    name: &'a str,
    kind: &'a str,
    props: &'a Yaml,
}

fn events_of(function: &Yaml) -> Vec<SamEvent<'_>> {
    let events = function["Properties"]["Events"].as_hash().into_iter().flatten();
    events
        .map(|(name, e)| SamEvent {
            name: text(name, "an event name"),
            kind: text(&e["Type"], "an event Type"),
            props: &e["Properties"],
        })
        .collect()
}

fn route(event: &SamEvent<'_>) -> String {
    let method = text(&event.props["Method"], "Method").to_ascii_uppercase();
    format!("{method} {}", text(&event.props["Path"], "Path"))
}

// ------------------------------------------------------------------ checks

/// What SAM and the functions require of one event; `t` resolves its references.
fn check_event(t: &Yaml, event: &SamEvent<'_>) -> Result<(), String> {
    let p = event.props;
    let refers_to = |node: &Yaml, kind: &str| {
        target(node).is_some_and(|id| t["Resources"][id]["Type"].as_str() == Some(kind))
    };
    match event.kind {
        "HttpApi" => {
            let methods = "GET POST PUT PATCH DELETE HEAD OPTIONS ANY";
            let method = p["Method"].as_str().map(str::to_ascii_uppercase);
            if !refers_to(&p["ApiId"], "AWS::Serverless::HttpApi") {
                Err("ApiId must reference the template's HttpApi".into())
            } else if !method.is_some_and(|m| methods.split(' ').any(|known| known == m)) {
                Err(format!("invalid Method {:?}", p["Method"]))
            } else if !p["Path"].as_str().is_some_and(|path| path.starts_with('/')) {
                Err(format!("invalid Path {:?}", p["Path"]))
            } else {
                Ok(())
            }
        }
        "Api" => Err("`Type: Api` is a REST API event; the routes belong to the HttpApi".into()),
        "SQS" => {
            let types = p["FunctionResponseTypes"].as_vec().map(Vec::as_slice);
            if !refers_to(&p["Queue"], "AWS::SQS::Queue") {
                Err("Queue must reference a queue of the template (!GetAtt X.Arn)".into())
            } else if types != Some(&[s("ReportBatchItemFailures")]) {
                Err("FunctionResponseTypes must be [ReportBatchItemFailures]".into())
            } else {
                Ok(())
            }
        }
        "Schedule" | "ScheduleV2" => {
            let expr = p["Schedule"].as_str().or(p["ScheduleExpression"].as_str());
            check_schedule(expr.ok_or("a schedule event needs its expression")?)
        }
        other => Err(format!("event type {other}: add its checks here")),
    }
}

/// An EventBridge `rate(...)` or `cron(...)` expression.
fn check_schedule(expr: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid schedule {expr:?}: {why}"));
    let inside = |prefix: &str| expr.strip_prefix(prefix)?.strip_suffix(')');
    if let Some(body) = inside("rate(") {
        let (value, unit) = body.split_once(' ').unwrap_or((body, ""));
        return match (value.parse::<u32>(), unit) {
            (Ok(1), "minute" | "hour" | "day") => Ok(()),
            (Ok(2..), "minutes" | "hours" | "days") => Ok(()),
            _ => bad("rate(1 minute|hour|day) or rate(N minutes|hours|days), N > 1"),
        };
    }
    let Some(body) = inside("cron(") else {
        return bad("neither rate(...) nor cron(...)");
    };
    let fields: Vec<&str> = body.split(' ').collect();
    let symbols = |f: &&str| f.chars().all(|c| c.is_ascii_alphanumeric() || ",-*/?#".contains(c));
    let number = |n: &str, max: u32| n == "*" || n.parse().is_ok_and(|n: u32| n <= max);
    let in_range = |f: &str, max| f.split([',', '-', '/']).all(|n| number(n, max));
    if fields.len() != 6 || fields.contains(&"") {
        bad("six fields: minutes hours day-of-month month day-of-week year")
    } else if (fields[2] == "?") == (fields[4] == "?") {
        bad("exactly one of day-of-month and day-of-week must be `?`")
    } else if !fields.iter().all(symbols) {
        bad("a field holds characters outside 0-9 A-Z , - * / ? #")
    } else if !in_range(fields[0], 59) || !in_range(fields[1], 23) {
        bad("minutes are 0-59 and hours 0-23")
    } else {
        Ok(())
    }
}

fn is_secret_name(name: &str) -> bool {
    name.ends_with("_SECRET") || name.ends_with("_TOKEN") || name.ends_with("_KEY")
}

/// A value that is exactly one CloudFormation dynamic reference to a secret store.
fn is_dynamic_reference(value: &Yaml) -> bool {
    let stores = ["{{resolve:secretsmanager:", "{{resolve:ssm-secure:"];
    let one = |v: &str| v.ends_with("}}") && v.matches("{{").count() == 1;
    sub_text(value).is_some_and(|v| one(v) && stores.iter().any(|store| v.starts_with(store)))
}

/// The `[[bin]]` names of the crates under `functions/`.
fn workspace_function_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for dir in std::fs::read_dir(FUNCTIONS_DIR).expect("functions/").flatten() {
        let Ok(toml) = std::fs::read_to_string(dir.path().join("Cargo.toml")) else {
            continue;
        };
        for section in toml.split("[[bin]]").skip(1) {
            let table = section.split("\n[").next().unwrap_or_default();
            let name = table.lines().find_map(|l| l.trim().strip_prefix("name")?.trim().strip_prefix('='));
            bins.extend(name.map(|name| name.trim().trim_matches('"').to_owned()));
        }
    }
    bins
}

// ------------------------------------------------------------------ tests

#[test]
fn the_table_matches_the_resource_spec() {
    let t = template();
    let (id, table) = single(&t, "AWS::DynamoDB::Table");
    let (p, spec) = (&table["Properties"], &resources::TABLE);
    assert_eq!(spec.indexes, &Index::ALL[..]);
    let gsi_count = format!("GlobalSecondaryIndexes.{}", Index::ALL.len());
    let pitr = "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled";
    let ttl = "TimeToLiveSpecification.AttributeName";
    let table_wanted = [
        ("KeySchema.0.AttributeName", s(spec.partition_key)),
        ("KeySchema.0.KeyType", s("HASH")),
        ("KeySchema.1.AttributeName", s(spec.sort_key)),
        ("KeySchema.1.KeyType", s("RANGE")),
        ("KeySchema.2", Yaml::BadValue),
        (&gsi_count, Yaml::BadValue),
        (ttl, s(spec.ttl_attribute)),
        ("TimeToLiveSpecification.Enabled", YES),
        ("BillingMode", s("PAY_PER_REQUEST")),
        (pitr, YES),
        ("SSESpecification.SSEEnabled", YES),
        ("DeletionProtectionEnabled", YES),
    ];
    expect(p, id, &table_wanted);
    for (i, index) in Index::ALL.into_iter().enumerate() {
        let gsi_wanted = [
            ("IndexName", s(index.name())),
            ("KeySchema.0.AttributeName", s(index.partition_attribute())),
            ("KeySchema.0.KeyType", s("HASH")),
            ("KeySchema.1.AttributeName", s(index.sort_attribute())),
            ("KeySchema.1.KeyType", s("RANGE")),
            ("KeySchema.2", Yaml::BadValue),
            ("Projection.ProjectionType", s("ALL")),
        ];
        let gsi = &p["GlobalSecondaryIndexes"][i];
        expect(gsi, &format!("{id} GSI {i}"), &gsi_wanted);
    }
    // Exactly the key attributes are defined, all of them strings.
    let definitions = p["AttributeDefinitions"].as_vec().expect("a list");
    let defined: BTreeSet<_> = definitions.iter().map(|a| &a["AttributeName"]).collect();
    let indexed = Index::ALL.map(|i| [i.partition_attribute(), i.sort_attribute()]);
    let mut keys = vec![s(spec.partition_key), s(spec.sort_key)];
    keys.extend(indexed.as_flattened().iter().map(|k| s(k)));
    assert_eq!(defined, keys.iter().collect(), "{id}: AttributeDefinitions");
    let strings = definitions.iter().all(|a| a["AttributeType"] == s("S"));
    assert!(strings, "{id}: every key attribute is a string");
}

#[test]
fn every_queue_matches_the_resource_spec_and_has_a_watched_dead_letter_queue() {
    let t = template();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let prefix = "${AWS::StackName}-";
    for spec in resources::QUEUES {
        let id = format!("{}Queue", capitalized(spec.name));
        let dlq_id = format!("{}DeadLetterQueue", capitalized(spec.name));
        let queue = &resource(&t, &id)["Properties"];
        let dlq = &resource(&t, &dlq_id)["Properties"];
        let fifo = if spec.fifo { YES } else { Yaml::BadValue };
        let dedup = if spec.fifo { Yaml::Boolean(false) } else { Yaml::BadValue };
        let queue_name = spec.queue_name(prefix);
        let queue_wanted = [
            ("FifoQueue", fifo.clone()),
            ("ContentBasedDeduplication", dedup.clone()),
            ("SqsManagedSseEnabled", YES),
            ("VisibilityTimeout", n(spec.visibility_timeout_secs())),
            ("RedrivePolicy.maxReceiveCount", n(spec.max_receive_count)),
            ("QueueName.Fn::Sub", s(&queue_name)),
        ];
        expect(queue, &id, &queue_wanted);
        let dlq_name = spec.dlq_name(prefix);
        let dlq_wanted = [
            ("FifoQueue", fifo),
            ("ContentBasedDeduplication", dedup),
            ("SqsManagedSseEnabled", YES),
            ("MessageRetentionPeriod", n(14 * 24 * 3600)),
            ("QueueName.Fn::Sub", s(&dlq_name)),
        ];
        expect(dlq, &dlq_id, &dlq_wanted);
        let dead_letter_target = target(&queue["RedrivePolicy"]["deadLetterTargetArn"]);
        assert_eq!(dead_letter_target, Some(&*dlq_id), "{id}: dead-letter queue");

        let watches_dlq = |(_, alarm): &(&str, &Yaml)| {
            let a = &alarm["Properties"];
            let dims = a["Dimensions"].as_vec().map(Vec::as_slice).unwrap_or_default();
            let on_dlq = |d: &Yaml| target(&d["Value"]) == Some(&dlq_id);
            a["MetricName"] == s("ApproximateNumberOfMessagesVisible")
                && a["ComparisonOperator"] == s("GreaterThanThreshold")
                && a["Threshold"] == Yaml::Integer(0)
                && dims.iter().any(|d| d["Name"] == s("QueueName") && on_dlq(d))
        };
        assert!(alarms.iter().any(watches_dlq), "no alarm on {dlq_id}");
    }
    let queues = resources_of(&t, "AWS::SQS::Queue").len();
    assert_eq!(queues, 2 * resources::QUEUES.len(), "queues not in QUEUES");
}

#[test]
fn queue_visibility_is_six_times_the_timeout_of_its_consumers() {
    let t = template();
    for (fid, function) in functions(&t) {
        let timeout = property(&t, function, "Timeout").as_i64().expect("Timeout");
        for event in events_of(function).iter().filter(|e| e.kind == "SQS") {
            let queue = target(&event.props["Queue"]).expect("an SQS event's Queue");
            let visibility = &resource(&t, queue)["Properties"]["VisibilityTimeout"];
            let visibility = visibility.as_i64().unwrap_or(30);
            let message = format!("{queue}: {visibility}s, {fid}: {timeout}s");
            assert!(visibility >= 6 * timeout, "{message}");
        }
    }
}

#[test]
fn every_event_is_well_formed() {
    let t = template();
    for (fid, function) in functions(&t) {
        for event in events_of(function) {
            if let Err(e) = check_event(&t, &event) {
                panic!("event {} of {fid}: {e}", event.name);
            }
        }
    }
}

#[test]
fn the_event_checks_catch_the_usual_mistakes() {
    let t = parse(
        "Resources:
          Api: {Type: AWS::Serverless::HttpApi}
          Jobs: {Type: AWS::SQS::Queue}
          F:
            Type: AWS::Serverless::Function
            Properties:
              Events:
                GoodRoute: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: /v1/x}}
                RestRoute: {Type: Api, Properties: {Method: get, Path: /v1/x}}
                NoApiId: {Type: HttpApi, Properties: {Method: GET, Path: /v1/x}}
                LiteralApiId: {Type: HttpApi, Properties: {ApiId: Api, Method: GET, Path: /v1/x}}
                GoodQueue:
                  Type: SQS
                  Properties: {Queue: !GetAtt Jobs.Arn, FunctionResponseTypes: [ReportBatchItemFailures]}
                NoReport: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn}}
                Misspelt:
                  Type: SQS
                  Properties: {Queue: !GetAtt Jobs.Arn, FunctionResponseTypes: [ReportBatchItemFailure]}
                NoQueue: {Type: SQS, Properties: {FunctionResponseTypes: [ReportBatchItemFailures]}}
                GoodRate: {Type: Schedule, Properties: {Schedule: rate(1 hour)}}
                GoodCron: {Type: ScheduleV2, Properties: {ScheduleExpression: 'cron(0/15 8-18 ? * MON-FRI *)'}}
                BadRate: {Type: Schedule, Properties: {Schedule: rate(5 minute)}}
                BadCron: {Type: Schedule, Properties: {Schedule: 'cron(0 12 * * * *)'}}",
    );
    let (_, function) = functions(&t)[0];
    for event in events_of(function) {
        let outcome = check_event(&t, &event);
        let name = event.name;
        assert_eq!(outcome.is_ok(), name.starts_with("Good"), "{name}: {outcome:?}");
    }
    let good = ["rate(1 day)", "rate(15 minutes)", "cron(0 3 * * ? *)", "cron(30 2 L * ? 2030)"];
    let bad = ["rate(0 minutes)", "rate(1 hours)", "rate(2 weeks)", "cron(0 3 * * *)", "cron(61 3 * * ? *)"];
    for expr in good.into_iter().chain(bad) {
        let valid = check_schedule(expr).is_ok();
        assert_eq!(valid, good.contains(&expr), "{expr}");
    }
}

#[test]
fn the_routes_of_each_function_are_its_crate_routes() {
    let t = template();
    let expected = crate_routes();
    let mut binaries = BTreeSet::new();
    for (fid, function) in functions(&t) {
        let bin = text(at(function, "Metadata.BuildProperties.Binary"), "Binary");
        assert!(binaries.insert(bin.to_owned()), "{bin} is deployed twice");
        let Some(routes) = expected.get(bin) else { panic!("{fid}: {bin} has no routes") };
        let events = events_of(function);
        let http_events: Vec<_> = events.iter().filter(|e| e.kind == "HttpApi").collect();
        let declared: BTreeSet<String> = http_events.iter().map(|e| route(e)).collect();
        let wanted: BTreeSet<String> = routes.iter().map(|r| r.key.to_owned()).collect();
        assert_eq!(declared, wanted, "{fid} against {bin}'s ROUTES");
        // Only the routes the crate declares public skip the JWT authorizer.
        for event in http_events {
            let route = route(event);
            let public = routes.iter().any(|r| r.key == route && r.access == Access::Public);
            let no_authorizer = at(event.props, "Auth.Authorizer") == &s("NONE");
            assert_eq!(no_authorizer, public, "{route}: Auth.Authorizer NONE iff Access::Public");
        }
    }
    let known: BTreeSet<String> = expected.keys().map(|b| b.to_string()).collect();
    assert_eq!(binaries, known, "the binaries the template deploys");
    assert_eq!(workspace_function_binaries(), known, "functions/*");
}

#[test]
fn every_function_is_a_rust_arm64_function() {
    let t = template();
    let wanted = [
        ("Runtime", s("provided.al2023")),
        ("Handler", s("bootstrap")),
        ("Architectures", Yaml::Array(vec![s("arm64")])),
        ("CodeUri", s(".")),
    ];
    for (fid, function) in functions(&t) {
        for (name, want) in &wanted {
            assert_eq!(property(&t, function, name), want, "{fid}: {name}");
        }
        let timeout = property(&t, function, "Timeout").as_i64();
        assert!(timeout.is_some_and(|t| t > 0), "{fid}: Timeout");
        expect(function, fid, &[("Metadata.BuildMethod", s("rust-cargolambda"))]);
    }
}

#[test]
fn the_environment_names_the_resources_and_hides_the_secrets() {
    let t = template();
    let variables = "Environment.Variables";
    let globals = ("Globals", at(&t["Globals"]["Function"], variables));
    let own = functions(&t).into_iter().map(|(id, f)| (id, at(&f["Properties"], variables)));
    for (scope, vars) in [globals].into_iter().chain(own) {
        for (name, value) in vars.as_hash().into_iter().flatten() {
            let name = text(name, "a variable name");
            let ok = !is_secret_name(name) || is_dynamic_reference(value);
            assert!(ok, "{name} in {scope}: not a {{{{resolve:...}}}}");
        }
    }
    let (table, _) = single(&t, "AWS::DynamoDB::Table");
    let (bucket, _) = single(&t, "AWS::S3::Bucket");
    let queue = |q: QueueSpec| (q.url_setting, format!("{}Queue", capitalized(q.name)));
    let mut references = vec![("TABLE_NAME", table.into()), ("BUCKET_NAME", bucket.into())];
    references.extend(resources::QUEUES.map(queue));
    for (fid, function) in functions(&t) {
        let env = environment(&t, function);
        for secret in REQUIRED_SECRETS {
            let ok = env.get(secret).is_some_and(|v| is_dynamic_reference(v));
            assert!(ok, "{fid} needs {secret}");
        }
        for (setting, id) in &references {
            let referenced = env.get(setting).and_then(|v| target(v));
            assert_eq!(referenced, Some(id.as_str()), "{setting} of {fid}");
        }
    }
    let literals = [s("hunter2"), parse("!Ref Secret"), s("a{{resolve:ssm-secure:b}}")];
    assert!(!literals.iter().any(is_dynamic_reference));
    let reference = parse("!Sub '{{resolve:secretsmanager:${S}:SecretString:A_KEY}}'");
    assert!(is_dynamic_reference(&reference));
}

#[test]
fn the_bucket_is_private_encrypted_unversioned_and_expires_exports() {
    let t = template();
    let (id, bucket) = single(&t, "AWS::S3::Bucket");
    let p = &bucket["Properties"];
    let block = &p["PublicAccessBlockConfiguration"];
    let wanted = [
        ("BlockPublicAcls", YES),
        ("BlockPublicPolicy", YES),
        ("IgnorePublicAcls", YES),
        ("RestrictPublicBuckets", YES),
    ];
    expect(block, id, &wanted);
    let owner = "OwnershipControls.Rules.0.ObjectOwnership";
    // Erasure must be permanent: a versioned bucket keeps deleted objects.
    let wanted = [(owner, s("BucketOwnerEnforced")), ("VersioningConfiguration", Yaml::BadValue)];
    expect(p, id, &wanted);
    let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
    let algorithm = at(sse, "ServerSideEncryptionByDefault.SSEAlgorithm").as_str();
    let encrypted = matches!(algorithm, Some("AES256" | "aws:kms" | "aws:kms:dsse"));
    assert!(encrypted, "{id}: SSEAlgorithm {algorithm:?}");

    let rules = at(p, "LifecycleConfiguration.Rules").as_vec().expect("lifecycle");
    let expires_exports = rules.iter().any(|r| {
        r["Status"] == s("Enabled")
            && r["Prefix"] == s(EXPORTS_PREFIX)
            && r["ExpirationInDays"] == n(EXPORTS_EXPIRE_DAYS)
    });
    assert!(expires_exports, "{id}: {EXPORTS_PREFIX} expiry");
    let abort = |r: &Yaml| at(r, "AbortIncompleteMultipartUpload.DaysAfterInitiation") == &n(1);
    assert!(rules.iter().any(abort), "{id}: abort incomplete uploads");

    let policies = resources_of(&t, "AWS::S3::BucketPolicy");
    let denies_plain_http = policies.iter().any(|(_, policy)| {
        let p = &policy["Properties"];
        let statements = p["PolicyDocument"]["Statement"].as_vec();
        let plain_http = |st: &Yaml| at(st, "Condition.Bool.aws:SecureTransport") == &s("false");
        let deny = |st: &Yaml| st["Effect"] == s("Deny") && plain_http(st);
        target(&p["Bucket"]) == Some(id) && statements.is_some_and(|st| st.iter().any(deny))
    });
    assert!(denies_plain_http, "{id}: deny requests without TLS");
}
