//! A lean Ethereum JSON-RPC client for anchoring: exactly the calls an anchor needs, and
//! EIP-1559 transaction signing with a secp256k1 key (`k256`).
//!
//! Written by hand rather than pulling in a full Ethereum SDK: an anchor is one transaction
//! type with 32 bytes of calldata, and the whole encoding (RLP, Ethereum Yellow Paper
//! appendix B; typed transactions, EIP-2718; fee market, EIP-1559) fits on a page. The
//! JSON-RPC methods are the standard `eth_*` ones every EVM node serves.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use k256::ecdsa::SigningKey;
use serde::Deserialize;
use serde_json::{Value, json};
use sha3::{Digest, Keccak256};

/// Keccak-256, Ethereum's hash.
#[must_use]
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// RLP encoding (Yellow Paper appendix B): byte strings and lists, nothing else.
pub mod rlp {
    /// An RLP item.
    pub enum Item<'a> {
        Bytes(&'a [u8]),
        /// An unsigned integer, encoded big-endian without leading zeros (0 is the empty string).
        Uint(u128),
        List(Vec<Item<'a>>),
    }

    fn length_prefix(out: &mut Vec<u8>, len: usize, short: u8, long: u8) {
        if len <= 55 {
            out.push(short + len as u8);
        } else {
            let be = (len as u64).to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            out.push(long + (8 - skip) as u8);
            out.extend_from_slice(&be[skip..]);
        }
    }

    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        if b.len() == 1 && b[0] < 0x80 {
            out.push(b[0]);
        } else {
            length_prefix(out, b.len(), 0x80, 0xb7);
            out.extend_from_slice(b);
        }
    }

    /// Appends the encoding of `item` to `out`.
    pub fn encode_into(out: &mut Vec<u8>, item: &Item<'_>) {
        match item {
            Item::Bytes(b) => bytes(out, b),
            Item::Uint(n) => {
                let be = n.to_be_bytes();
                let skip = be.iter().take_while(|b| **b == 0).count();
                bytes(out, &be[skip..]);
            }
            Item::List(items) => {
                let mut payload = Vec::new();
                for i in items {
                    encode_into(&mut payload, i);
                }
                length_prefix(out, payload.len(), 0xc0, 0xf7);
                out.extend_from_slice(&payload);
            }
        }
    }

    #[must_use]
    pub fn encode(item: &Item<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, item);
        out
    }
}

/// An EIP-1559 (type 2) transaction.
#[derive(Clone, Debug)]
pub struct Eip1559Tx {
    pub chain_id: u64,
    pub nonce: u64,
    pub max_priority_fee_per_gas: u128,
    pub max_fee_per_gas: u128,
    pub gas_limit: u64,
    pub to: [u8; 20],
    pub value: u128,
    pub data: Vec<u8>,
}

impl Eip1559Tx {
    fn fields(&self) -> Vec<rlp::Item<'_>> {
        use rlp::Item::{Bytes, List, Uint};
        vec![
            Uint(u128::from(self.chain_id)),
            Uint(u128::from(self.nonce)),
            Uint(self.max_priority_fee_per_gas),
            Uint(self.max_fee_per_gas),
            Uint(u128::from(self.gas_limit)),
            Bytes(&self.to),
            Uint(self.value),
            Bytes(&self.data),
            List(vec![]), // access list
        ]
    }

    /// The hash that is signed: keccak256(0x02 || rlp(fields)) (EIP-1559 §Specification).
    #[must_use]
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut payload = vec![0x02];
        rlp::encode_into(&mut payload, &rlp::Item::List(self.fields()));
        keccak256(&payload)
    }

    /// The raw signed transaction: 0x02 || rlp(fields ++ [y_parity, r, s]).
    ///
    /// # Errors
    /// Never in practice (kept fallible for other key backends).
    pub fn sign(&self, key: &SigningKey) -> anyhow::Result<Vec<u8>> {
        let (signature, recovery) = key.sign_prehash_recoverable(&self.signing_hash());
        let sig = signature.to_bytes();
        let (r, s) = sig.split_at(32);
        let trim = |b: &[u8]| -> Vec<u8> { b.iter().skip_while(|x| **x == 0).copied().collect() };
        let (r, s) = (trim(r), trim(s));
        let mut fields = self.fields();
        fields.push(rlp::Item::Uint(u128::from(recovery.is_y_odd())));
        fields.push(rlp::Item::Bytes(&r));
        fields.push(rlp::Item::Bytes(&s));
        let mut out = vec![0x02];
        rlp::encode_into(&mut out, &rlp::Item::List(fields));
        Ok(out)
    }
}

/// The Ethereum address of a key: the last 20 bytes of keccak256 of the uncompressed public key.
#[must_use]
pub fn address_of(key: &SigningKey) -> [u8; 20] {
    let point = key.verifying_key().to_sec1_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    hash[12..].try_into().expect("20 bytes")
}

#[must_use]
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse_quantity(v: &Value) -> anyhow::Result<u128> {
    let s = v.as_str().ok_or_else(|| anyhow!("expected a hex quantity, got {v}"))?;
    u128::from_str_radix(s.trim_start_matches("0x"), 16).with_context(|| format!("bad hex quantity {s:?}"))
}

/// A transaction receipt, reduced to what an anchor records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub block_number: u64,
    pub block_hash: String,
    pub success: bool,
}

/// JSON-RPC over HTTP to one EVM node.
#[derive(Clone)]
pub struct EvmRpc {
    http: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct RpcResponse {
    result: Option<Value>,
    error: Option<Value>,
}

impl EvmRpc {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { http, url: url.to_owned() })
    }

    async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: RpcResponse = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("{method}: node unreachable"))?
            .error_for_status()
            .with_context(|| format!("{method}: HTTP error"))?
            .json()
            .await
            .with_context(|| format!("{method}: not a JSON-RPC response"))?;
        if let Some(err) = resp.error {
            bail!("{method}: node error {err}");
        }
        Ok(resp.result.unwrap_or(Value::Null))
    }

    /// # Errors
    /// On transport or node errors.
    pub async fn chain_id(&self) -> anyhow::Result<u64> {
        Ok(u64::try_from(parse_quantity(&self.call("eth_chainId", json!([])).await?)?)?)
    }

    /// Sends an EIP-1559 transaction carrying `data` from `key` to `to`; returns its hash.
    ///
    /// # Errors
    /// On transport or node errors (insufficient funds, nonce too low, ...).
    pub async fn send_data(&self, key: &SigningKey, to: [u8; 20], data: &[u8]) -> anyhow::Result<String> {
        let from = hex0x(&address_of(key));
        let chain_id = self.chain_id().await?;
        let nonce = parse_quantity(&self.call("eth_getTransactionCount", json!([from, "pending"])).await?)?;
        let block = self.call("eth_getBlockByNumber", json!(["latest", false])).await?;
        let base_fee = block.get("baseFeePerGas").map(parse_quantity).transpose()?.unwrap_or(0);
        let tip = match self.call("eth_maxPriorityFeePerGas", json!([])).await {
            Ok(v) => parse_quantity(&v)?,
            Err(_) => 1_000_000_000, // 1 gwei on nodes without the method
        };
        let estimate = parse_quantity(
            &self.call("eth_estimateGas", json!([{"from": from, "to": hex0x(&to), "data": hex0x(data)}])).await?,
        )?;
        let tx = Eip1559Tx {
            chain_id,
            nonce: u64::try_from(nonce)?,
            max_priority_fee_per_gas: tip,
            max_fee_per_gas: base_fee * 2 + tip,
            gas_limit: u64::try_from(estimate + estimate / 5)?,
            to,
            value: 0,
            data: data.to_vec(),
        };
        let raw = tx.sign(key)?;
        let hash = self.call("eth_sendRawTransaction", json!([hex0x(&raw)])).await?;
        hash.as_str().map(str::to_owned).ok_or_else(|| anyhow!("eth_sendRawTransaction returned {hash}"))
    }

    /// The receipt of a mined transaction, or `None` while it is pending.
    ///
    /// # Errors
    /// On transport or node errors.
    pub async fn receipt(&self, tx_hash: &str) -> anyhow::Result<Option<Receipt>> {
        let r = self.call("eth_getTransactionReceipt", json!([tx_hash])).await?;
        if r.is_null() {
            return Ok(None);
        }
        Ok(Some(Receipt {
            block_number: u64::try_from(parse_quantity(&r["blockNumber"])?)?,
            block_hash: r["blockHash"].as_str().unwrap_or_default().to_owned(),
            success: parse_quantity(&r["status"]).unwrap_or(0) == 1,
        }))
    }

    /// The calldata of a transaction, for independent checks of an anchor.
    ///
    /// # Errors
    /// On transport or node errors, or when the transaction is unknown.
    pub async fn transaction_input(&self, tx_hash: &str) -> anyhow::Result<Vec<u8>> {
        let t = self.call("eth_getTransactionByHash", json!([tx_hash])).await?;
        let input = t["input"].as_str().ok_or_else(|| anyhow!("unknown transaction {tx_hash}"))?;
        Ok(hex::decode(input.trim_start_matches("0x"))?)
    }
}

/// Parses a secp256k1 private key given as 64 hex digits (optionally 0x-prefixed).
///
/// # Errors
/// When the text is not a valid key.
pub fn parse_key(hex_key: &str) -> anyhow::Result<SigningKey> {
    let bytes = hex::decode(hex_key.trim().trim_start_matches("0x")).context("anchor key is not hex")?;
    SigningKey::from_slice(&bytes).map_err(|_| anyhow!("anchor key is not a valid secp256k1 private key"))
}

#[cfg(test)]
mod tests {
    use super::rlp::{Item, encode};
    use super::*;

    #[test]
    fn rlp_matches_the_yellow_paper_examples() {
        assert_eq!(encode(&Item::Bytes(b"dog")), [0x83, b'd', b'o', b'g']);
        assert_eq!(
            encode(&Item::List(vec![Item::Bytes(b"cat"), Item::Bytes(b"dog")])),
            [0xc8, 0x83, b'c', b'a', b't', 0x83, b'd', b'o', b'g']
        );
        assert_eq!(encode(&Item::Bytes(b"")), [0x80]);
        assert_eq!(encode(&Item::List(vec![])), [0xc0]);
        assert_eq!(encode(&Item::Uint(0)), [0x80]);
        assert_eq!(encode(&Item::Uint(15)), [0x0f]);
        assert_eq!(encode(&Item::Uint(1024)), [0x82, 0x04, 0x00]);
        let long = [b'a'; 56];
        let enc = encode(&Item::Bytes(&long));
        assert_eq!(&enc[..2], &[0xb8, 56]);
        assert_eq!(enc.len(), 58);
    }

    #[test]
    fn address_of_the_well_known_development_key() {
        // Account 0 of the standard development mnemonic ("test test ... junk").
        let key = parse_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        assert_eq!(hex0x(&address_of(&key)), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    }

    #[test]
    fn keys_are_validated_when_parsed() {
        assert!(parse_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").is_ok());
        assert!(parse_key("zz").is_err());
        assert!(parse_key(&"00".repeat(32)).is_err(), "zero is not a valid key");
    }
}
