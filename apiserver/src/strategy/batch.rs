//! batch/v1 Job and CronJob: upstream's v1 defaults, the generated selector
//! and `controller-uid`/`job-name` labels of jobs, `ValidateJob`/
//! `ValidateCronJobCreate` with their messages, the update rules
//! (selector, template, completions... immutable) and the cron syntax check
//! of robfig/cron's standard parser, whose messages upstream returns.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::Strategy;
use super::common::{
    Selector, default_if_missing, go_label_selector, go_quote, go_string_map, i64_at, int_field,
    invalid_go, nonnegative, object_at, str_at, validate_label_selector,
};
use super::workloads::{default_template, validate_pod_template};
use crate::error::Cause;
use crate::validation::{dns1123_label, invalid, not_supported, required};

pub struct JobStrategy;
pub struct CronJobStrategy;

const LEGACY_UID: &str = "controller-uid";
const LEGACY_NAME: &str = "job-name";
const UID: &str = "batch.kubernetes.io/controller-uid";
const NAME: &str = "batch.kubernetes.io/job-name";

// ----------------------------------------------------------------------- Job

fn default_job_spec_template(spec: &mut Value) {
    default_template(spec);
}

fn default_job(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    let has_completions = spec.get("completions").is_some_and(|v| !v.is_null());
    let has_parallelism = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !has_completions && !has_parallelism {
        spec["completions"] = json!(1);
    }
    default_if_missing(spec, "parallelism", json!(1));
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    default_if_missing(
        spec,
        "backoffLimit",
        json!(if per_index { i32::MAX as i64 } else { 6 }),
    );
    default_if_missing(spec, "completionMode", json!("NonIndexed"));
    default_if_missing(spec, "suspend", json!(false));
    let failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    default_if_missing(
        spec,
        "podReplacementPolicy",
        json!(if failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    default_if_missing(spec, "manualSelector", json!(false));
    default_job_spec_template(spec);
    labels_from_template(obj);
}

/// SetDefaults_Job: a job without labels gets its template's labels.
fn labels_from_template(obj: &mut Value) {
    let Some(labels) = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
    else {
        return;
    };
    let meta = crate::meta::meta_mut(obj);
    if meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty())
    {
        meta.insert("labels".into(), labels);
    }
}

/// The job strategy's generateSelector: template labels and a selector on
/// the job's uid.
fn generate_selector(obj: &mut Value) {
    let name = crate::meta::name(obj).to_string();
    let uid = crate::meta::uid(obj).to_string();
    let spec = object_at(obj, "spec");
    let labels = object_at(object_at(object_at(spec, "template"), "metadata"), "labels");
    for (k, v) in [
        (LEGACY_NAME, &name),
        (NAME, &name),
        (LEGACY_UID, &uid),
        (UID, &uid),
    ] {
        if labels.get(k).is_none() {
            labels[k] = json!(v);
        }
    }
    let selector = object_at(spec, "selector");
    let match_labels = object_at(selector, "matchLabels");
    if match_labels.get(UID).is_none() {
        match_labels[UID] = json!(uid);
    }
}

fn manual_selector(spec: &Value) -> bool {
    spec.get("manualSelector").and_then(Value::as_bool) == Some(true)
}

/// `ValidateHasLabel` on the job template.
fn has_label(spec: &Value, key: &str, expected: &str, causes: &mut Vec<Cause>) {
    let labels = spec.pointer("/template/metadata/labels");
    let field = format!("spec.template.metadata.labels[{key}]");
    match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
        None => causes.push(required(&field, &format!("must be '{expected}'"))),
        Some(v) if v != expected => causes.push(invalid_go(
            &field,
            go_string_map(labels),
            &format!("must be '{expected}'"),
        )),
        Some(_) => {}
    }
}

fn validate_generated_selector(obj: &Value, prefixed: bool, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if manual_selector(spec) || spec.get("selector").is_none_or(Value::is_null) {
        return;
    }
    let uid = crate::meta::uid(obj);
    let name = crate::meta::name(obj);
    if uid.is_empty() {
        causes.push(required("metadata.uid", ""));
    }
    has_label(spec, LEGACY_UID, uid, causes);
    has_label(spec, LEGACY_NAME, name, causes);
    let mut expected = serde_json::Map::new();
    if prefixed {
        has_label(spec, UID, uid, causes);
        has_label(spec, NAME, name, causes);
        expected.insert(UID.into(), json!(uid));
        expected.insert(NAME.into(), json!(name));
    }
    expected.insert(LEGACY_UID.into(), json!(uid));
    expected.insert(LEGACY_NAME.into(), json!(name));
    if let Ok(sel) = Selector::parse(spec.get("selector"))
        && !sel.matches(Some(&Value::Object(expected)))
    {
        causes.push(invalid_go(
            "spec.selector",
            go_label_selector(spec.get("selector")),
            "`selector` not auto-generated",
        ));
    }
}

/// Upstream's `validateJobSpec` (shared with CronJob job templates).
fn validate_job_spec_common(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        nonnegative(spec, &format!("/{f}"), &format!("{path}.{f}"), causes);
    }
    let set = |f: &str| spec.get(f).is_some_and(|v| !v.is_null());
    if set("maxFailedIndexes") && !set("backoffLimitPerIndex") {
        causes.push(required(
            &format!("{path}.backoffLimitPerIndex"),
            "when maxFailedIndexes is specified",
        ));
    }
    let mode = spec.get("completionMode").filter(|v| !v.is_null());
    if let Some(m) = mode {
        if !matches!(m.as_str(), Some("NonIndexed" | "Indexed")) {
            causes.push(not_supported(
                &format!("{path}.completionMode"),
                m,
                &["NonIndexed", "Indexed"],
            ));
        }
        if m == "Indexed" {
            if !set("completions") {
                causes.push(required(
                    &format!("{path}.completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = i64_at(spec, "/parallelism")
                && p > 100_000
            {
                causes.push(invalid(
                    &format!("{path}.parallelism"),
                    &json!(p),
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
        }
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        for f in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(v) = spec.get(f).filter(|v| !v.is_null()) {
                causes.push(invalid(
                    &format!("{path}.{f}"),
                    v,
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let failure_policy = set("podFailurePolicy");
    if let Some(p) = spec.get("podReplacementPolicy").filter(|v| !v.is_null()) {
        let field = format!("{path}.podReplacementPolicy");
        if failure_policy {
            if p != "Failed" {
                causes.push(not_supported(&field, p, &["Failed"]));
            }
        } else if !matches!(p.as_str(), Some("Failed" | "TerminatingOrFailed")) {
            causes.push(not_supported(&field, p, &["Failed", "TerminatingOrFailed"]));
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    validate_pod_template(template, &format!("{path}.template"), causes);
    let field = format!("{path}.template.spec.restartPolicy");
    let policy = template
        .pointer("/spec/restartPolicy")
        .cloned()
        .unwrap_or(json!(""));
    match policy.as_str() {
        Some("Always" | "") | None => {
            causes.push(required(&field, "valid values: \"OnFailure\", \"Never\""))
        }
        Some("OnFailure" | "Never") => {
            if failure_policy && policy != "Never" {
                causes.push(invalid(
                    &field,
                    &policy,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        Some(_) => causes.push(not_supported(&field, &policy, &["OnFailure", "Never"])),
    }
}

/// `ValidateJobSpec`: the common checks plus the selector.
fn validate_job_spec(spec: &Value, causes: &mut Vec<Cause>) {
    validate_job_spec_common(spec, "spec", causes);
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => causes.push(required("spec.selector", "")),
        Some(s) => validate_label_selector(s, "spec.selector", causes),
    }
    if let Ok(sel) = Selector::parse(spec.get("selector"))
        && !sel.matches(spec.pointer("/template/metadata/labels"))
    {
        causes.push(invalid_go(
            "spec.template.metadata.labels",
            go_string_map(spec.pointer("/template/metadata/labels")),
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_job(obj: &Value, prefixed: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    validate_generated_selector(obj, prefixed, &mut causes);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_job_spec(spec, &mut causes);
    if str_at(spec, "/completionMode") == "Indexed"
        && let Some(c) = i64_at(spec, "/completions")
        && c > 0
    {
        let name = crate::meta::name(obj);
        let hostname = format!("{name}-{}", c - 1);
        if !dns1123_label(&hostname).is_empty() {
            causes.push(invalid(
                "metadata.name",
                &json!(name),
                &format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    causes
}

/// Go rendering of a `*int32`/`*string`-like optional scalar.
fn go_scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".to_string(),
        Some(Value::String(s)) => go_quote(s),
        Some(other) => other.to_string(),
    }
}

fn immutable(new: &Value, old: &Value, key: &str, causes: &mut Vec<Cause>) {
    let n = new.get(key).filter(|v| !v.is_null());
    let o = old.get(key).filter(|v| !v.is_null());
    if n != o {
        let rendered = match key {
            "selector" => go_label_selector(n),
            "completions" | "completionMode" | "backoffLimitPerIndex" | "managedBy" => go_scalar(n),
            // Struct values: upstream prints Go syntax; we print JSON.
            _ => n.map(Value::to_string).unwrap_or_else(|| "null".into()),
        };
        causes.push(invalid_go(
            &format!("spec.{key}"),
            rendered,
            "field is immutable",
        ));
    }
}

/// Template fields a suspended, never-started job may change.
fn strip_scheduling_directives(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("labels");
        meta.remove("annotations");
    }
    if let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("nodeSelector");
        spec.remove("tolerations");
        spec.remove("schedulingGates");
        if let Some(aff) = spec.get_mut("affinity").and_then(Value::as_object_mut) {
            aff.remove("nodeAffinity");
        }
        if spec
            .get("affinity")
            .and_then(Value::as_object)
            .is_some_and(|a| a.is_empty())
        {
            spec.remove("affinity");
        }
    }
    t
}

impl Strategy for JobStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_job(obj);
        if !manual_selector(obj.get("spec").unwrap_or(&Value::Null)) {
            generate_selector(obj);
        }
        // Reads default the labels again from the (now generated) template
        // labels; do it here so the stored object is what clients see.
        labels_from_template(obj);
        obj["status"] = json!({});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_job(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_job(obj, true)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let old_labels = old.pointer("/spec/template/metadata/labels");
        let prefixed = old_labels.and_then(|l| l.get(UID)).is_some()
            && old_labels.and_then(|l| l.get(NAME)).is_some();
        let mut causes = validate_job(new, prefixed);
        let ns = new.get("spec").unwrap_or(&Value::Null);
        let os = old.get("spec").unwrap_or(&Value::Null);
        // completions: elastic for Indexed jobs when changed with parallelism.
        let indexed = str_at(ns, "/completionMode") == "Indexed";
        if !indexed {
            immutable(ns, os, "completions", &mut causes);
        } else if ns.get("completions") != os.get("completions")
            && let Some(c) = i64_at(ns, "/completions")
            && Some(c) != i64_at(ns, "/parallelism")
        {
            causes.push(invalid(
                "spec.completions",
                &json!(c),
                "can only be modified in tandem with spec.parallelism",
            ));
        }
        immutable(ns, os, "selector", &mut causes);
        let suspended = os.get("suspend").and_then(Value::as_bool) == Some(true);
        let not_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
        let (nt, ot) = (
            ns.get("template").cloned().unwrap_or(Value::Null),
            os.get("template").cloned().unwrap_or(Value::Null),
        );
        let changed = if suspended && not_started {
            strip_scheduling_directives(&nt) != strip_scheduling_directives(&ot)
        } else {
            nt != ot
        };
        if changed {
            causes.push(invalid_go(
                "spec.template",
                nt.to_string(),
                "field is immutable",
            ));
        }
        for key in [
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "managedBy",
            "successPolicy",
        ] {
            immutable(ns, os, key, &mut causes);
        }
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["status.successful"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "status.successful")
            .then(|| int_field(obj, "/status/succeeded"))
            .flatten()
    }
}

// ------------------------------------------------------------------- CronJob

fn default_cronjob(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    if str_at(spec, "/concurrencyPolicy").is_empty() {
        spec["concurrencyPolicy"] = json!("Allow");
    }
    default_if_missing(spec, "suspend", json!(false));
    default_if_missing(spec, "successfulJobsHistoryLimit", json!(3));
    default_if_missing(spec, "failedJobsHistoryLimit", json!(1));
    let jt = object_at(spec, "jobTemplate");
    let meta = object_at(jt, "metadata");
    if meta.get("creationTimestamp").is_none() {
        meta["creationTimestamp"] = Value::Null;
    }
    default_job_spec_template(object_at(jt, "spec"));
}

static TZ_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z\.\-_0-9+]{1,14}$").expect("static regex"));

/// Whether the IANA database knows `tz` (the system zoneinfo, or UTC).
fn time_zone_known(tz: &str) -> bool {
    if tz == "UTC" {
        return true;
    }
    let root = std::path::Path::new("/usr/share/zoneinfo");
    if !root.is_dir() {
        return matches!(tz, "Etc/UTC" | "GMT" | "Etc/GMT" | "UCT" | "Zulu");
    }
    root.join(tz).is_file()
}

fn validate_time_zone(tz: &Value, causes: &mut Vec<Cause>) {
    let Some(s) = tz.as_str() else {
        return;
    };
    let field = "spec.timeZone";
    if s.is_empty() {
        causes.push(invalid(
            field,
            tz,
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    for part in s.split('/') {
        if part == "." || part == ".." || part.starts_with('-') || !TZ_PART.is_match(part) {
            causes.push(invalid(field, tz, &format!("unknown time zone {s}")));
            return;
        }
    }
    if s.eq_ignore_ascii_case("Local") {
        causes.push(invalid(
            field,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if !time_zone_known(s) {
        causes.push(invalid(field, tz, &format!("unknown time zone {s}")));
    }
}

fn validate_cronjob(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let old_spec = old.and_then(|o| o.get("spec"));
    let schedule = str_at(spec, "/schedule");
    if schedule.is_empty() {
        causes.push(required("spec.schedule", ""));
    } else {
        let allow_tz = old_spec.is_some_and(|o| str_at(o, "/schedule").contains("TZ"));
        if let Err(e) = parse_cron(schedule) {
            causes.push(invalid("spec.schedule", &json!(schedule), &e));
        }
        let has_tz_field = spec.get("timeZone").is_some_and(|v| !v.is_null());
        if allow_tz && schedule.contains("TZ") && has_tz_field {
            causes.push(invalid(
                "spec.schedule",
                &json!(schedule),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            causes.push(invalid(
                "spec.schedule",
                &json!(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(
        spec,
        "/startingDeadlineSeconds",
        "spec.startingDeadlineSeconds",
        &mut causes,
    );
    let tz = spec.get("timeZone").cloned().unwrap_or(Value::Null);
    if old_spec.is_none_or(|o| o.get("timeZone").cloned().unwrap_or(Value::Null) != tz) {
        validate_time_zone(&tz, &mut causes);
    }
    let policy = spec.get("concurrencyPolicy").cloned().unwrap_or(json!(""));
    match policy.as_str() {
        Some("Allow" | "Forbid" | "Replace") => {}
        Some("") | None => causes.push(required("spec.concurrencyPolicy", "")),
        Some(_) => causes.push(not_supported(
            "spec.concurrencyPolicy",
            &policy,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jt_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
    validate_job_spec_common(jt_spec, "spec.jobTemplate.spec", &mut causes);
    if let Some(sel) = jt_spec.get("selector").filter(|s| !s.is_null()) {
        causes.push(invalid_go(
            "spec.jobTemplate.spec.selector",
            go_label_selector(Some(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if manual_selector(jt_spec) {
        causes.push(not_supported(
            "spec.jobTemplate.spec.manualSelector",
            &json!(true),
            &["nil", "false"],
        ));
    }
    for f in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        nonnegative(spec, &format!("/{f}"), &format!("spec.{f}"), &mut causes);
    }
    causes
}

impl Strategy for CronJobStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_cronjob(obj);
        obj["status"] = json!({});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_cronjob(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = validate_cronjob(obj, None);
        let name = crate::meta::name(obj);
        if name.len() > 52 {
            causes.push(invalid(
                "metadata.name",
                &json!(name),
                "must be no more than 52 characters",
            ));
        }
        causes
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        validate_cronjob(new, Some(old))
    }
}

// ---------------------------------------------------------------- cron syntax

struct Bounds {
    min: i64,
    max: i64,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// Go's `strconv.Atoi` with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

fn must_parse_int(expr: &str) -> Result<i64, String> {
    let n = atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n)
}

fn parse_int_or_name(expr: &str, b: &Bounds) -> Result<i64, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        // Months count from 1, weekdays from 0.
        return Ok(i as i64 + if b.min == 1 { 1 } else { 0 });
    }
    must_parse_int(expr)
}

fn parse_range(expr: &str, b: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = b.min;
        end = b.max;
    } else {
        start = parse_int_or_name(low_and_high[0], b)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            s
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// Go's `time.ParseDuration`, for `@every` (validity only).
fn parse_go_duration(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "0" {
        return true;
    }
    if body.is_empty() {
        return false;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return false;
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit_len],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

/// robfig/cron v3 `ParseStandard`: five fields or a descriptor; `Err`
/// carries the parser's message.
pub fn parse_cron(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let end = spec.find(' ').unwrap_or(spec.len());
        let tz = &spec[spec.find('=').map(|i| i + 1).unwrap_or(0)..end];
        if !time_zone_known(tz) {
            return Err(format!(
                "provided bad location {tz}: unknown time zone {tz}"
            ));
        }
        spec = spec[end..].trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            s if s.starts_with("@every ") => {
                let d = &s["@every ".len()..];
                if parse_go_duration(d) {
                    Ok(())
                } else {
                    Err(format!(
                        "failed to parse duration {s}: time: invalid duration {}",
                        go_quote(d)
                    ))
                }
            }
            s => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        for expr in field.split(',') {
            parse_range(expr, bounds)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_syntax() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 9 * JAN-mar mon-fri").is_ok());
        assert!(parse_cron("@hourly").is_ok());
        assert!(parse_cron("@every 1h30m").is_ok());
        assert_eq!(
            parse_cron("* * *").unwrap_err(),
            "expected exactly 5 fields, found 3: [* * *]"
        );
        assert_eq!(
            parse_cron("60 * * * *").unwrap_err(),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            parse_cron("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_cron("@often").unwrap_err(),
            "unrecognized descriptor: @often"
        );
        assert_eq!(
            parse_cron("* * * * 7").unwrap_err(),
            "end of range (7) above maximum (6): 7"
        );
    }

    #[test]
    fn job_generated_selector_and_labels() {
        let mut job = json!({
            "metadata": {"name": "pi", "uid": "u-1"},
            "spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "perl"}],
                "restartPolicy": "Never"}}}
        });
        JobStrategy.prepare_for_create(&mut job);
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {UID: "u-1"}})
        );
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels[LEGACY_UID], "u-1");
        assert_eq!(labels[NAME], "pi");
        assert_eq!(job["metadata"]["labels"][LEGACY_NAME], "pi");
        assert_eq!(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
        assert!(
            JobStrategy.validate(&job).is_empty(),
            "{:?}",
            JobStrategy.validate(&job)
        );
    }

    #[test]
    fn time_zones() {
        let mut causes = Vec::new();
        validate_time_zone(&json!("Local"), &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        );
        causes.clear();
        validate_time_zone(&json!("Not/AZone"), &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: \"Not/AZone\": unknown time zone Not/AZone"
        );
    }
}
