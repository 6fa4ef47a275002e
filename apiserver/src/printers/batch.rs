//! batch printers: Job (STATUS, COMPLETIONS, DURATION) and CronJob.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{
    age, arr_at, at, bool_at, container_cells, deleting, format_label_selector, human_duration,
    int_at, name, since, str_at, time_at,
};
use super::{AGE, CONTAINERS_DESC, Column, IMAGES_DESC, NAME, Printer};

static JOB: [Column; 8] = [
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new(
        "Completions",
        "string",
        "Succeeded pods out of required completions.",
    ),
    Column::new(
        "Duration",
        "string",
        "Time the job took, or has been running.",
    ),
    AGE,
    Column::wide("Containers", "string", CONTAINERS_DESC),
    Column::wide("Images", "string", IMAGES_DESC),
    Column::wide("Selector", "string", "Label selector of the job's pods."),
];
static CRONJOB: [Column; 10] = [
    NAME,
    Column::new("Schedule", "string", "The cron schedule."),
    Column::new("Timezone", "string", "Time zone of the schedule."),
    Column::new("Suspend", "boolean", "Whether new runs are suspended."),
    Column::new("Active", "integer", "Number of running jobs."),
    Column::new(
        "Last Schedule",
        "string",
        "Time since a job was last scheduled.",
    ),
    AGE,
    Column::wide("Containers", "string", CONTAINERS_DESC),
    Column::wide("Images", "string", IMAGES_DESC),
    Column::wide("Selector", "string", "Label selector of the job template."),
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("batch", "Job") => Some((&JOB, job)),
        ("batch", "CronJob") => Some((&CRONJOB, cronjob)),
        _ => None,
    }
}

/// Whether the first condition of `type_` has status True.
fn has_condition(obj: &Value, type_: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_status(obj: &Value) -> &'static str {
    if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if deleting(obj) {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match at(obj, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(obj, &["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time_at(obj, &["status", "startTime"]),
        time_at(obj, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let (names, images) = container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    vec![
        json!(name(obj)),
        json!(job_status(obj)),
        json!(completions),
        json!(duration),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

fn cronjob(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = match at(obj, &["status", "lastScheduleTime"]) {
        Some(_) => since(time_at(obj, &["status", "lastScheduleTime"]), now),
        None => "<none>".to_string(),
    };
    let tz = at(obj, &["spec", "timeZone"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // Upstream prints the optional boolean as text in a "boolean" column.
    let suspend = match bool_at(obj, &["spec", "suspend"]) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let job_spec = &["spec", "jobTemplate", "spec"];
    let containers = at(obj, job_spec)
        .map(|s| arr_at(s, &["template", "spec", "containers"]))
        .unwrap_or(&[]);
    let (names, images) = container_cells(containers);
    let selector = at(obj, job_spec).and_then(|s| at(s, &["selector"]));
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "schedule"])),
        json!(tz),
        json!(suspend),
        json!(arr_at(obj, &["status", "active"]).len()),
        json!(last),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(selector)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn job_status_completions_duration() {
        let done = json!({"metadata": {"name": "pi", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                     "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
            "status": {"succeeded": 1, "startTime": "2025-06-01T11:00:00Z", "completionTime": "2025-06-01T11:00:42Z",
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        assert_eq!(
            assert_shape("batch", "Job", &done),
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("42s"),
                json!("60m"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=abc")
            ]
        );
        let running = json!({"metadata": {"name": "w", "creationTimestamp": "2025-06-01T11:50:00Z"},
            "spec": {"parallelism": 3}, "status": {"succeeded": 2, "startTime": "2025-06-01T11:56:40Z"}});
        let c = assert_shape("batch", "Job", &running);
        assert_eq!(
            c[1..4],
            [json!("Running"), json!("2/1 of 3"), json!("3m20s")]
        );
        let pending = json!({"metadata": {"name": "p"}, "spec": {"suspend": true},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        let c = assert_shape("batch", "Job", &pending);
        assert_eq!(c[1..4], [json!("Suspended"), json!("0/1"), json!("")]);
        let failed = json!({"metadata": {"name": "f", "deletionTimestamp": "2025-06-01T12:00:00Z"},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(assert_shape("batch", "Job", &failed)[1], "Failed");
        let deleting =
            json!({"metadata": {"name": "d", "deletionTimestamp": "2025-06-01T12:00:00Z"}});
        assert_eq!(assert_shape("batch", "Job", &deleting)[1], "Terminating");
    }

    #[test]
    fn cronjob_cells() {
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": "2025-05-31T12:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2025-06-01T11:58:00Z"}});
        assert_eq!(
            assert_shape("batch", "CronJob", &cj),
            vec![
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("2m"),
                json!("24h"),
                json!("hello"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC"}});
        let c = assert_shape("batch", "CronJob", &bare);
        assert_eq!(
            c[2..6],
            [
                json!("Etc/UTC"),
                json!("<unset>"),
                json!(0),
                json!("<none>")
            ]
        );
    }
}
