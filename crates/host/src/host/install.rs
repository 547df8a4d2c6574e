//! Installation, reinstallation and upgrade: compiles the module, runs `canister_start` and
//! `canister_init` (or `canister_pre_upgrade` on the old instance, then `canister_start` and
//! `canister_post_upgrade` on the new one) under one install instruction limit, which also
//! pays the replica's compilation charge ([`crate::instrumentation`]) where the replica takes
//! it: after `canister_pre_upgrade`, before everything else.
//!
//! Touches one canister's state and instance, and rolls both back as a whole when any step
//! fails. It never enqueues messages: calls made during installation are not allowed.

use super::{Host, InstallOutcome, MAX_INTER_CANISTER_PAYLOAD_BYTES, MAX_UPDATE_REPLY_BYTES};
use crate::engine;
use crate::error::HostError;
use crate::history::{Change, ChangeDetails, CodeDeploymentRecord, DeploymentMode};
use crate::instrumentation::compilation_cost;
use crate::runtime::{ApiKind, Entry, ExecContext, ExecError, Runtime, StoreData};
use crate::validate::decompress_if_gzipped;
use candid::Principal;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Install modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Install,
    Reinstall,
    Upgrade,
}

impl Host {
    /// Installs a module (raw or gzipped) on an empty canister and runs `canister_init` with
    /// `arg`. On failure the canister stays empty.
    pub fn install_code(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Install)
    }

    /// Replaces the module, discarding heap, stable memory and certified data, and runs
    /// `canister_init`. On failure the canister is left as it was.
    pub fn reinstall_code(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Reinstall)
    }

    /// Upgrades: runs `canister_pre_upgrade` (if exported) on the old instance, keeps stable
    /// memory, starts a fresh instance of the new module and runs `canister_post_upgrade` with
    /// `arg`. On failure the canister is left as it was before the upgrade.
    pub fn upgrade_canister(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Upgrade)
    }

    fn install(
        &mut self,
        id: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
        mode: Mode,
    ) -> Result<InstallOutcome, HostError> {
        self.check_controller(id, sender)?;
        let origin = self.change_origin(sender);
        let installed = self.canisters[&id].runtime.is_some();
        match (mode, installed) {
            (Mode::Install, true) => return Err(HostError::AlreadyInstalled(id)),
            (Mode::Upgrade, false) => return Err(HostError::NotInstalled(id)),
            _ => {}
        }
        let (decompressed, _) =
            decompress_if_gzipped(wasm, self.config.validation.max_decompressed_bytes)?;
        let module = engine::compile(
            &decompressed,
            &self.config.validation,
            self.config.module_cache_dir.as_deref(),
        )?;
        let module_hash: [u8; 32] = Sha256::digest(wasm).into();
        let compilation = compilation_cost(
            module.report.instrumented_instructions,
            self.compiled_modules.contains(&module_hash),
        );
        let limit = self.config.limits.install;
        let time = self.time_ns;
        let root_key_der = self.root_key_der.clone();
        let subnet_id = self.subnet_id;
        let ctx = |kind: ApiKind, arg: &[u8], limit: u64| ExecContext {
            kind,
            caller: sender,
            arg: arg.to_vec(),
            time,
            limit,
            max_reply: MAX_UPDATE_REPLY_BYTES,
            max_call_payload: MAX_INTER_CANISTER_PAYLOAD_BYTES,
            root_key_der: root_key_der.clone(),
            subnet_id: Some(subnet_id),
            ..ExecContext::default()
        };

        let memory = self.config.memory;
        let c = self.canisters.get_mut(&id).expect("checked");
        let wasm_memory_limit = c.managed.settings.wasm_memory_limit();
        let ctx = |kind: ApiKind, arg: &[u8], limit: u64| {
            let mut ctx = ctx(kind, arg, limit);
            super::memory_limits(&mut ctx, &memory, wasm_memory_limit);
            ctx
        };
        let saved = (
            c.state.certified_data.clone(),
            c.state.global_timer,
            c.state.cycles,
        );
        let mut old_stable = None;
        if mode == Mode::Reinstall {
            old_stable = Some(std::mem::take(&mut c.state.stable_memory));
            c.state.certified_data.clear();
        }
        c.state.stable_memory.begin();
        let mut logs = Vec::new();
        let mut used = 0u64;
        let mut old_snapshot = None;

        let failure = |method: &'static str, e: ExecError| HostError::InstallFailed {
            canister: id,
            method,
            reject: e.into_reject(&id),
        };
        let result: Result<Runtime, HostError> = (|| {
            if mode == Mode::Upgrade {
                let rt = c.runtime.as_mut().expect("checked");
                old_snapshot = Some(rt.snapshot());
                if rt.exports("canister_pre_upgrade") {
                    let mut ex = rt.execute(
                        &mut c.state,
                        ctx(ApiKind::PreUpgrade, &[], limit),
                        &Entry::Export("canister_pre_upgrade".into()),
                        true,
                    );
                    used += ex.instructions;
                    logs.append(&mut ex.ctx.logs);
                    ex.result.map_err(|e| failure("canister_pre_upgrade", e))?;
                }
            }
            used += compilation;
            if used > limit {
                return Err(failure(
                    "install_code",
                    ExecError::InstructionLimitExceeded(limit),
                ));
            }
            // The global timer is deactivated whenever the module changes.
            c.state.global_timer = 0;
            let mut rt = Runtime::new(module.clone(), StoreData::default())?;
            let steps: [(bool, ApiKind, &'static str, &str); 2] = [
                (
                    rt.has_start(),
                    ApiKind::Start,
                    "canister_start",
                    crate::engine::START_EXPORT,
                ),
                if mode == Mode::Upgrade {
                    (
                        rt.exports("canister_post_upgrade"),
                        ApiKind::PostUpgrade,
                        "canister_post_upgrade",
                        "canister_post_upgrade",
                    )
                } else {
                    (
                        rt.exports("canister_init"),
                        ApiKind::Init,
                        "canister_init",
                        "canister_init",
                    )
                },
            ];
            for (present, kind, method, export) in steps {
                if !present {
                    continue;
                }
                let a = if kind == ApiKind::Start { &[][..] } else { arg };
                let mut ex = rt.execute(
                    &mut c.state,
                    ctx(kind, a, limit.saturating_sub(used)),
                    &Entry::Export(export.into()),
                    true,
                );
                used += ex.instructions;
                logs.append(&mut ex.ctx.logs);
                ex.result.map_err(|e| failure(method, e))?;
            }
            Ok(rt)
        })();

        let c = self.canisters.get_mut(&id).expect("checked");
        let outcome = match result {
            Ok(rt) => {
                c.state.stable_memory.commit();
                c.runtime = Some(rt);
                c.wasm = Some(Arc::new(wasm.to_vec()));
                c.state.module_hash = Some(module_hash);
                c.state.version += 1;
                c.state.history.record(Change {
                    timestamp_nanos: self.time_ns,
                    canister_version: c.state.version,
                    origin,
                    details: ChangeDetails::CodeDeployment(CodeDeploymentRecord {
                        mode: match mode {
                            Mode::Install => DeploymentMode::Install,
                            Mode::Reinstall => DeploymentMode::Reinstall,
                            Mode::Upgrade => DeploymentMode::Upgrade,
                        },
                        module_hash: serde_bytes::ByteBuf::from(module_hash.to_vec()),
                    }),
                });
                self.compiled_modules.insert(module_hash);
                Ok(InstallOutcome {
                    instructions: used,
                    compilation_instructions: compilation,
                })
            }
            Err(e) => {
                c.state.stable_memory.rollback();
                if let Some(old) = old_stable {
                    c.state.stable_memory = old;
                }
                (c.state.certified_data, c.state.global_timer, c.state.cycles) = saved;
                if let (Some(rt), Some(snap)) = (c.runtime.as_mut(), old_snapshot) {
                    rt.restore_snapshot(snap)?;
                }
                if let HostError::InstallFailed { reject, .. } = &e {
                    logs.push(format!("[TRAP]: {}", reject.message));
                }
                Err(e)
            }
        };
        self.push_logs(id, logs);
        self.time_ns += 1;
        outcome
    }
}
