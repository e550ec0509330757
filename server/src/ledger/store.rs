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
    with_stored_hashes_cached(conn, None, compute).await
}

/// Stored hashes a process has read, by stored-hash index. A stored hash never changes once
/// the sequencer has committed it, so it can be kept for the life of the process; whatever is
/// computed from it is still verified against a signed root by the caller.
pub type HashCache = Mutex<HashMap<u64, Hash>>;

/// [`with_stored_hashes`], answering from `cache` what it holds and adding what it fetches
/// (the cache is emptied when it exceeds `MAX_CACHED_HASHES`).
///
/// # Errors
/// As [`with_stored_hashes`].
pub async fn with_stored_hashes_cached<T>(
    conn: &mut PgConnection,
    cache: Option<&HashCache>,
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
    let mut known = HashMap::new();
    if let Some(cache) = cache {
        let cache = cache.lock().expect("hash cache");
        wanted.retain(|i| match cache.get(i) {
            Some(h) => {
                known.insert(*i, *h);
                false
            }
            None => true,
        });
    }
    let fetched = read_hashes(conn, &wanted).await?;
    if let Some(cache) = cache {
        let mut cache = cache.lock().expect("hash cache");
        if cache.len() + fetched.len() > MAX_CACHED_HASHES {
            cache.clear();
        }
        cache.extend(fetched.iter().map(|(i, h)| (*i, *h)));
    }
    known.extend(fetched);
    Ok(compute(&Fetched(known))?)
}

/// Bound on [`HashCache`] entries (about 5 MB).
const MAX_CACHED_HASHES: usize = 100_000;

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
    let map = StatusMap::new(MemoryStatusStore::new());
    extend_status_map(conn, &map, None, u64::MAX).await?;
    Ok(map)
}

/// Adds to an in-memory map the persisted nodes and values of the versions after `after`
/// (all when `None`) up to and including `up_to`.
///
/// # Errors
/// Database errors, undecodable nodes.
pub async fn extend_status_map(
    conn: &mut PgConnection,
    map: &StatusMap<MemoryStatusStore>,
    after: Option<u64>,
    up_to: u64,
) -> anyhow::Result<()> {
    let after = after.map_or(Ok(-1), i64::try_from)?;
    let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
    let mut nodes = BTreeMap::new();
    for r in sqlx::query!("select node_key, node from status_node where version > $1 and version <= $2", after, up_to)
        .fetch_all(&mut *conn)
        .await?
    {
        let key: NodeKey = borsh::from_slice(&r.node_key).context("undecodable status node key")?;
        let node: Node = borsh::from_slice(&r.node).context("undecodable status node")?;
        nodes.insert(key, node);
    }
    let mut values: BTreeMap<(Version, KeyHash), Option<OwnedValue>> = BTreeMap::new();
    for r in sqlx::query!(
        "select key_hash, version, value from status_value where version > $1 and version <= $2",
        after,
        up_to
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let kh: [u8; 32] = r.key_hash.try_into().map_err(|_| anyhow::anyhow!("status key hash is not 32 bytes"))?;
        values.insert((u64::try_from(r.version)?, KeyHash(kh)), r.value);
    }
    map.store().write_node_batch(&NodeBatch::new(nodes, values))?;
    Ok(())
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

/// How deep [`status_proof`] prefetches in one query: a map of a million grants is about six
/// levels deep, so eight covers every key in all but astronomically unlucky cases; deeper
/// levels are fetched one query each.
const PREFETCH_DEPTH: usize = 8;

/// A grant's status at map `version` with its proof, read from the persisted map.
///
/// jmt walks the tree through a synchronous reader and, for the proof's siblings, reads every
/// child of each node on the path (panicking if one is missing). So the nodes are fetched
/// first: in one query, for every prefix of the key's nibble path up to [`PREFETCH_DEPTH`] and
/// each of its 16 children, the newest node at that path not newer than `version` (the map
/// never deletes, so that is the node of version `version`'s tree, when the path is in it);
/// then, walking down from the root, any child still missing is fetched level by level. Then
/// the leaf's value, and the proof is computed in memory. Two or three queries in all.
///
/// # Errors
/// Database errors, undecodable nodes, a version that does not exist.
pub async fn status_proof(
    conn: &mut PgConnection,
    version: u64,
    grant_id: &chain::GrantId,
) -> anyhow::Result<(Option<chain::GrantStatus>, chain::MapProof)> {
    status_proof_prefetching(conn, version, grant_id, PREFETCH_DEPTH).await
}

/// A device's status at map `version` with its proof, as [`status_proof`] reads a grant's.
///
/// # Errors
/// As [`status_proof`].
pub async fn device_status_proof(
    conn: &mut PgConnection,
    version: u64,
    device_id: &chain::leaf::DeviceId,
) -> anyhow::Result<(Option<chain::device::DeviceStatus>, chain::MapProof)> {
    let (value, proof) = raw_status_proof(conn, version, chain::device::status_key(device_id), PREFETCH_DEPTH).await?;
    Ok((value.map(|v| chain::device::DeviceStatus::decode(&v)).transpose()?, proof))
}

/// [`status_proof`] with the prefetch depth as a parameter, so tests can exercise the
/// level-by-level fallback that real maps almost never need.
///
/// # Errors
/// As [`status_proof`].
pub async fn status_proof_prefetching(
    conn: &mut PgConnection,
    version: u64,
    grant_id: &chain::GrantId,
    prefetch_depth: usize,
) -> anyhow::Result<(Option<chain::GrantStatus>, chain::MapProof)> {
    let (value, proof) = raw_status_proof(conn, version, chain::status::status_key(grant_id), prefetch_depth).await?;
    Ok((value.map(|v| chain::GrantStatus::decode(&v)).transpose()?, proof))
}

/// The value under `key_hash` at map `version` with its proof (the walk [`status_proof`]
/// describes).
async fn raw_status_proof(
    conn: &mut PgConnection,
    version: u64,
    key_hash: chain::Hash,
    prefetch_depth: usize,
) -> anyhow::Result<(Option<Vec<u8>>, chain::MapProof)> {
    let nibble = |i: usize| -> char {
        let b = key_hash.0[i / 2];
        let n = if i.is_multiple_of(2) { b >> 4 } else { b & 0x0f };
        char::from_digit(u32::from(n), 16).expect("a nibble")
    };
    let version_i = i64::try_from(version)?;
    // Prefetch: the root path, and every child path of the key's first PREFETCH_DEPTH prefixes.
    let mut candidates = vec![String::new()];
    let mut prefix = String::new();
    for depth in 0..prefetch_depth {
        candidates.extend((0..16u32).map(|d| format!("{prefix}{}", char::from_digit(d, 16).expect("a nibble"))));
        prefix.push(nibble(depth));
    }
    let prefetched = sqlx::query!(
        // language=PostgreSQL
        r#"
        select n.node_key as "node_key!", n.node as "node!", n.path as "path!"
        from unnest($1::text[]) as c(path)
        cross join lateral (
            select s.node_key, s.node, s.path from status_node s
            where s.path = c.path and s.version <= $2
            order by s.version desc
            limit 1
        ) n
        "#,
        &candidates,
        version_i
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut known: HashMap<(String, u64), (NodeKey, Node)> = HashMap::new();
    for r in prefetched {
        let key: NodeKey = borsh::from_slice(&r.node_key).context("undecodable status node key")?;
        let node: Node = borsh::from_slice(&r.node).context("undecodable status node")?;
        known.insert((r.path, key.version()), (key, node));
    }

    let mut nodes = BTreeMap::new();
    let mut current: (NodeKey, Node) = match known.get(&(String::new(), version)) {
        Some(root) => root.clone(),
        None => {
            let root =
                sqlx::query!("select node_key, node from status_node where path = '' and version = $1", version_i)
                    .fetch_optional(&mut *conn)
                    .await?
                    .with_context(|| format!("status map version {version} does not exist"))?;
            (borsh::from_slice(&root.node_key)?, borsh::from_slice(&root.node)?)
        }
    };
    nodes.insert(current.0.clone(), current.1.clone());
    let mut depth = 0;
    while let Node::Internal(internal) = &current.1 {
        let prefix = path_hex(&current.0);
        let children: Vec<(String, u64)> = internal
            .children_sorted()
            .map(|(n, child)| {
                let digit = char::from_digit(u32::from(u8::from(n)), 16).expect("a nibble");
                (format!("{prefix}{digit}"), child.version)
            })
            .collect();
        let missing: Vec<&(String, u64)> = children.iter().filter(|c| !known.contains_key(c)).collect();
        if !missing.is_empty() {
            let paths: Vec<String> = missing.iter().map(|(p, _)| p.clone()).collect();
            let versions: Vec<i64> = missing.iter().map(|(_, v)| i64::try_from(*v).unwrap_or(i64::MAX)).collect();
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
            for r in rows {
                let key: NodeKey = borsh::from_slice(&r.node_key).context("undecodable status node key")?;
                let node: Node = borsh::from_slice(&r.node).context("undecodable status node")?;
                known.insert((r.path, key.version()), (key, node));
            }
        }
        let on_path = format!("{prefix}{}", nibble(depth));
        let mut next = None;
        for child in &children {
            // A child the database does not have is left out; jmt then fails with a storage
            // error, which the caller reports (a map that cannot prove is an integrity problem).
            if let Some((key, node)) = known.get(child) {
                if child.0 == on_path {
                    next = Some((key.clone(), node.clone()));
                }
                nodes.insert(key.clone(), node.clone());
            }
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
    Ok(StatusMap::new(store).get_raw_with_proof(version, &key_hash)?)
}
