//! Creates the local AWS resources in moto the way template.yaml defines them.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use einvoice_adapters::aws::describe;

use crate::template::{KeyElement, TableSpec};

fn key_schema(elements: &[KeyElement]) -> Vec<KeySchemaElement> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder().attribute_name(&k.attribute_name).key_type(KeyType::from(k.key_type.as_str())).build().expect("key element is complete")
        })
        .collect()
}

/// Creates `name` from the template's table properties (idempotent: an existing table is kept).
pub async fn create_table(sdk: &SdkConfig, name: &str, spec: &TableSpec) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut req =
        client.create_table().table_name(name).billing_mode(BillingMode::from(spec.billing_mode.as_str())).set_key_schema(Some(key_schema(&spec.key_schema)));
    for a in &spec.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .expect("attribute definition is complete"),
        );
    }
    for g in &spec.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(g.projection.projection_type.as_str()))
            .set_non_key_attributes((!g.projection.non_key_attributes.is_empty()).then(|| g.projection.non_key_attributes.clone()))
            .build();
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)))
                .projection(projection)
                .build()
                .expect("index is complete"),
        );
    }
    if let Some(stream) = &spec.stream_specification {
        req = req.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .expect("stream spec is complete"),
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
            return Ok(());
        }
        Err(e) => return Err(format!("create table {name}: {}", describe(&e))),
    }
    if let Some(ttl) = &spec.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(&ttl.attribute_name).enabled(ttl.enabled).build().expect("ttl spec is complete"),
            )
            .send()
            .await
            .map_err(|e| format!("ttl on {name}: {}", describe(&e)))?;
    }
    Ok(())
}

/// Creates the application event bus (idempotent).
pub async fn create_event_bus(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_eventbridge::Client::new(sdk);
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => Ok(()),
        Err(e) => Err(format!("create event bus {name}: {}", describe(&e))),
    }
}

/// Creates or overwrites a string secret; returns its id (the name).
pub async fn put_secret(sdk: &SdkConfig, name: &str, value: &str) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    match client.create_secret().name(name).secret_string(value).send().await {
        Ok(_) => Ok(name.to_owned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {
            client.put_secret_value().secret_id(name).secret_string(value).send().await.map_err(|e| format!("update secret {name}: {}", describe(&e)))?;
            Ok(name.to_owned())
        }
        Err(e) => Err(format!("create secret {name}: {}", describe(&e))),
    }
}

/// Creates a string secret unless it exists (an existing value is kept); returns its id.
pub async fn create_secret_if_missing(sdk: &SdkConfig, name: &str, value: &str) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    match client.create_secret().name(name).secret_string(value).send().await {
        Ok(_) => Ok(name.to_owned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => Ok(name.to_owned()),
        Err(e) => Err(format!("create secret {name}: {}", describe(&e))),
    }
}
