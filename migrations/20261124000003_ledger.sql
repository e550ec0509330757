-- The city's ledger ("the chain"): an append-only Merkle log (RFC 6962 / C2SP tlog-tiles)
-- sequenced by exactly one portal process at a time (PostgreSQL advisory lock as lease).
-- See docs/ledger-service.md.

-- Every ledger entry. Business code inserts a row in the same transaction as the change
-- that causes it (leaf_index null = queued); the sequencer assigns leaf_index in batches.
create table ledger_entry
(
    ledger_entry_id bigint generated always as identity primary key,
    -- Event type name (`grant.issued`, `status.root`, ...), for queries and metrics only;
    -- the authoritative content is `body`, the canonical leaf encoding (docs/ledger-format.md).
    kind            text        not null,
    body            bytea       not null check (length(body) <= 65535),
    leaf_index      bigint check (leaf_index >= 0),
    enqueued_at     timestamptz not null default now(),
    integrated_at   timestamptz,
    constraint ledger_entry_leaf_index_key unique (leaf_index)
);
-- The sequencer's work queue: only unintegrated rows, in arrival order.
create index ledger_entry_queue_idx on ledger_entry (ledger_entry_id) where leaf_index is null;

-- The tree's hashes by stored-hash index (Go sumdb/tlog numbering: every complete subtree
-- hash exactly once, in the order they become complete). Tiles are read from here.
create table ledger_hash
(
    stored_index bigint primary key check (stored_index >= 0),
    hash         bytea not null check (length(hash) = 32)
);

-- The integrated tree: one row, updated by the sequencer in the batch's transaction.
create table ledger_tree
(
    ledger_tree_id boolean primary key default true check (ledger_tree_id),
    tree_size      bigint      not null default 0,
    root_hash      bytea       not null,
    status_version bigint      not null default -1,
    updated_at     timestamptz not null default now()
);

-- Every checkpoint the log signed (one per batch), with the witnesses' cosignatures as
-- they arrive. `note` is the full signed note (log signature + cosignatures).
create table ledger_checkpoint
(
    tree_size  bigint primary key,
    root_hash  bytea       not null check (length(root_hash) = 32),
    note       text        not null,
    cosigners  text[]      not null default '{}',
    quorum_at  timestamptz,
    created_at timestamptz not null default now()
);
create index ledger_checkpoint_quorum_idx on ledger_checkpoint (tree_size desc) where quorum_at is not null;

-- The grant-status map (jmt), persisted node by node; the sequencer keeps it in memory and
-- writes each version's new nodes in the batch's transaction.
create table status_node
(
    -- borsh-encoded jmt NodeKey (version + nibble path) and Node.
    node_key bytea primary key,
    node     bytea  not null,
    -- The key's parts, so a proof can fetch a node's children level by level.
    version  bigint not null,
    path     text   not null check (path ~ '^[0-9a-f]*$')
);
create index status_node_path_version_idx on status_node (path, version);
create table status_value
(
    key_hash bytea  not null check (length(key_hash) = 32),
    version  bigint not null,
    value    bytea,
    primary key (key_hash, version)
);

-- What each witness last cosigned, as far as the sequencer knows (a cache: a witness's
-- own state is authoritative and comes back in 409 answers).
create table ledger_witness
(
    name           text primary key,
    tree_size      bigint      not null default 0,
    last_cosign_at timestamptz,
    last_error     text,
    updated_at     timestamptz not null default now()
);

-- Integrity alarms: storage disagreeing with a signed checkpoint, a witness reporting an
-- inconsistency. Shown on the transparency page; the sequencer never signs over one.
create table ledger_alarm
(
    ledger_alarm_id bigint generated always as identity primary key,
    kind            text        not null,
    detail          text        not null,
    raised_at       timestamptz not null default now(),
    resolved_at     timestamptz
);

-- Anchors of quorum checkpoints on an EVM chain (calldata = SHA-256 of the checkpoint note).
create table ledger_anchor
(
    ledger_anchor_id bigint generated always as identity primary key,
    tree_size        bigint      not null references ledger_checkpoint (tree_size),
    checkpoint_hash  bytea       not null check (length(checkpoint_hash) = 32),
    chain_id         bigint      not null,
    tx_hash          text        not null,
    block_number     bigint      not null,
    anchored_at      timestamptz not null default now(),
    constraint ledger_anchor_tx_hash_key unique (chain_id, tx_hash)
);
