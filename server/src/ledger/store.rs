//! The log's hashes and entries in PostgreSQL, and the in-memory status map the sequencer
//! keeps (persisted node by node).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::Context;
use chain::Hash;
use chain::status::{MemoryStatusStore, StatusMap};
use chain::tree::HashReader;
use jmt::storage::{Node, NodeBatch, NodeKey, TreeWriter};
use jmt::{KeyHash, OwnedValue, Version};
use sqlx::PgConnection;

/// Runs a pure `chain` computation that reads stored hashes (a proof, a root, new tile
/// hashes) against PostgreSQL, in two passes.
///
/// `chain`'s algorithms read storage through a synchronous trait, and which indexes they read
/// depends only on tree sizes and indexes, never on hash values (RFC 6962's shapes are fixed).
/// So the first pass runs against a recorder that answers zeros and notes every index; one
/// query fetches them all; the second pass runs against exactly those hashes. One round
/// trip per computation, no blocking inside the async runtime.
///
/// # Errors
/// Database errors, or the computation's own error (including a hash missing from storage).
pub async fn with_stored_hashes<T>(
    conn: &mut PgConnection,
    compute: impl Fn(&dyn HashReader) -> chain::Result<T>,
) -> anyhow::Result<T> {
    struct Recorder(Mutex<Vec<u64>>);
    impl HashReader for Recorder {
        fn read_hashes(&self, indexes: &[u64]) -> chain::Result<Vec<Hash>> {
            self.0.lock().expect("recorder lock").extend_from_slice(indexes);
            Ok(vec![Hash([0; 32]); indexes.len()])
        }
    }
    struct Fetched(HashMap<u64, Hash>);
    impl HashReader for Fetched {
        fn read_hashes(&self, indexes: &[u64]) -> chain::Result<Vec<Hash>> {
            indexes
                .iter()
                .map(|i| {
                    self.0.get(i).copied().ok_or_else(|| chain::Error::Storage(format!("stored hash {i} is missing")))
                })
                .collect()
        }
    }

    let recorder = Recorder(Mutex::new(Vec::new()));
    // The first pass's result is meaningless (zero hashes); only the indexes matter.
    let _ = compute(&recorder);
    let mut wanted = recorder.0.into_inner().expect("recorder lock");
    wanted.sort_unstable();
    wanted.dedup();
    let fetched = read_hashes(conn, &wanted).await?;
    Ok(compute(&Fetched(fetched))?)
}

/// The stored hashes at `indexes` (those that exist).
///
/// # Errors
/// Database errors; a stored value that is not 32 bytes.
pub async fn read_hashes(conn: &mut PgConnection, indexes: &[u64]) -> anyhow::Result<HashMap<u64, Hash>> {
    if indexes.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<i64> = indexes.iter().map(|&i| i64::try_from(i)).collect::<Result<_, _>>()?;
    let rows = sqlx::query!(
        // language=PostgreSQL
        "select stored_index, hash from ledger_hash where stored_index = any($1)",
        &wanted
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let h: [u8; 32] =
                r.hash.try_into().map_err(|_| anyhow::anyhow!("stored hash {} is not 32 bytes", r.stored_index))?;
            Ok((u64::try_from(r.stored_index)?, Hash(h)))
        })
        .collect()
}

/// Appends hashes at consecutive stored indexes from `first`.
///
/// # Errors
/// Database errors (a duplicate index means two writers: the unique key refuses it).
pub async fn write_hashes(conn: &mut PgConnection, first: u64, hashes: &[Hash]) -> anyhow::Result<()> {
    if hashes.is_empty() {
        return Ok(());
    }
    let first = i64::try_from(first)?;
    let idx: Vec<i64> = (0..hashes.len() as i64).map(|k| first + k).collect();
    let bytes: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
    sqlx::query!(
        // language=PostgreSQL
        "insert into ledger_hash (stored_index, hash) select * from unnest($1::bigint[], $2::bytea[])",
        &idx,
        &bytes
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Loads the persisted status map into memory (done once when a process becomes sequencer).
///
/// # Errors
/// Database errors, undecodable nodes.
pub async fn load_status_map(conn: &mut PgConnection) -> anyhow::Result<StatusMap<MemoryStatusStore>> {
    let mut nodes = BTreeMap::new();
    for r in sqlx::query!("select node_key, node from status_node").fetch_all(&mut *conn).await? {
        let key: NodeKey = borsh::from_slice(&r.node_key).context("undecodable status node key")?;
        let node: Node = borsh::from_slice(&r.node).context("undecodable status node")?;
        nodes.insert(key, node);
    }
    let mut values: BTreeMap<(Version, KeyHash), Option<OwnedValue>> = BTreeMap::new();
    for r in sqlx::query!("select key_hash, version, value from status_value").fetch_all(&mut *conn).await? {
        let kh: [u8; 32] = r.key_hash.try_into().map_err(|_| anyhow::anyhow!("status key hash is not 32 bytes"))?;
        values.insert((u64::try_from(r.version)?, KeyHash(kh)), r.value);
    }
    let store = MemoryStatusStore::new();
    store.write_node_batch(&NodeBatch::new(nodes, values))?;
    Ok(StatusMap::new(store))
}

/// Persists one status-map version's new nodes and values.
///
/// # Errors
/// Database errors.
pub async fn write_status_batch(conn: &mut PgConnection, batch: &NodeBatch) -> anyhow::Result<()> {
    let (mut keys, mut nodes, mut versions, mut paths) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, n) in batch.nodes() {
        keys.push(borsh::to_vec(k)?);
        nodes.push(borsh::to_vec(n)?);
        versions.push(i64::try_from(k.version())?);
        paths.push(path_hex(k));
    }
    sqlx::query!(
        // language=PostgreSQL
        "insert into status_node (node_key, node, version, path)
         select * from unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::text[])
         on conflict (node_key) do nothing",
        &keys,
        &nodes,
        &versions,
        &paths
    )
    .execute(&mut *conn)
    .await?;
    let (mut khs, mut versions, mut vals) = (Vec::new(), Vec::new(), Vec::<Option<Vec<u8>>>::new());
    for ((version, kh), v) in batch.values() {
        khs.push(kh.0.to_vec());
        versions.push(i64::try_from(*version)?);
        vals.push(v.clone());
    }
    sqlx::query!(
        // language=PostgreSQL
        "insert into status_value (key_hash, version, value)
         select * from unnest($1::bytea[], $2::bigint[], $3::bytea[])",
        &khs,
        &versions,
        &vals as &[Option<Vec<u8>>]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The nibble path of a status-map node as lowercase hex digits ("" for a root).
fn path_hex(key: &NodeKey) -> String {
    key.nibble_path().nibbles().map(|n| char::from_digit(u32::from(u8::from(n)), 16).expect("a nibble")).collect()
}

/// A grant's status at map `version` with its proof, read from the persisted map.
///
/// jmt walks the tree through a synchronous reader and, for the proof's siblings, reads every
/// child of each node on the path (panicking if one is missing). So the nodes are fetched
/// first, level by level: the root, then at each level all children of the node on the key's
/// path (one query per level; a million grants make about six levels), then the leaf's value.
/// The proof is then computed in memory.
///
/// # Errors
/// Database errors, undecodable nodes, a version that does not exist.
pub async fn status_proof(
    conn: &mut PgConnection,
    version: u64,
    grant_id: &chain::GrantId,
) -> anyhow::Result<(Option<chain::GrantStatus>, chain::MapProof)> {
    let key_hash = chain::status::status_key(grant_id);
    let nibble = |i: usize| -> char {
        let b = key_hash.0[i / 2];
        let n = if i.is_multiple_of(2) { b >> 4 } else { b & 0x0f };
        char::from_digit(u32::from(n), 16).expect("a nibble")
    };
    let version_i = i64::try_from(version)?;
    let mut nodes = BTreeMap::new();
    let root = sqlx::query!("select node_key, node from status_node where path = '' and version = $1", version_i)
        .fetch_optional(&mut *conn)
        .await?
        .with_context(|| format!("status map version {version} does not exist"))?;
    let mut current: (NodeKey, Node) = (borsh::from_slice(&root.node_key)?, borsh::from_slice(&root.node)?);
    nodes.insert(current.0.clone(), current.1.clone());
    let mut depth = 0;
    while let Node::Internal(internal) = &current.1 {
        let prefix = path_hex(&current.0);
        let (paths, versions): (Vec<String>, Vec<i64>) = internal
            .children_sorted()
            .map(|(n, child)| {
                let digit = char::from_digit(u32::from(u8::from(n)), 16).expect("a nibble");
                (format!("{prefix}{digit}"), i64::try_from(child.version).unwrap_or(i64::MAX))
            })
            .unzip();
        let rows = sqlx::query!(
            // language=PostgreSQL
            r#"
            select n.node_key, n.node, n.path from status_node n
            join unnest($1::text[], $2::bigint[]) as c(path, version) using (path, version)
            "#,
            &paths,
            &versions
        )
        .fetch_all(&mut *conn)
        .await?;
        let on_path = format!("{prefix}{}", nibble(depth));
        let mut next = None;
        for r in rows {
            let key: NodeKey = borsh::from_slice(&r.node_key).context("undecodable status node key")?;
            let node: Node = borsh::from_slice(&r.node).context("undecodable status node")?;
            if r.path == on_path {
                next = Some((key.clone(), node.clone()));
            }
            nodes.insert(key, node);
        }
        match next {
            Some(n) => current = n,
            None => break, // the key's branch is empty here: a proof of absence
        }
        depth += 1;
    }
    let mut values = BTreeMap::new();
    if let Some(v) = sqlx::query!(
        "select version, value from status_value where key_hash = $1 and version <= $2 order by version desc limit 1",
        &key_hash.0[..],
        version_i
    )
    .fetch_optional(&mut *conn)
    .await?
    {
        values.insert((u64::try_from(v.version)?, KeyHash(key_hash.0)), v.value);
    }
    let store = MemoryStatusStore::new();
    store.write_node_batch(&NodeBatch::new(nodes, values))?;
    Ok(StatusMap::new(store).get_with_proof(version, grant_id)?)
}
