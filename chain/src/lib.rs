//! The pure cryptographic core of the city's ledger (placeholder until the chain-core work lands).
