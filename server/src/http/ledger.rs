//! The public ledger API under `/ledger`, per C2SP tlog-tiles (checkpoint, hash tiles,
//! entry bundles), plus the keys a verifier needs and the anchors.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chain::tiles::{TILE_WIDTH, TilePath, encode_entry_bundle, read_tile_data};
use serde::Serialize;

use crate::AppState;
use crate::error::{Error, Result};
use crate::ledger::store::with_stored_hashes;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ledger/checkpoint", get(checkpoint))
        .route("/ledger/tile/{*path}", get(tile))
        .route("/ledger/keys", get(keys))
        .route("/ledger/anchors", get(anchors))
        .route("/ledger/status", get(status))
        .route("/ledger/bundle/{index}", get(bundle))
        .route("/metrics", get(metrics))
}

fn text(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// The newest checkpoint a quorum of witnesses cosigned (C2SP tlog-tiles `<prefix>/checkpoint`).
async fn checkpoint(State(state): State<AppState>) -> Result<Response> {
    let note = sqlx::query_scalar!(
        "select note from ledger_checkpoint where quorum_at is not null order by tree_size desc limit 1"
    )
    .fetch_optional(&state.db)
    .await?;
    match note {
        Some(note) => Ok(text(note, "no-cache, max-age=0")),
        None => Ok((StatusCode::NOT_FOUND, "no checkpoint has been cosigned by a quorum yet\n").into_response()),
    }
}

/// Hash tiles and entry bundles. Tiles are immutable once full, so they are cacheable for
/// ever; partial tiles only briefly. Anything beyond the integrated tree is 404.
async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Result<Response> {
    let tile = TilePath::parse(&format!("tile/{path}")).map_err(|e| Error::BadRequest(e.to_string()))?;
    let size: i64 =
        sqlx::query_scalar!("select tree_size from ledger_tree").fetch_optional(&state.db).await?.unwrap_or(0);
    let size = u64::try_from(size).unwrap_or(0);
    let cache = match tile {
        TilePath::Hash { width, .. } | TilePath::Entries { width, .. } if u64::from(width) == u64::from(TILE_WIDTH) => {
            "public, max-age=31536000, immutable"
        }
        _ => "public, max-age=60",
    };
    // A tile beyond the integrated tree, or one no tree of 2^64 leaves could hold, is not there.
    if leaves_needed(tile).is_none_or(|needed| needed > size) {
        return Err(Error::NotFound);
    }
    let body = match tile {
        TilePath::Hash { .. } => {
            let mut conn = state.db.acquire().await?;
            with_stored_hashes(&mut conn, |r| read_tile_data(tile, r)).await?
        }
        TilePath::Entries { index, width } => {
            let first = index * u64::from(TILE_WIDTH);
            let end = first + u64::from(width);
            let (first, end) =
                (i64::try_from(first).map_err(anyhow::Error::from)?, i64::try_from(end).map_err(anyhow::Error::from)?);
            let bodies: Vec<Vec<u8>> = sqlx::query_scalar!(
                "select body from ledger_entry where leaf_index >= $1 and leaf_index < $2 order by leaf_index",
                first,
                end
            )
            .fetch_all(&state.db)
            .await?;
            if bodies.len() as i64 != end - first {
                return Err(Error::Anyhow(anyhow::anyhow!("entries {first}..{end} are missing from storage")));
            }
            encode_entry_bundle(&bodies).map_err(anyhow::Error::from)?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response())
}

/// How many leaves the tree must have for `tile` to exist, or `None` when no tree can hold it
/// (an index so large that the arithmetic overflows, or a level above the tree's 64 bits).
/// Tile indexes come from the URL: every step is checked.
fn leaves_needed(tile: TilePath) -> Option<u64> {
    let (level, index, width) = match tile {
        TilePath::Hash { level, index, width } => (level, index, width),
        TilePath::Entries { index, width } => (0, index, width),
    };
    if level >= 8 {
        return None;
    }
    // The tile's last hash is node (index*256 + width - 1) at tree level 8*level.
    let nodes = index.checked_mul(u64::from(TILE_WIDTH))?.checked_add(u64::from(width))?;
    let shift = 8 * u32::from(level);
    let leaves = nodes.checked_shl(shift)?;
    (leaves >> shift == nodes).then_some(leaves)
}

/// The log's verifier key, then each witness's, then `quorum K`: all an independent
/// verifier needs besides the tiles.
async fn keys(State(state): State<AppState>) -> Response {
    let ledger = &state.ledger;
    let mut out = format!("{}\n", ledger.log_key());
    for w in &ledger.witnesses {
        out.push_str(&format!("{}\n", w.key));
    }
    out.push_str(&format!("quorum {}\n", ledger.quorum()));
    text(out, "public, max-age=300")
}

/// The proof bundle of one entry (docs/ledger-format.md), for download and offline checks
/// with `onecity verify`. Entries are public in the tiles already; the bundle adds proofs.
async fn bundle(State(state): State<AppState>, Path(index): Path<u64>) -> Result<Response> {
    use crate::ledger::bundle::{BundleError, bundle_for};
    let mut conn = state.db.acquire().await?;
    match bundle_for(&mut conn, &state.ledger, index).await {
        Ok(b) => {
            let json = b.to_json().map_err(anyhow::Error::from)?;
            let disposition = format!("attachment; filename=\"onecity-proof-{index}.json\"");
            Ok((
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(anyhow::Error::from)?),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                json,
            )
                .into_response())
        }
        Err(
            BundleError::NotYetCosigned(_)
            | BundleError::NoPolicy
            | BundleError::NotYetSealed(..)
            | BundleError::ReadingNotSealed(..),
        ) => Err(Error::NotFound),
        Err(BundleError::Other(e)) => Err(Error::Anyhow(e)),
    }
}

#[derive(Serialize)]
struct AnchorView {
    tree_size: i64,
    checkpoint_hash: String,
    chain_id: i64,
    tx_hash: String,
    block_number: i64,
    anchored_at: String,
}

/// Anchors of quorum checkpoints on the EVM chain, newest first.
async fn anchors(State(state): State<AppState>) -> Result<Response> {
    let rows = sqlx::query!(
        "select tree_size, checkpoint_hash, chain_id, tx_hash, block_number, anchored_at
         from ledger_anchor order by ledger_anchor_id desc limit 100"
    )
    .fetch_all(&state.db)
    .await?;
    let list: Vec<AnchorView> = rows
        .into_iter()
        .map(|r| AnchorView {
            tree_size: r.tree_size,
            checkpoint_hash: hex::encode(r.checkpoint_hash),
            chain_id: r.chain_id,
            tx_hash: r.tx_hash,
            block_number: r.block_number,
            anchored_at: crate::clock::rfc3339(r.anchored_at),
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

#[derive(Serialize)]
struct WitnessView {
    name: String,
    tree_size: i64,
    last_cosign_at: Option<String>,
    last_error: Option<String>,
}

#[derive(Serialize)]
struct StatusView {
    tree_size: i64,
    pending_entries: i64,
    latest_checkpoint_size: Option<i64>,
    cosigned_checkpoint_size: Option<i64>,
    quorum: usize,
    witnesses: Vec<WitnessView>,
    open_alarms: Vec<String>,
}

/// The ledger's health for people and monitors: sizes, what is still pending, witnesses,
/// open integrity alarms.
async fn status(State(state): State<AppState>) -> Result<Response> {
    let rfc3339 = crate::clock::rfc3339;
    let s = sqlx::query!(
        r#"
        select coalesce((select tree_size from ledger_tree), 0) as "tree_size!",
               (select count(*) from ledger_entry where leaf_index is null) as "pending!",
               (select max(tree_size) from ledger_checkpoint) as latest,
               (select max(tree_size) from ledger_checkpoint where quorum_at is not null) as cosigned
        "#
    )
    .fetch_one(&state.db)
    .await?;
    let witnesses =
        sqlx::query!("select name, tree_size, last_cosign_at, last_error from ledger_witness order by name")
            .fetch_all(&state.db)
            .await?
            .into_iter()
            .map(|w| WitnessView {
                name: w.name,
                tree_size: w.tree_size,
                last_cosign_at: w.last_cosign_at.map(rfc3339),
                last_error: w.last_error,
            })
            .collect();
    let open_alarms = sqlx::query_scalar!(
        "select kind || ': ' || detail as \"a!\" from ledger_alarm where resolved_at is null order by raised_at"
    )
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(StatusView {
        tree_size: s.tree_size,
        pending_entries: s.pending,
        latest_checkpoint_size: s.latest,
        cosigned_checkpoint_size: s.cosigned,
        quorum: state.ledger.quorum(),
        witnesses,
        open_alarms,
    })
    .into_response())
}

/// Prometheus text exposition (format 0.0.4) of the ledger's state, read from the database
/// so every portal process reports the same numbers. Written by hand: a handful of gauges
/// do not justify a metrics framework.
async fn metrics(State(state): State<AppState>) -> Result<Response> {
    let m = sqlx::query!(
        r#"
        select coalesce((select tree_size from ledger_tree), 0) as "tree_size!",
               (select count(*) from ledger_entry where leaf_index is null) as "pending!",
               coalesce((select max(tree_size) from ledger_checkpoint), 0) as "signed!",
               coalesce((select max(tree_size) from ledger_checkpoint where quorum_at is not null), 0) as "cosigned!",
               (select count(*) from ledger_alarm where resolved_at is null) as "alarms!",
               (select count(*) from ledger_anchor) as "anchors!",
               coalesce((select max(tree_size) from ledger_anchor), 0) as "anchored!"
        "#
    )
    .fetch_one(&state.db)
    .await?;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: i64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("onecity_ledger_tree_size", "Entries integrated into the log.", m.tree_size);
    gauge("onecity_ledger_pending_entries", "Entries queued but not yet integrated.", m.pending);
    gauge("onecity_ledger_signed_size", "Size of the newest checkpoint the log signed.", m.signed);
    gauge("onecity_ledger_cosigned_size", "Size of the newest checkpoint a quorum of witnesses cosigned.", m.cosigned);
    gauge(
        "onecity_ledger_integrity_alarms",
        "Open integrity alarms (storage or a witness disagreeing with the signed log).",
        m.alarms,
    );
    gauge("onecity_ledger_anchors", "Checkpoints anchored on the EVM chain.", m.anchors);
    gauge("onecity_ledger_anchored_size", "Size of the newest anchored checkpoint.", m.anchored);
    let witnesses =
        sqlx::query!("select name, tree_size from ledger_witness order by name").fetch_all(&state.db).await?;
    out.push_str("# HELP onecity_ledger_witness_size Size of the newest checkpoint each witness cosigned.\n");
    out.push_str("# TYPE onecity_ledger_witness_size gauge\n");
    for w in witnesses {
        // Label values escape backslash and double quote (key names have no newlines).
        let name = w.name.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("onecity_ledger_witness_size{{witness=\"{name}\"}} {}\n", w.tree_size));
    }
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], out)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_no_tree_can_hold_are_refused_instead_of_overflowing() {
        let tile = |p: &str| TilePath::parse(p).unwrap();
        assert_eq!(leaves_needed(tile("tile/0/000")), Some(256));
        assert_eq!(leaves_needed(tile("tile/0/001.p/5")), Some(256 + 5));
        assert_eq!(leaves_needed(tile("tile/1/000")), Some(256 * 256));
        assert_eq!(leaves_needed(tile("tile/entries/002.p/3")), Some(512 + 3));
        // index * 256 overflows u64: before, a panic in debug builds and a bogus (immutable!)
        // tile in release builds.
        let huge = "tile/0/x072/x057/x594/x037/x927/935";
        assert_eq!(leaves_needed(tile(huge)), None, "{huge}");
        assert_eq!(leaves_needed(tile("tile/entries/x072/x057/x594/x037/x927/935")), None);
        // A shift that drops high bits: a full tile at level 7 needs 2^64 leaves.
        assert_eq!(leaves_needed(tile("tile/7/000")), None);
        assert_eq!(leaves_needed(tile("tile/7/000.p/1")), Some(1 << 56));
    }
}
