//! A lean Ethereum JSON-RPC client for anchoring: exactly the calls an anchor needs.
//!
//! The transaction itself (EIP-1559 fields, RLP, the EIP-2718 envelope, the signing hash) is
//! `alloy-consensus`'s; the key and the signature are `k256`'s. The JSON-RPC client stays
//! small and hand-written: an anchor makes six standard `eth_*` calls, and a full provider
//! stack (`alloy-provider`, `alloy-network`) would add about a hundred crates for them.

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Address, Signature, TxKind, U256};
use anyhow::{Context, anyhow, bail};
use k256::ecdsa::SigningKey;
use serde::Deserialize;
use serde_json::{Value, json};

/// An anchor transaction: `data` sent from the key's address to `to`, no value, no access list.
#[derive(Clone, Debug)]
pub struct AnchorTx {
    pub chain_id: u64,
    pub nonce: u64,
    pub max_priority_fee_per_gas: u128,
    pub max_fee_per_gas: u128,
    pub gas_limit: u64,
    pub to: [u8; 20],
    pub data: Vec<u8>,
}

impl AnchorTx {
    fn eip1559(&self) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to: TxKind::Call(Address::from(self.to)),
            value: U256::ZERO,
            access_list: alloy_eips::eip2930::AccessList::default(),
            input: self.data.clone().into(),
        }
    }

    /// The hash that is signed: keccak256(0x02 || rlp(fields)) (EIP-1559).
    #[must_use]
    pub fn signing_hash(&self) -> [u8; 32] {
        self.eip1559().signature_hash().0
    }

    /// The raw signed transaction, as `eth_sendRawTransaction` takes it (EIP-2718 type 2).
    #[must_use]
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let tx = self.eip1559();
        let (signature, recovery) =
            key.sign_prehash_recoverable(tx.signature_hash().as_slice()).expect("a 32-byte prehash always signs");
        let signed = tx.into_signed(Signature::from_signature_and_parity(signature, recovery.is_y_odd()));
        let mut out = Vec::with_capacity(signed.eip2718_encoded_length());
        signed.eip2718_encode(&mut out);
        out
    }
}

/// The Ethereum address of a key: the last 20 bytes of keccak256 of the uncompressed public key.
#[must_use]
pub fn address_of(key: &SigningKey) -> [u8; 20] {
    Address::from_private_key(key).into_array()
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
        let tx = AnchorTx {
            chain_id,
            nonce: u64::try_from(nonce)?,
            max_priority_fee_per_gas: tip,
            max_fee_per_gas: base_fee * 2 + tip,
            gas_limit: u64::try_from(estimate + estimate / 5)?,
            to,
            data: data.to_vec(),
        };
        let raw = tx.sign(key);
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
    use super::*;

    #[test]
    fn address_of_the_well_known_development_key() {
        // Account 0 of the standard development mnemonic ("test test ... junk").
        let key = parse_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        assert_eq!(hex0x(&address_of(&key)), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    }

    #[test]
    fn a_signed_anchor_decodes_back_to_its_fields_and_its_signer() {
        let key = parse_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let tx = AnchorTx {
            chain_id: 31337,
            nonce: 7,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 3_000_000_000,
            gas_limit: 25_000,
            to: address_of(&key),
            data: vec![0xab; 32],
        };
        let raw = tx.sign(&key);
        assert_eq!(raw[0], 0x02, "an EIP-1559 envelope");
        let decoded = alloy_consensus::Signed::<TxEip1559>::eip2718_decode(&mut raw.as_slice()).unwrap();
        assert_eq!(decoded.tx().nonce, 7);
        assert_eq!(decoded.tx().input.as_ref(), &[0xab; 32]);
        assert_eq!(decoded.signature_hash().0, tx.signing_hash());
        assert_eq!(decoded.recover_signer().unwrap().into_array(), address_of(&key));
    }

    #[test]
    fn keys_are_validated_when_parsed() {
        assert!(parse_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").is_ok());
        assert!(parse_key("zz").is_err());
        assert!(parse_key(&"00".repeat(32)).is_err(), "zero is not a valid key");
    }
}
