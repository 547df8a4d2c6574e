//! `icinfer policy show|set`: the canister's inference policy (controllers only): who may
//! run inferences, and the per-caller and global quotas per window.

use crate::client::Client;
use anyhow::{Result, bail};
use candid::Principal;
use icinfer_api::{Access, Error, InferencePolicy, Quota};

/// `policy set`'s flags. Every flag not given takes its default (open, unlimited, an hour):
/// `set` replaces the whole policy, so what it prints is exactly what is in force.
pub struct PolicyFlags {
    pub access: String,
    pub allow: Vec<Principal>,
    pub window_seconds: u64,
    pub per_caller_calls: Option<u64>,
    pub per_caller_instructions: Option<u64>,
    pub global_calls: Option<u64>,
    pub global_instructions: Option<u64>,
}

impl PolicyFlags {
    pub fn policy(self) -> Result<InferencePolicy> {
        let access = match self.access.as_str() {
            "open" => Access::Open,
            "authenticated" => Access::Authenticated,
            "allow-list" => Access::AllowList(self.allow.clone()),
            other => bail!("--access {other}: expected open, authenticated or allow-list"),
        };
        if !self.allow.is_empty() && !matches!(access, Access::AllowList(_)) {
            bail!("--allow needs --access allow-list");
        }
        Ok(InferencePolicy {
            access,
            window_seconds: self.window_seconds,
            per_caller: Quota {
                max_calls: self.per_caller_calls,
                max_instructions: self.per_caller_instructions,
            },
            global: Quota {
                max_calls: self.global_calls,
                max_instructions: self.global_instructions,
            },
        })
    }
}

pub async fn show(client: &Client, json: bool) -> Result<()> {
    let policy: Result<InferencePolicy, Error> = client.query("policy", ()).await?;
    let policy = policy.map_err(|e| client.explain("policy", e))?;
    print(&policy, json)
}

pub async fn set(client: &Client, policy: InferencePolicy, json: bool) -> Result<()> {
    let set: Result<(), Error> = client.update("set_policy", (policy.clone(),)).await?;
    set.map_err(|e| client.explain("set_policy", e))?;
    print(&policy, json)
}

fn print(policy: &InferencePolicy, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(policy))?);
        return Ok(());
    }
    let access = match &policy.access {
        Access::Open => "open (everyone, the anonymous principal included)".to_string(),
        Access::Authenticated => "authenticated (the anonymous principal is refused)".into(),
        Access::AllowList(allowed) => format!(
            "allow-list of {}: {}",
            allowed.len(),
            allowed
                .iter()
                .map(Principal::to_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    println!("access      {access}");
    println!("window      {} s", policy.window_seconds);
    println!("per caller  {}", quota(&policy.per_caller));
    println!("global      {}", quota(&policy.global));
    println!("(controllers are exempt from access and quotas)");
    Ok(())
}

fn quota(q: &Quota) -> String {
    let part = |max: Option<u64>, what: &str| match max {
        Some(max) => format!("{max} {what}"),
        None => format!("unlimited {what}"),
    };
    format!(
        "{}, {} per window",
        part(q.max_calls, "calls"),
        part(q.max_instructions, "instructions")
    )
}

fn to_json(policy: &InferencePolicy) -> serde_json::Value {
    let (access, allow) = match &policy.access {
        Access::Open => ("open", vec![]),
        Access::Authenticated => ("authenticated", vec![]),
        Access::AllowList(allowed) => ("allow-list", allowed.iter().map(|p| p.to_text()).collect()),
    };
    let quota = |q: &Quota| serde_json::json!({ "max_calls": q.max_calls, "max_instructions": q.max_instructions });
    serde_json::json!({
        "access": access,
        "allow": allow,
        "window_seconds": policy.window_seconds,
        "per_caller": quota(&policy.per_caller),
        "global": quota(&policy.global),
    })
}
