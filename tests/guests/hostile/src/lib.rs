//! A connector component that misbehaves on purpose, so the sandbox tests can check that
//! the host contains it.
//!
//! The behaviour is chosen at run time from the path of the `base-url` setting, so one
//! build serves every test:
//!
//! - `{origin}/{behaviour}[/{argument}]` misbehaves in `validate`.
//! - `{origin}/list-resources/{behaviour}[/{argument}]` passes `validate`, declares four
//!   resource types and misbehaves in every `list-resources` call, so several instances
//!   misbehave at once.
//!
//! `metadata` gets no settings, so its behaviour is chosen at build time instead: built
//! with the environment variable `HOSTILE_METADATA` set to a behaviour name, `metadata`
//! misbehaves that way. Built without it, `metadata` returns the real connector's shape
//! with header auth, so the host keeps the token.
//!
//! The behaviours, and what each returns when it ends at all, are listed on
//! [`Behaviour`]. A behaviour that the sandbox contains returns
//! `connector-error.other` with a message that starts with its name and reports what it
//! saw, and the tests assert on that message.

mod behaviour;

use behaviour::Behaviour;
use conductorone::connector::types::{
    ConnectorError, ConnectorMetadata, EntitlementPage, GrantPage, HeaderAuth, Resource,
    ResourceId, ResourcePage, ResourceTrait, ResourceType, Setting,
};
use exports::conductorone::connector::connector::Guest;

wit_bindgen::generate!({
    world: "connector-component",
    path: "../../../wit",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:config/store@0.2.0-rc.1": generate,
    },
});

/// Resource types declared in the `list-resources` stage, one per concurrent instance the
/// tests run.
const RESOURCE_TYPES: usize = 4;

/// Where in the call sequence the component misbehaves.
enum Stage {
    Validate,
    ListResources,
}

struct Component;

impl Guest for Component {
    fn metadata() -> ConnectorMetadata {
        if let Some(name) = option_env!("HOSTILE_METADATA") {
            match Behaviour::parse(name, "") {
                // The report has no way out of `metadata`, so the host gets a trap instead.
                Some(behaviour) => panic!("{:?}", behaviour.run("http://127.0.0.1:9")),
                None => panic!("unknown HOSTILE_METADATA behaviour `{name}`"),
            }
        }
        ConnectorMetadata {
            display_name: "Hostile test component".to_owned(),
            description: "Misbehaves on purpose to test the host's sandbox".to_owned(),
            can_provision: false,
            settings: vec![
                Setting {
                    name: "base-url".to_owned(),
                    description: "The origin, then the behaviour as the path".to_owned(),
                    required: true,
                    secret: false,
                },
                Setting {
                    name: "api-token".to_owned(),
                    description: "Never read: the host adds the Api-Token header".to_owned(),
                    required: false,
                    secret: true,
                },
            ],
            auth: Some(HeaderAuth {
                secret_setting: "api-token".to_owned(),
                header: "Api-Token".to_owned(),
                origin_setting: "base-url".to_owned(),
            }),
            rate_limit_per_second: Some(5),
        }
    }

    fn validate() -> Result<(), ConnectorError> {
        match plan()? {
            (Stage::Validate, behaviour, origin) => Err(behaviour.run(&origin)),
            (Stage::ListResources, _, _) => Ok(()),
        }
    }

    fn resource_types() -> Vec<ResourceType> {
        (1..=RESOURCE_TYPES)
            .map(|index| ResourceType {
                id: format!("hostile-{index}"),
                display_name: format!("Hostile {index}"),
                description: "A type whose listing misbehaves".to_owned(),
                traits: vec![ResourceTrait::App],
                skip_entitlements_and_grants: false,
            })
            .collect()
    }

    fn list_resources(
        _resource_type_id: String,
        _parent: Option<ResourceId>,
        _page_token: Option<String>,
    ) -> Result<ResourcePage, ConnectorError> {
        let (_, behaviour, origin) = plan()?;
        Err(behaviour.run(&origin))
    }

    fn list_entitlements(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, ConnectorError> {
        Err(ConnectorError::Other(
            "list-entitlements is not implemented".to_owned(),
        ))
    }

    fn list_grants(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<GrantPage, ConnectorError> {
        Err(ConnectorError::Other(
            "list-grants is not implemented".to_owned(),
        ))
    }
}

export!(Component);

/// Reads `base-url` and splits it into the stage, the behaviour and the origin.
fn plan() -> Result<(Stage, Behaviour, String), ConnectorError> {
    let base_url = wasi::config::store::get("base-url")
        .map_err(|error| ConnectorError::InvalidConfiguration(format!("{error:?}")))?
        .unwrap_or_default();
    let invalid = || {
        ConnectorError::InvalidConfiguration(format!(
            "`base-url` `{base_url}` names no behaviour; add one as the path, such as \
             `/loop-forever`"
        ))
    };

    let (scheme, rest) = base_url.split_once("://").ok_or_else(invalid)?;
    let (authority, path) = rest.split_once('/').ok_or_else(invalid)?;
    let origin = format!("{scheme}://{authority}");
    let (stage, path) = match path.strip_prefix("list-resources/") {
        Some(path) => (Stage::ListResources, path),
        None => (Stage::Validate, path),
    };
    let (name, argument) = path.split_once('/').unwrap_or((path, ""));
    let behaviour = Behaviour::parse(name, argument).ok_or_else(invalid)?;
    Ok((stage, behaviour, origin))
}
