//! The built connector component's world: what it imports and exports, read from the
//! component binary the host embeds.

mod support;

use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

/// Interfaces the component may import, as `namespace:package/interface` without a version.
/// `wasi:io`, `wasi:clocks` and `wasi:cli` are linked in by Rust's standard library and
/// are backed by an empty context in the host.
const ALLOWED_EXACT: [&str; 3] = [
    "wasi:http/outgoing-handler",
    "wasi:http/types",
    "wasi:config/store",
];

/// Packages whose every interface the component may import.
const ALLOWED_PACKAGES: [&str; 4] = ["wasi:io/", "wasi:clocks/", "wasi:cli/", "wasi:random/"];

/// The connector's own type definitions. The exported interface uses them, so the world
/// lists them as an import, which is allowed only while it declares no function.
const OWN_TYPES: &str = "conductorone:connector/types";

/// Decodes the embedded component and returns its resolve graph and world.
fn component_world() -> (Resolve, WorldId) {
    let path = support::connector_component();
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("failed to read `{}`: {error}", path.display()));
    match decode(&bytes).expect("the component decodes") {
        DecodedWasm::Component(resolve, world) => (resolve, world),
        DecodedWasm::WitPackage(..) => panic!("`{}` is a WIT package", path.display()),
    }
}

/// Returns the names of a world's items, such as `wasi:http/types@0.2.12`.
fn names(resolve: &Resolve, items: &[(&WorldKey, &WorldItem)]) -> Vec<String> {
    items
        .iter()
        .filter_map(|(key, item)| match item {
            WorldItem::Interface { .. } => Some(resolve.name_world_key(key)),
            WorldItem::Function(function) => Some(format!("function `{}`", function.name)),
            WorldItem::Type { .. } => None,
        })
        .collect()
}

fn imports(resolve: &Resolve, world: WorldId) -> Vec<String> {
    let items: Vec<_> = resolve.worlds[world].imports.iter().collect();
    names(resolve, &items)
}

fn exports(resolve: &Resolve, world: WorldId) -> Vec<String> {
    let items: Vec<_> = resolve.worlds[world].exports.iter().collect();
    names(resolve, &items)
}

/// Strips the `@version` of an interface name.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(name, _)| name)
}

#[test]
fn component_imports_only_allowed_interfaces() {
    let (resolve, world) = component_world();
    let imports = imports(&resolve, world);

    let outside: Vec<&String> = imports
        .iter()
        .filter(|name| {
            let name = unversioned(name);
            !ALLOWED_EXACT.contains(&name)
                && name != OWN_TYPES
                && !ALLOWED_PACKAGES
                    .iter()
                    .any(|package| name.starts_with(package))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "imports outside the allow-list: {outside:?}"
    );
}

#[test]
fn component_types_import_has_no_functions() {
    let (resolve, world) = component_world();
    let functions: Vec<String> = resolve.worlds[world]
        .imports
        .iter()
        .filter_map(|(key, item)| match item {
            WorldItem::Interface { id, .. }
                if unversioned(&resolve.name_world_key(key)) == OWN_TYPES =>
            {
                Some(resolve.interfaces[*id].functions.keys().cloned())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        functions.is_empty(),
        "functions in `{OWN_TYPES}`: {functions:?}"
    );
}

#[test]
fn component_imports_no_filesystem() {
    let (resolve, world) = component_world();
    let imports = imports(&resolve, world);
    let filesystem: Vec<&String> = imports
        .iter()
        .filter(|name| name.starts_with("wasi:filesystem/"))
        .collect();
    assert!(filesystem.is_empty(), "filesystem imports: {filesystem:?}");
}

#[test]
fn component_imports_no_sockets() {
    let (resolve, world) = component_world();
    let imports = imports(&resolve, world);
    let sockets: Vec<&String> = imports
        .iter()
        .filter(|name| name.starts_with("wasi:sockets/"))
        .collect();
    assert!(sockets.is_empty(), "socket imports: {sockets:?}");
}

#[test]
fn component_imports_outgoing_http_and_config() {
    let (resolve, world) = component_world();
    let imports: Vec<String> = imports(&resolve, world)
        .iter()
        .map(|name| unversioned(name).to_owned())
        .collect();
    assert!(
        imports.contains(&"wasi:http/outgoing-handler".to_owned()),
        "{imports:?}"
    );
    assert!(
        imports.contains(&"wasi:config/store".to_owned()),
        "{imports:?}"
    );
}

#[test]
fn component_exports_connector_interface() {
    let (resolve, world) = component_world();
    assert_eq!(
        exports(&resolve, world),
        ["conductorone:connector/connector@0.1.0"]
    );
}
