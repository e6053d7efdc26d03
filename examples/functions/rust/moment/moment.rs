//! The "moment of the day" Atoll function in Rust (Atoll ABI v1), built with Debian's rustc
//! and its wasm32 std, no cargo dependencies:
//!
//!     /usr/bin/rustc --target wasm32-wasi --crate-type cdylib --edition 2021 -C opt-level=3 \
//!         -C panic=abort -o rust-moment.wasm moment.rs
//!
//! Reads int `creation_timestamp` (Unix seconds) and sets string `moment` by REEF's rule on the
//! UTC hour h and minute m: (0, 0) "midnight", (12, 0) "midday", h <= 8 or h >= 20 "night",
//! else "day". A row without an int
//! creation_timestamp goes to errors (reserved field `$error`). Like the C guest it decodes
//! only the name table and the bounds of each value (engine/rows/CODEC.md), copies the other
//! fields through, and appends new names at the end of the name table.

use std::cell::RefCell;

const TAG_INT: u8 = 2;
const TAG_STRING: u8 = 4;
const TAG_BYTES: u8 = 5;
const TAG_LIST: u8 = 7;
const TAG_F32S: u8 = 8;

thread_local! {
    // Buffers handed to the host live here and are reused across batches.
    static INPUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
    static OUTPUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

#[no_mangle]
pub extern "C" fn atoll_abi_version() -> i32 {
    1
}

#[no_mangle]
pub extern "C" fn atoll_alloc(len: u32) -> *mut u8 {
    INPUT.with(|b| {
        let mut b = b.borrow_mut();
        let n = (len as usize).max(1);
        if b.len() < n {
            b.resize(n, 0);
        }
        b.as_mut_ptr()
    })
}

fn moment(ts: i64) -> &'static str {
    let sec = ts.rem_euclid(86400);
    match (sec / 3600, sec / 60 % 60) {
        (0, 0) => "midnight",
        (12, 0) => "midday",
        (h, _) if h <= 8 || h >= 20 => "night",
        _ => "day",
    }
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let s = self.b.get(self.p..self.p + 4)?;
        self.p += 4;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        if n > self.b.len() - self.p {
            return None;
        }
        self.p += n;
        Some(())
    }
}

fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_le_bytes());
}

/// Copies one value, re-padding float32 arrays for their offset in the output.
fn copy_value(r: &mut Reader, o: &mut Vec<u8>, depth: u32) -> Option<()> {
    if depth > 32 {
        return None;
    }
    let start = r.p;
    let tag = *r.b.get(r.p)?;
    r.p += 1;
    match tag {
        0 => {}
        1 => r.skip(1)?,
        2 | 3 | 6 => r.skip(8)?,
        TAG_STRING | TAG_BYTES => {
            let n = r.u32()? as usize;
            r.skip(n)?
        }
        TAG_LIST => {
            let n = r.u32()?;
            o.push(tag);
            put_u32(o, n);
            for _ in 0..n {
                copy_value(r, o, depth + 1)?;
            }
            return Some(());
        }
        TAG_F32S => {
            let n = r.u32()? as usize;
            while r.p % 4 != 0 {
                r.skip(1)?;
            }
            let data = r.p;
            r.skip(n.checked_mul(4)?)?;
            o.push(tag);
            put_u32(o, n as u32);
            while o.len() % 4 != 0 {
                o.push(0);
            }
            o.extend_from_slice(&r.b[data..r.p]);
            return Some(());
        }
        _ => return None,
    }
    o.extend_from_slice(&r.b[start..r.p]);
    Some(())
}

fn process(input: &[u8], o: &mut Vec<u8>) -> Option<()> {
    let mut r = Reader { b: input, p: 8 };
    if input.len() < 16 {
        return None;
    }
    let nrows = r.u32()?;
    let nnames = r.u32()?;
    let (mut ts_idx, mut m_idx, mut e_idx) = (None, None, None);
    let names_start = r.p;
    for i in 0..nnames {
        let n = r.u32()? as usize;
        let name = r.b.get(r.p..r.p + n)?;
        r.p += n;
        match name {
            b"creation_timestamp" => ts_idx = Some(i),
            b"moment" => m_idx = Some(i),
            b"$error" => e_idx = Some(i),
            _ => {}
        }
    }
    let names_end = r.p;
    let mut out_names = nnames;
    let m = m_idx.unwrap_or_else(|| { out_names += 1; out_names - 1 });
    let e = e_idx.unwrap_or_else(|| { out_names += 1; out_names - 1 });
    o.clear();
    o.reserve(input.len() * 2 + 64 + nrows as usize * 41);
    o.extend_from_slice(b"ATRB\x01\x00\x00\x00");
    put_u32(o, nrows);
    put_u32(o, out_names);
    o.extend_from_slice(&input[names_start..names_end]);
    if m_idx.is_none() {
        put_u32(o, 6);
        o.extend_from_slice(b"moment");
    }
    if e_idx.is_none() {
        put_u32(o, 6);
        o.extend_from_slice(b"$error");
    }
    for _ in 0..nrows {
        let nf = r.u32()?;
        let count_at = o.len();
        put_u32(o, 0);
        let mut written = 0u32;
        let mut text: Result<&str, &str> = Err("creation_timestamp: missing");
        for _ in 0..nf {
            let idx = r.u32()?;
            if idx >= nnames {
                return None;
            }
            let v = r.p;
            if Some(idx) == m_idx {
                let mut sink = Vec::new();
                copy_value(&mut r, &mut sink, 0)?;
                continue;
            }
            if Some(idx) == ts_idx {
                text = match r.b.get(v..v + 9) {
                    Some(s) if s[0] == TAG_INT => {
                        let mut x = [0u8; 8];
                        x.copy_from_slice(&s[1..9]);
                        Ok(moment(i64::from_le_bytes(x)))
                    }
                    _ => Err("creation_timestamp: want int"),
                };
            }
            put_u32(o, idx);
            copy_value(&mut r, o, 0)?;
            written += 1;
        }
        let (idx, s) = match text {
            Ok(s) => (m, s),
            Err(s) => (e, s),
        };
        put_u32(o, idx);
        o.push(TAG_STRING);
        put_u32(o, s.len() as u32);
        o.extend_from_slice(s.as_bytes());
        written += 1;
        o[count_at..count_at + 4].copy_from_slice(&written.to_le_bytes());
    }
    if r.p != input.len() {
        return None;
    }
    Some(())
}

#[no_mangle]
pub extern "C" fn atoll_process(ptr: *const u8, len: u32) -> u64 {
    let input = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
    OUTPUT.with(|out| {
        let mut o = out.borrow_mut();
        if process(input, &mut o).is_none() {
            // Only a malformed input gets here: one error row.
            o.clear();
            o.extend_from_slice(b"ATRB\x01\x00\x00\x00");
            put_u32(&mut o, 1);
            put_u32(&mut o, 1);
            put_u32(&mut o, 6);
            o.extend_from_slice(b"$error");
            put_u32(&mut o, 1);
            put_u32(&mut o, 0);
            let msg = b"rust guest: malformed input batch";
            o.push(TAG_STRING);
            put_u32(&mut o, msg.len() as u32);
            o.extend_from_slice(msg);
        }
        ((o.as_ptr() as u64) << 32) | o.len() as u64
    })
}
