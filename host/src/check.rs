//! The consistency check that runs before the output is published.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::driver::{Gathered, Listing};
use crate::output::{ResourceKey, SyncOutput};

/// Most problems listed in one failure report.
const MAX_PROBLEMS: usize = 20;

/// Returns every inconsistency of a finished, de-duplicated output: dangling references,
/// repeated ids, and listings whose record count disagrees with the total the API
/// reported, or whose total changed while they were read.
pub fn problems(output: &SyncOutput, gathered: &Gathered) -> Vec<String> {
    let mut problems = output.check_references(MAX_PROBLEMS);
    let counts = listing_counts(output);

    for (listing, totals) in &gathered.totals {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let count = counts.get(listing).copied().unwrap_or(0);
        let reported: Vec<String> = totals.iter().map(u64::to_string).collect();
        match totals.iter().collect::<Vec<_>>().as_slice() {
            [total] if **total == count => {}
            [total] => problems.push(format!(
                "the API reported {total} {listing} but {count} were read; the account may \
                 have changed during the sync, run it again"
            )),
            _ => problems.push(format!(
                "the API's total of {listing} changed during the sync ({}), so the account \
                 changed while it was read; run the sync again",
                reported.join(", ")
            )),
        }
    }
    problems
}

/// Counts unique records per listing: resources per type, grants per resource.
fn listing_counts(output: &SyncOutput) -> BTreeMap<Listing, u64> {
    let mut counts = BTreeMap::new();
    for resource in &output.resources {
        *counts
            .entry(Listing::Resources(resource.id.resource_type.clone()))
            .or_insert(0) += 1;
    }

    let resource_of: HashMap<&str, &ResourceKey> = output
        .entitlements
        .iter()
        .map(|entitlement| (entitlement.id.as_str(), &entitlement.resource))
        .collect();
    let mut seen = HashSet::new();
    for grant in &output.grants {
        if !seen.insert(grant.id.as_str()) {
            continue;
        }
        if let Some(resource) = resource_of.get(grant.entitlement.as_str()) {
            *counts
                .entry(Listing::Grants(
                    resource.resource_type.clone(),
                    resource.resource.clone(),
                ))
                .or_insert(0) += 1;
        }
    }
    counts
}
