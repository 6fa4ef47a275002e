//! Objects that exist from the first start: the system namespaces
//! (`default`, `kube-system`, `kube-public`, `kube-node-lease`).

use serde_json::json;

use crate::error::ApiResult;
use crate::meta;
use crate::state::ApiState;

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates each system namespace that is missing. Safe to run on every start
/// and on several servers at once (create is a compare-and-swap).
pub async fn ensure_system_namespaces(state: &ApiState) -> ApiResult<()> {
    let table = state.table();
    let Some(namespaces) = table.get("", "v1", "namespaces") else {
        return Ok(());
    };
    for name in SYSTEM_NAMESPACES {
        match state.store.get(&namespaces, None, name).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        meta::stamp_created(&mut ns);
        namespaces.strategy.prepare_for_create(&mut ns);
        match state.store.create(&namespaces, None, ns, false).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    state.set_bootstrapped();
    Ok(())
}
