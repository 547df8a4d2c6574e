//! `icinfer log`: read and search the provenance log.

use crate::client::Client;
use crate::receipt::entry_json;
use anyhow::{Context, Result, bail};
use candid::Principal;
use icinfer_api::{
    EntryKind, Error, FindLogArgs, FindLogResult, LogEntry, LogFilter, LogPage, LogPageArgs,
    ModelInfo,
};
use serde_bytes::ByteBuf;
use std::time::Duration;

/// The canister's page cap (MAX_LOG_PAGE); longer listings take several calls.
const PAGE: u32 = 100;

pub enum LogCommand {
    List { start: u64, limit: u64 },
    Tail { count: u64, follow: bool },
    Find { filter: Filter, limit: u64 },
}

pub enum Filter {
    Model(String),
    ModelSha256(String),
    InputHash(String),
    OutputHash(String),
    Caller(String),
}

pub async fn run(client: &Client, command: LogCommand, json: bool) -> Result<()> {
    match command {
        LogCommand::List { start, limit } => {
            let entries = page_through(client, start, limit).await?;
            print_entries(&entries, json)?;
        }
        LogCommand::Tail { count, follow } => {
            let size: u64 = client.query("log_size", ()).await?;
            let start = size.saturating_sub(count);
            let entries = page_through(client, start, count).await?;
            print_entries(&entries, json)?;
            if !follow {
                return Ok(());
            }
            let mut next = start + entries.len() as u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let entries = page_through(client, next, u64::MAX).await?;
                next += entries.len() as u64;
                print_entries(&entries, json)?;
            }
        }
        LogCommand::Find { filter, limit } => {
            let filter = resolve(client, filter).await?;
            let mut found = Vec::new();
            let mut start = 0;
            while (found.len() as u64) < limit {
                let args = FindLogArgs {
                    filter: filter.clone(),
                    start,
                    limit: PAGE.min((limit - found.len() as u64) as u32),
                };
                let page: Result<FindLogResult, Error> =
                    client.query("find_log_entries", (args,)).await?;
                let page = page.map_err(|e| client.explain("find_log_entries", e))?;
                found.extend(page.entries);
                match page.next {
                    Some(next) => start = next,
                    None => break,
                }
            }
            if found.is_empty() && !json {
                println!("no entries match");
            }
            print_entries(&found, json)?;
        }
    }
    Ok(())
}

async fn page_through(client: &Client, mut start: u64, limit: u64) -> Result<Vec<LogEntry>> {
    let mut entries = Vec::new();
    while (entries.len() as u64) < limit {
        let want = PAGE.min((limit - entries.len() as u64).min(PAGE as u64) as u32);
        let page: Result<LogPage, Error> = client
            .query("log_entries", (LogPageArgs { start, limit: want },))
            .await?;
        let page = page.map_err(|e| client.explain("log_entries", e))?;
        let got = page.entries.len() as u64;
        entries.extend(page.entries);
        match page.next {
            Some(next) if got > 0 => start = next,
            _ => break,
        }
    }
    Ok(entries)
}

async fn resolve(client: &Client, filter: Filter) -> Result<LogFilter> {
    let digest = |text: &str, what: &str| -> Result<ByteBuf> {
        let bytes = hex::decode(text).with_context(|| format!("{what} '{text}' is not hex"))?;
        if bytes.len() != 32 {
            bail!(
                "{what} must be 32 bytes (64 hex digits), got {}",
                bytes.len()
            );
        }
        Ok(ByteBuf::from(bytes))
    };
    Ok(match filter {
        Filter::Model(id) => {
            let info: Result<ModelInfo, Error> = client.query("model_info", (id,)).await?;
            LogFilter::ModelSha256(info.map_err(|e| client.explain("model_info", e))?.sha256)
        }
        Filter::ModelSha256(h) => LogFilter::ModelSha256(digest(&h, "--model-sha256")?),
        Filter::InputHash(h) => LogFilter::InputHash(digest(&h, "--input-hash")?),
        Filter::OutputHash(h) => LogFilter::OutputHash(digest(&h, "--output-hash")?),
        Filter::Caller(p) => LogFilter::Caller(
            Principal::from_text(&p)
                .with_context(|| format!("--caller '{p}' is not a principal"))?,
        ),
    })
}

fn print_entries(entries: &[LogEntry], json: bool) -> Result<()> {
    for e in entries {
        if json {
            println!("{}", serde_json::to_string(&entry_json(e))?);
        } else {
            println!("{}", line(e));
        }
    }
    Ok(())
}

/// One entry on one line: what it records by its kind (an inference's model, a generation's
/// language model, a code epoch's module), then its hashes and caller.
fn line(e: &LogEntry) -> String {
    let short = |hash: &[u8]| hex::encode(&hash[..hash.len().min(8)]);
    let (what, detail) = match &e.kind {
        None | Some(EntryKind::Inference) => (
            e.model_id.clone(),
            format!(
                "in {}… out {}…",
                short(&e.input_hash),
                short(&e.output_hash)
            ),
        ),
        Some(EntryKind::Generation(receipt)) => (
            format!("{} (text)", e.model_id),
            format!(
                "prompt {}… text {}…, {} tokens",
                short(&e.input_hash),
                short(&e.output_hash),
                receipt.generated_tokens
            ),
        ),
        Some(EntryKind::Model(declaration)) => (
            format!("{} (model)", e.model_id),
            format!(
                "sha256 {}…, {} input facts{}",
                short(&e.model_sha256),
                declaration.input_facts.len(),
                if declaration.language_model.is_some() {
                    ", language model"
                } else {
                    ""
                }
            ),
        ),
        Some(EntryKind::CodeEpoch(epoch)) => (
            "code epoch".to_string(),
            format!(
                "module {}… ({} at canister version {}), writes from #{}",
                short(&epoch.module_hash),
                icinfer_verify::json::mode_text(epoch.mode),
                epoch.deployed_version,
                epoch.first_index
            ),
        ),
    };
    format!(
        "#{:<6} {}  {:<16} {}  {}",
        e.seq,
        utc(e.timestamp_ns),
        what,
        detail,
        e.caller
    )
}

/// `2026-11-22 02:30:11.123Z` from nanoseconds since the Unix epoch (UTC, proleptic
/// Gregorian; Howard Hinnant's days-to-civil).
pub fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let millis = (ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{line, utc};
    use icinfer_api::{CodeEpoch, DeploymentMode, EntryKind, LogEntry};
    use serde_bytes::ByteBuf;

    #[test]
    fn each_kind_of_entry_says_what_it_records() {
        let inference = LogEntry {
            seq: 1,
            timestamp_ns: 0,
            caller: candid::Principal::anonymous(),
            model_id: "digits".into(),
            model_sha256: ByteBuf::from(vec![1; 32]),
            input_hash: ByteBuf::from(vec![0xab; 32]),
            output_hash: ByteBuf::from(vec![0xcd; 32]),
            input_salted: false,
            instructions: 0,
            messages: Some(1),
            kind: None,
        };
        assert!(
            line(&inference)
                .contains("digits           in abababababababab… out cdcdcdcdcdcdcdcd…")
        );
        let epoch = LogEntry {
            model_id: String::new(),
            kind: Some(EntryKind::CodeEpoch(CodeEpoch {
                first_index: 3,
                canister_version: 4,
                started_ns: 0,
                module_hash: ByteBuf::from(vec![0x3c; 32]),
                mode: DeploymentMode::Upgrade,
                deployed_version: 4,
                deployed_ns: 0,
                total_num_changes: 5,
                controllers: vec![],
            })),
            ..inference
        };
        let text = line(&epoch);
        assert!(
            text.contains("code epoch       module 3c3c3c3c3c3c3c3c… (upgrade at canister version 4), writes from #3"),
            "{text}"
        );
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000Z");
        // `date -u -d @1795314611` = Sun Nov 22 02:30:11 UTC 2026.
        assert_eq!(utc(1_795_314_611_123_000_000), "2026-11-22 02:30:11.123Z");
        // A leap day.
        assert_eq!(utc(951_782_400 * 1_000_000_000), "2000-02-29 00:00:00.000Z");
    }
}
