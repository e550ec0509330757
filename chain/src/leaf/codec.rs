//! The byte-level reading and writing every leaf type shares: fixed-size integers, byte
//! strings, length-prefixed text and sorted name lists, each checked against its bounds.

use super::{MAX_SCOPE, MAX_SCOPES, MAX_TEXT};
use crate::error::{Error, Result};

pub(super) struct W(pub(super) Vec<u8>);

impl W {
    pub(super) fn text(&mut self, field: &str, s: &str) -> Result<()> {
        self.text_up_to(field, s, MAX_TEXT)
    }
    /// Text with its own bound (at most `u16::MAX` bytes, what the length prefix holds).
    pub(super) fn text_up_to(&mut self, field: &str, s: &str, max: usize) -> Result<()> {
        debug_assert!(max <= usize::from(u16::MAX));
        if s.len() > max {
            return Err(Error::BadEvent(format!("{field} is {} bytes, at most {max}", s.len())));
        }
        self.0.extend_from_slice(&u16::try_from(s.len()).unwrap_or(u16::MAX).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    pub(super) fn scopes(&mut self, field: &str, v: &[String]) -> Result<()> {
        if v.len() > MAX_SCOPES {
            return Err(Error::BadEvent(format!("{field} has {} scopes, at most {MAX_SCOPES}", v.len())));
        }
        for (i, s) in v.iter().enumerate() {
            check_scope(s).map_err(|m| Error::BadEvent(format!("{field}: {m}")))?;
            if i > 0 && v[i - 1].as_bytes() >= s.as_bytes() {
                return Err(Error::BadEvent(format!("{field} must be sorted ascending without duplicates")));
            }
        }
        self.0.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
        for s in v {
            self.0.push(u8::try_from(s.len()).unwrap_or(u8::MAX));
            self.0.extend_from_slice(s.as_bytes());
        }
        Ok(())
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
}

/// Scope names: 1..=64 bytes of `a-z 0-9 . _ -`.
pub(super) fn check_scope(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.len() > MAX_SCOPE {
        return Err(format!("{s:?} must be 1..={MAX_SCOPE} bytes"));
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        return Err(format!("{s:?} may only contain a-z 0-9 . _ -"));
    }
    Ok(())
}

pub(super) struct R<'a>(pub(super) &'a [u8]);

impl<'a> R<'a> {
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(Error::BadLeaf(format!("truncated in {what}")));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(super) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    pub(super) fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(super) fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub(super) fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let b = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
    pub(super) fn text(&mut self, what: &str) -> Result<String> {
        self.text_up_to(what, MAX_TEXT)
    }
    pub(super) fn text_up_to(&mut self, what: &str, max: usize) -> Result<String> {
        let n = usize::from(self.u16(what)?);
        if n > max {
            return Err(Error::BadLeaf(format!("{what} longer than {max} bytes")));
        }
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::BadLeaf(format!("{what} is not UTF-8")))
    }
    pub(super) fn scopes(&mut self, what: &str) -> Result<Vec<String>> {
        let n = usize::from(self.u16(what)?);
        if n > MAX_SCOPES {
            return Err(Error::BadLeaf(format!("{what} has more than {MAX_SCOPES} scopes")));
        }
        let mut v: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let l = usize::from(self.u8(what)?);
            let b = self.take(l, what)?;
            let s = String::from_utf8(b.to_vec()).map_err(|_| Error::BadLeaf(format!("{what} is not UTF-8")))?;
            check_scope(&s).map_err(|m| Error::BadLeaf(format!("{what}: {m}")))?;
            if let Some(p) = v.last()
                && p.as_bytes() >= s.as_bytes()
            {
                return Err(Error::BadLeaf(format!("{what} not sorted ascending without duplicates")));
            }
            v.push(s);
        }
        Ok(v)
    }
}
