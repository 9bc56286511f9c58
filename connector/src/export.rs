//! The exported `connector` interface, wired to the modules that do the work.

use crate::client::Client;
use crate::conductorone::connector::types::{
    ConnectorError, ConnectorMetadata, EntitlementPage, GrantPage, HeaderAuth, RateLimit, Resource,
    ResourceId, ResourcePage, ResourceType, Setting,
};
use crate::error::Error;
use crate::exports::conductorone::connector::connector::Guest;
use crate::settings::{API_TOKEN, API_TOKEN_HEADER, ApiUrl, BASE_URL};
use crate::wasi::config::store;
use crate::{groups, users};

/// Requests per second ActiveCampaign allows one account, across all its keys.
const RATE_LIMIT_PER_SECOND: u32 = 5;

struct Component;

impl Guest for Component {
    fn metadata() -> ConnectorMetadata {
        ConnectorMetadata {
            display_name: "ActiveCampaign".to_owned(),
            description: "Syncs an ActiveCampaign account's users, permission groups, group \
                          membership and admin rights. Read only; contacts are never read."
                .to_owned(),
            can_provision: false,
            settings: vec![
                Setting {
                    name: BASE_URL.to_owned(),
                    description: "The account's API Access URL, from Settings > Developer, \
                                  such as https://myaccount.api-us1.com"
                        .to_owned(),
                    required: true,
                    secret: false,
                },
                Setting {
                    name: API_TOKEN.to_owned(),
                    description: "An API token of an account admin, from Settings > \
                                  Developer. Omit it when the host adds the Api-Token header"
                        .to_owned(),
                    required: true,
                    secret: true,
                },
            ],
            auth: Some(HeaderAuth {
                secret_setting: API_TOKEN.to_owned(),
                header: API_TOKEN_HEADER.to_owned(),
                origin_setting: BASE_URL.to_owned(),
            }),
            rate_limit_per_second: Some(RATE_LIMIT_PER_SECOND),
        }
    }

    fn validate() -> Result<(), ConnectorError> {
        let client = client_from_config()?;
        users::check_credentials(&client).map_err(ConnectorError::from)
    }

    fn resource_types() -> Vec<ResourceType> {
        vec![users::resource_type(), groups::resource_type()]
    }

    fn list_resources(
        resource_type_id: String,
        parent: Option<ResourceId>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, ConnectorError> {
        if let Some(parent) = parent {
            return Err(Error::InvalidArgument(format!(
                "`{resource_type_id}` resources have no parent, got `{}:{}`",
                parent.resource_type, parent.resource
            ))
            .into());
        }
        let client = client_from_config()?;
        let page = match resource_type_id.as_str() {
            users::RESOURCE_TYPE => users::list(&client, page_token.as_deref()),
            groups::RESOURCE_TYPE => groups::list(&client, page_token.as_deref()),
            other => Err(unknown_type(other)),
        };
        page.map_err(ConnectorError::from)
    }

    fn list_entitlements(
        resource: Resource,
        page_token: Option<String>,
    ) -> Result<EntitlementPage, ConnectorError> {
        let page = match resource.id.resource_type.as_str() {
            groups::RESOURCE_TYPE => groups::entitlements(&resource, page_token.as_deref()),
            users::RESOURCE_TYPE => Ok(EntitlementPage {
                entitlements: Vec::new(),
                next_page_tokens: Vec::new(),
            }),
            other => Err(unknown_type(other)),
        };
        page.map_err(ConnectorError::from)
    }

    fn list_grants(
        resource: Resource,
        page_token: Option<String>,
    ) -> Result<GrantPage, ConnectorError> {
        let page = match resource.id.resource_type.as_str() {
            groups::RESOURCE_TYPE => {
                let client = client_from_config()?;
                groups::list_grants(&client, &resource, page_token.as_deref())
            }
            users::RESOURCE_TYPE => Ok(GrantPage {
                grants: Vec::new(),
                next_page_tokens: Vec::new(),
                total: Some(0),
            }),
            other => Err(unknown_type(other)),
        };
        page.map_err(ConnectorError::from)
    }
}

crate::export!(Component with_types_in crate);

/// Builds a client from the config store: `base-url`, and `api-token` when the host
/// supplies the token as config rather than adding the header itself.
fn client_from_config() -> Result<Client, ConnectorError> {
    let read = |key: &str| {
        store::get(key).map_err(|error| {
            Error::InvalidConfiguration(format!("failed to read setting `{key}`: {error:?}"))
        })
    };
    let base_url = read(BASE_URL)?.unwrap_or_default();
    let api_url = ApiUrl::parse(&base_url)?;
    let api_token = read(API_TOKEN)?.filter(|token| !token.trim().is_empty());
    Ok(Client::new(
        api_url,
        api_token.map(|token| token.trim().to_owned()),
    ))
}

fn unknown_type(resource_type: &str) -> Error {
    Error::InvalidArgument(format!(
        "unknown resource type `{resource_type}`; this connector syncs `{}` and `{}`",
        users::RESOURCE_TYPE,
        groups::RESOURCE_TYPE
    ))
}

impl From<Error> for ConnectorError {
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthorized(message) => ConnectorError::Unauthorized(message),
            Error::Forbidden(message) => ConnectorError::Forbidden(message),
            Error::NotFound(message) => ConnectorError::NotFound(message),
            Error::RateLimited {
                retry_after_ms,
                message,
            } => ConnectorError::RateLimited(RateLimit {
                retry_after_ms,
                message,
            }),
            Error::UpstreamUnavailable(message) => ConnectorError::UpstreamUnavailable(message),
            Error::InvalidResponse(message) => ConnectorError::InvalidResponse(message),
            Error::InvalidConfiguration(message) => ConnectorError::InvalidConfiguration(message),
            Error::InvalidArgument(message) => ConnectorError::InvalidArgument(message),
            Error::Other(message) => ConnectorError::Other(message),
        }
    }
}
