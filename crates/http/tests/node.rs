//! @icp-sdk/core (agent-js) against the served host: runs `node --test` on
//! `tests/node/agent.test.mjs` with the server's URL, canister, root key, module hash and
//! controller in its environment.
//!
//! Needs Node.js and the npm packages of `tests/node` (`npm ci` there), so it is ignored by
//! default: `bash crates/http/tests/node/run.sh` installs them and runs it.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::process::Command;

#[test]
#[ignore = "needs Node.js and `npm ci` in crates/http/tests/node: run crates/http/tests/node/run.sh"]
fn agent_js() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/@icp-sdk/core").is_dir(),
        "run `npm ci` in {} first (or crates/http/tests/node/run.sh)",
        dir.display()
    );
    let s = serve_test_canister();
    let root_key = s.handle.with(|h| h.root_key_der());
    let status = Command::new("node")
        .arg("--test")
        .arg("agent.test.mjs")
        .current_dir(&dir)
        .env("ICINFER_URL", s.server.url())
        .env("ICINFER_CANISTER", s.canister.to_text())
        .env("ICINFER_ROOT_KEY", hex::encode(root_key))
        .env(
            "ICINFER_MODULE_HASH",
            hex::encode(Sha256::digest(test_canister_wasm())),
        )
        .env("ICINFER_CONTROLLER", controller().to_text())
        .status()
        .expect("run node");
    assert!(status.success(), "the agent-js tests failed");
}
