//! The JSON Schema of scenario files, generated from the serde structs of
//! `schema.rs` (their doc comments are its descriptions): what `retrylab
//! schema` prints and `docs/scenario.schema.json` holds, for editors
//! (taplo, Even Better TOML) to complete and check fields with.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::Schema;
use serde_json::Value;

use crate::schema::ScenarioFile;

/// The JSON Schema (draft 7, which taplo reads) of a scenario file,
/// pretty-printed with a final newline.
pub fn json_schema() -> String {
    let mut text = serde_json::to_string_pretty(&root_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema as a JSON value, for walking a file against it (`check.rs`).
pub(crate) fn root_schema() -> Value {
    let mut settings = SchemaSettings::draft07();
    settings.transforms.push(Box::new(RecursiveTransform(without_null)));
    let mut schema = settings.into_generator().into_root_schema_for::<ScenarioFile>();
    schema.insert("title".to_owned(), Value::from("retrylab scenario file"));
    schema.to_value()
}

/// Drops the `null` that schemars allows for an `Option` field: TOML has no
/// null, an absent key is how a file leaves a field out.
fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".to_owned(), only);
        }
    }
    let Some(Value::Array(any_of)) = object.get_mut("anyOf") else { return };
    any_of.retain(|alternative| alternative.get("type").is_none_or(|t| t != "null"));
    if let [only] = any_of.as_slice() {
        let only = only.clone();
        object.remove("anyOf");
        // A `$ref` keeps its siblings (the description) only under allOf in draft 7.
        object.insert("allOf".to_owned(), Value::Array(vec![only]));
    }
}
