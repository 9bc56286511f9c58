//! Builds resource profiles from the API's fields.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::{flag_value, is_zero_date};
use crate::conductorone::connector::types::{ProfileEntry, ProfileValue};

/// Returns a profile of every scalar field except those in `skip`, sorted by key.
///
/// `null`, `""` and zero dates are left out because the API uses them for "no value".
/// Objects and arrays, such as `links`, are left out. Fields for which `is_flag` is true
/// become booleans when they hold `0`/`1`/`true`/`false` in any form, and keep their
/// text otherwise (the API writes `reqApproval1st` as `"2"`).
pub fn from_fields(
    fields: &BTreeMap<String, Value>,
    skip: &[&str],
    is_flag: impl Fn(&str) -> bool,
) -> Vec<ProfileEntry> {
    fields
        .iter()
        .filter(|(key, _)| !skip.contains(&key.as_str()))
        .filter_map(|(key, value)| {
            let value = if is_flag(key) {
                flag_value(value)
                    .map(ProfileValue::Boolean)
                    .or_else(|| scalar(value))
            } else {
                scalar(value)
            }?;
            Some(ProfileEntry {
                key: key.clone(),
                value,
            })
        })
        .collect()
}

/// Converts a JSON scalar to a profile value, or `None` for no value and non-scalars.
fn scalar(value: &Value) -> Option<ProfileValue> {
    match value {
        Value::String(text) if text.trim().is_empty() || is_zero_date(text) => None,
        Value::String(text) => Some(ProfileValue::Text(text.clone())),
        Value::Bool(flag) => Some(ProfileValue::Boolean(*flag)),
        Value::Number(number) => Some(match number.as_i64() {
            Some(integer) => ProfileValue::Integer(integer),
            None => ProfileValue::Text(number.to_string()),
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Returns a profile entry's value as a flag: a boolean, or text/integer 0 or 1.
pub fn flag_of(profile: &[ProfileEntry], key: &str) -> Option<bool> {
    let entry = profile.iter().find(|entry| entry.key == key)?;
    match &entry.value {
        ProfileValue::Boolean(flag) => Some(*flag),
        ProfileValue::Integer(1) => Some(true),
        ProfileValue::Integer(0) => Some(false),
        ProfileValue::Text(text) => flag_value(&Value::String(text.clone())),
        ProfileValue::Integer(_) => None,
    }
}
