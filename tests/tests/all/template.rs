//! `template.yaml` against the code: the table, queues and bucket against
//! `gestor_shared::resources`; each function against its declaration in the registry (routes,
//! queue, schedule, settings); and the SAM mistakes cfn-lint lets through (event types, batch
//! failure reporting, schedule expressions, secrets in plain text).
//!
//! The template is read by `sam.rs`.

use gestor_registry::FUNCTIONS;
use gestor_shared::http::Access;
use gestor_shared::ports::Index;
use gestor_shared::registry::{Declaration, Serves};
use gestor_shared::resources::{self, EXPORT_TAG, EXPORTS_EXPIRE_DAYS};
use gestor_shared::settings::Setting;
use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::Yaml;

const FUNCTIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");

use crate::sam::*;

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
            ("MessageRetentionPeriod", n(resources::QUEUE_RETENTION_SECS)),
            ("RedrivePolicy.maxReceiveCount", n(spec.max_receive_count)),
            ("QueueName.Fn::Sub", s(&queue_name)),
        ];
        expect(queue, &id, &queue_wanted);
        let dlq_name = spec.dlq_name(prefix);
        let dlq_wanted = [
            ("FifoQueue", fifo),
            ("ContentBasedDeduplication", dedup),
            ("SqsManagedSseEnabled", YES),
            ("MessageRetentionPeriod", n(resources::QUEUE_RETENTION_SECS)),
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

/// The template's function deploying a declaration's binary.
fn deployed<'a>(t: &'a Yaml, declaration: &Declaration) -> (&'a str, &'a Yaml) {
    let binary = |f: &Yaml| at(f, "Metadata.BuildProperties.Binary").as_str() == Some(declaration.name);
    let mut found = functions(t).into_iter().filter(|(_, f)| binary(f));
    let Some(function) = found.next() else { panic!("template.yaml does not deploy {}", declaration.name) };
    assert!(found.next().is_none(), "{} is deployed twice", declaration.name);
    function
}

#[test]
fn each_function_is_deployed_as_its_declaration_says() {
    let t = template();
    for declaration in FUNCTIONS {
        let (fid, function) = deployed(&t, declaration);
        let events = events_of(function);
        let http_events: Vec<_> = events.iter().filter(|e| e.kind == "HttpApi").collect();
        let declared: BTreeSet<String> = http_events.iter().map(|e| route(e)).collect();
        let routes = declaration.routes();
        let wanted: BTreeSet<String> = routes.iter().map(|r| r.key.clone()).collect();
        assert_eq!(declared, wanted, "{fid}: its HttpApi events against {}'s routes", declaration.name);
        // Only the routes the function declares public skip the JWT authorizer.
        for event in http_events {
            let route = route(event);
            let public = routes.iter().any(|r| r.key == route && r.access == Access::Public);
            let no_authorizer = at(event.props, "Auth.Authorizer") == &s("NONE");
            assert_eq!(no_authorizer, public, "{route}: Auth.Authorizer NONE iff Policy::public()");
        }
        let queues: Vec<_> =
            events.iter().filter(|e| e.kind == "SQS").map(|e| target(&e.props["Queue"])).collect();
        let schedules: Vec<_> = events
            .iter()
            .filter(|e| e.kind.starts_with("Schedule"))
            .map(|e| e.props["Schedule"].as_str().or(e.props["ScheduleExpression"].as_str()))
            .collect();
        match &declaration.serves {
            Serves::Http(_) => assert!(queues.is_empty() && schedules.is_empty(), "{fid}: HTTP only"),
            Serves::Queue(part) => {
                let queue = format!("{}Queue", capitalized(part.queue.name));
                assert_eq!(queues, vec![Some(queue.as_str())], "{fid}: consumes {queue} only");
                assert!(wanted.is_empty() && schedules.is_empty(), "{fid}: a consumer only");
                let timeout = property(&t, function, "Timeout").as_i64();
                assert_eq!(timeout, Some(i64::from(part.queue.consumer_timeout_secs)), "{fid}: Timeout");
            }
            Serves::Schedule(part) => {
                let expression = part.expression();
                assert_eq!(schedules, vec![Some(expression.as_str())], "{fid}: its schedule");
                assert!(wanted.is_empty() && queues.is_empty(), "{fid}: a schedule only");
            }
        }
    }
    let deployed: BTreeSet<String> = functions(&t)
        .into_iter()
        .map(|(_, f)| text(at(f, "Metadata.BuildProperties.Binary"), "Binary").to_owned())
        .collect();
    let known: BTreeSet<String> = FUNCTIONS.iter().map(|d| d.name.to_owned()).collect();
    assert_eq!(deployed, known, "the binaries the template deploys against the registry");
    assert_eq!(workspace_function_binaries(), known, "the [[bin]]s of functions/* against the registry");
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

/// A function's policy templates and the resource each names (`TableName: !Ref Table` ...).
fn policies_of<'a>(t: &'a Yaml, function: &'a Yaml) -> Vec<(&'a str, Option<&'a str>)> {
    let listed = property(t, function, "Policies").as_vec().into_iter().flatten();
    let templates = listed.filter_map(Yaml::as_hash).flatten();
    templates
        .map(|(name, args)| {
            let resource = ["TableName", "BucketName", "QueueName"].iter().find_map(|k| target(&args[*k]));
            (text(name, "a policy template"), resource)
        })
        .collect()
}

#[test]
fn each_function_may_reach_what_its_settings_name_and_nothing_more() {
    let t = template();
    let (table, _) = single(&t, "AWS::DynamoDB::Table");
    let (bucket, _) = single(&t, "AWS::S3::Bucket");
    for declaration in FUNCTIONS {
        let (fid, function) = deployed(&t, declaration);
        let policies = policies_of(&t, function);
        let on = |prefix: &str, resource: &str| {
            policies
                .iter()
                .filter(|(p, r)| p.starts_with(prefix) && *r == Some(resource))
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
        };
        let on_table = on("DynamoDB", table);
        let confined = confined_to_counters(&t, function);
        if declaration.name == "webhooks" {
            // A delivery never touches the table; the handshake's limiter may update its own
            // counters and nothing else.
            assert!(declaration.reads(Setting::TableName) && on_table.is_empty(), "{fid}: {on_table:?}");
            assert_eq!(confined, vec!["RATE#GET /webhooks/{channel}#*"], "{fid}");
        } else if declaration.name == "dead-letters" {
            // It reads the channel routes, to file an inbound update under its business, and
            // writes only to the bucket.
            assert_eq!(on_table, vec!["DynamoDBReadPolicy"], "{fid}");
        } else if declaration.reads(Setting::TableName) {
            assert!(confined.is_empty(), "{fid}: {confined:?}");
            // Every function with the table writes: the dispatcher audits denied requests and
            // keeps idempotency records, workers store what they process.
            let writes = on_table.iter().any(|p| matches!(*p, "DynamoDBCrudPolicy" | "DynamoDBWritePolicy"));
            assert!(writes, "{fid} reads TABLE_NAME but may not write the table: {on_table:?}");
        } else {
            assert!(on_table.is_empty(), "{fid} has no TABLE_NAME but may reach the table");
        }
        assert!(on("S3", bucket).is_empty(), "{fid}: no bucket-wide S3 policy template");
        let prefixes = bucket_prefixes(&t, function);
        assert_eq!(
            !prefixes.is_empty(),
            declaration.reads(Setting::BucketName),
            "{fid}: bucket access if and only if it reads BUCKET_NAME"
        );
        for prefix in &prefixes {
            // Objects under named prefixes only: a tenant's own kind of file, or the two
            // prefixes written before a tenant is known.
            let unknown_tenant = ["inbound-overflow/*", "quarantine/*", "dead-letters/unrouted/*"];
            let scoped = prefix.starts_with("*/") || unknown_tenant.contains(&prefix.as_str());
            assert!(scoped && prefix != "*/*", "{fid}: {prefix} is not one prefix of the bucket");
        }
        let consumed = match &declaration.serves {
            Serves::Queue(part) => Some(part.queue.name),
            _ => None,
        };
        if declaration.name == "dead-letters" {
            // Every queue's URL names its dead-letter queue, which is all it reaches: to take
            // what lands there, never to send.
            let reached = dead_letter_queues_reached(function);
            for queue in resources::QUEUES {
                assert!(declaration.reads(queue.url_setting), "{fid}: {}", queue.url_setting.name());
                let dlq = format!("{}DeadLetterQueue", capitalized(queue.name));
                assert!(reached.contains(&dlq), "{fid} does not reach {dlq}: {reached:?}");
            }
            assert!(policies.iter().all(|(p, _)| !p.starts_with("SQS")), "{fid}: {policies:?}");
            continue;
        }
        for queue in resources::QUEUES {
            let id = format!("{}Queue", capitalized(queue.name));
            let has = |policy: &str| policies.iter().any(|(p, r)| *p == policy && *r == Some(id.as_str()));
            // A consumer reads its own queue's URL to send itself a job later, or to set a
            // waiting message's visibility.
            let own = consumed == Some(queue.name) && has("SQSPollerPolicy");
            let reaches = own || has("SQSSendMessagePolicy");
            assert_eq!(
                reaches,
                declaration.reads(queue.url_setting),
                "{fid}: may reach {id} if and only if it reads {}",
                queue.url_setting.name()
            );
        }
    }
}

/// The dead-letter queues a function's statements let it receive from and delete from.
fn dead_letter_queues_reached(function: &Yaml) -> Vec<String> {
    let mut reached = Vec::new();
    for policy in function["Properties"]["Policies"].as_vec().into_iter().flatten() {
        for statement in policy["Statement"].as_vec().into_iter().flatten() {
            let actions: Vec<&str> =
                statement["Action"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
            if !(actions.contains(&"sqs:ReceiveMessage") && actions.contains(&"sqs:DeleteMessage")) {
                continue;
            }
            for resource in statement["Resource"].as_vec().into_iter().flatten() {
                if let Some(id) =
                    resource["Fn::GetAtt"].as_vec().and_then(|v| v.first()).and_then(Yaml::as_str)
                {
                    reached.push(id.to_owned());
                } else if let Some(dotted) = resource["Fn::GetAtt"].as_str() {
                    reached.push(dotted.split('.').next().unwrap_or_default().to_owned());
                }
            }
        }
    }
    reached
}

#[test]
fn each_function_gets_exactly_its_declared_settings_and_secrets_stay_out_of_the_template() {
    let t = template();
    let variables = "Environment.Variables";
    let globals = ("Globals", at(&t["Globals"]["Function"], variables));
    let own = functions(&t).into_iter().map(|(id, f)| (id, at(&f["Properties"], variables)));
    let secret_settings: BTreeSet<&str> =
        Setting::ALL.iter().filter(|s| s.is_secret()).map(|s| s.name()).collect();
    for (scope, vars) in [globals].into_iter().chain(own) {
        for (name, value) in vars.as_hash().into_iter().flatten() {
            let name = text(name, "a variable name");
            // A function's environment is readable with lambda:GetFunctionConfiguration.
            assert!(!is_secret_name(name) && !secret_settings.contains(name), "{name} in {scope}: a secret");
            assert!(
                !is_dynamic_reference(value),
                "{name} in {scope}: a secret resolved into the environment"
            );
        }
    }
    let (table, _) = single(&t, "AWS::DynamoDB::Table");
    let (bucket, _) = single(&t, "AWS::S3::Bucket");
    let mut references =
        BTreeMap::from([(Setting::TableName, table.to_owned()), (Setting::BucketName, bucket.to_owned())]);
    references.extend(resources::QUEUES.map(|q| (q.url_setting, format!("{}Queue", capitalized(q.name)))));
    for declaration in FUNCTIONS {
        let (fid, function) = deployed(&t, declaration);
        let env = environment(&t, function);
        let names: BTreeSet<&str> = env.keys().copied().filter(|n| *n != "RUST_LOG").collect();
        let secrets: BTreeSet<&str> =
            declaration.settings.iter().filter(|s| s.is_secret()).map(|s| s.name()).collect();
        let mut wanted: BTreeSet<&str> =
            declaration.settings.iter().filter(|s| !s.is_secret()).map(|s| s.name()).collect();
        if !secrets.is_empty() {
            wanted.insert("SECRETS_PREFIX");
        }
        assert_eq!(names, wanted, "{fid}: its environment against {}'s declared settings", declaration.name);
        for setting in declaration.settings {
            if let Some(id) = references.get(setting) {
                let value = env.get(setting.name()).copied().unwrap_or(&Yaml::BadValue);
                assert_eq!(target(value), Some(id.as_str()), "{} of {fid}", setting.name());
            }
        }
        assert_eq!(
            readable_secrets(&t, function),
            secrets,
            "{fid}: may read exactly the secrets it declares"
        );
    }
    let literals = [s("hunter2"), parse("!Ref Secret"), s("a{{resolve:ssm-secure:b}}")];
    assert!(!literals.iter().any(is_dynamic_reference));
    let reference = parse("!Sub '{{resolve:secretsmanager:${S}:SecretString:A_KEY}}'");
    assert!(is_dynamic_reference(&reference));
}

/// The object prefixes (`*/media/*`) a function's inline statements allow on the bucket.
fn bucket_prefixes(t: &Yaml, function: &Yaml) -> Vec<String> {
    let mut prefixes = Vec::new();
    for policy in property(t, function, "Policies").as_vec().into_iter().flatten() {
        for statement in policy["Statement"].as_vec().into_iter().flatten() {
            for resource in statement["Resource"].as_vec().into_iter().flatten() {
                if let Some(prefix) = sub_text(resource).and_then(|r| r.strip_prefix("${Bucket.Arn}/")) {
                    prefixes.push(prefix.to_owned());
                }
            }
        }
    }
    prefixes
}

/// The secret settings a function's inline policy statements let it read
/// (`secretsmanager:GetSecretValue` on `...:secret:${SecretsPrefix}NAME-??????`).
fn readable_secrets<'a>(t: &'a Yaml, function: &'a Yaml) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for policy in property(t, function, "Policies").as_vec().into_iter().flatten() {
        for statement in policy["Statement"].as_vec().into_iter().flatten() {
            let action = &statement["Action"];
            let actions: Vec<&str> = match action.as_vec() {
                Some(list) => list.iter().filter_map(Yaml::as_str).collect(),
                None => action.as_str().into_iter().collect(),
            };
            if statement["Effect"].as_str() != Some("Allow")
                || !actions.iter().any(|a| a.starts_with("secretsmanager:"))
            {
                continue;
            }
            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "only reading a secret");
            for resource in statement["Resource"].as_vec().into_iter().flatten() {
                let arn = sub_text(resource).unwrap_or_default();
                let name = arn
                    .strip_prefix("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretsPrefix}")
                    .and_then(|rest| rest.strip_suffix("-??????"));
                assert!(name.is_some(), "a secret named by the prefix and one setting: {arn}");
                names.extend(name);
            }
        }
    }
    names
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
            && at(r, "TagFilters.0.Key") == &s(EXPORT_TAG.0)
            && at(r, "TagFilters.0.Value") == &s(EXPORT_TAG.1)
            && r["ExpirationInDays"] == n(EXPORTS_EXPIRE_DAYS)
    });
    assert!(expires_exports, "{id}: exports expiry by their tag");
    let (tag, value) = gestor_shared::resources::UPLOAD_TAG;
    let expires_uploads = rules.iter().any(|r| {
        r["Status"] == s("Enabled")
            && at(r, "TagFilters.0.Key") == &s(tag)
            && at(r, "TagFilters.0.Value") == &s(value)
            && r["ExpirationInDays"] == n(gestor_shared::resources::UPLOADS_EXPIRE_DAYS)
    });
    assert!(expires_uploads, "{id}: uploads expiry by their tag");
    let (tag, value) = gestor_shared::dead_letters::TAG;
    let expires_dead_letters = rules.iter().any(|r| {
        r["Status"] == s("Enabled")
            && at(r, "TagFilters.0.Key") == &s(tag)
            && at(r, "TagFilters.0.Value") == &s(value)
            && r["ExpirationInDays"] == n(gestor_shared::dead_letters::EXPIRE_DAYS)
    });
    assert!(expires_dead_letters, "{id}: kept dead letters expire by their tag");
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
