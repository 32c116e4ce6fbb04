//! The masks of string-ending bytes, 64 bytes at a time: SSE2 where there
//! is SSE2 (every x86-64), portable otherwise. One of the two modules
//! allowed `unsafe` (the intrinsics).

/// Blocks whose masks a [`Scanner`] computes up front: messages up to
/// 1 KiB (the usual incident is about 450 bytes) need no other.
pub(super) const EAGER: usize = 16;

/// [`special_bits`] of the first [`EAGER`] blocks of `bytes`; all ones for
/// blocks past the end (the end counts as a control byte).
#[inline(always)]
pub(super) fn eager_bits(bytes: &[u8]) -> [u64; EAGER] {
    let mut out = [u64::MAX; EAGER];
    let blocks = bytes.len().div_ceil(64).min(EAGER);
    for (i, bits) in out.iter_mut().enumerate().take(blocks) {
        *bits = special_bits(bytes, i * 64);
    }
    out
}

/// Bit `i` set where byte `start + i` is `"`, `\\` or a control byte (the
/// bytes that end a run of string content); bytes past the end count as
/// control bytes. SSE2, which every x86-64 has: 16 bytes per compare.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(super) fn special_bits_sse2(bytes: &[u8], start: usize) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let block = block_at(bytes, start);
    let (quarters, _) = block.as_chunks::<16>();
    let mut bits = 0u64;
    for (i, quarter) in quarters.iter().enumerate() {
        // SAFETY: SSE2 is enabled (the cfg above; every x86-64 has it), and
        // `quarter` is 16 readable bytes, which an unaligned load reads
        // with no alignment requirement.
        let any = unsafe {
            let v = _mm_loadu_si128(quarter.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned v <= 0x1f: min(v, 0x1f) == v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        bits |= u64::from(any as u16) << (16 * i);
    }
    bits
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
pub(super) use special_bits_portable as special_bits;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(super) use special_bits_sse2 as special_bits;

/// The portable version of [`special_bits`] (tests compare the two).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
pub(super) fn special_bits_portable(bytes: &[u8], start: usize) -> u64 {
    block_at(bytes, start)
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &c)| {
            bits | u64::from(c == b'"' || c == b'\\' || c < 0x20) << i
        })
}

/// The 64 bytes from `start`, zero-padded past the end.
#[inline(always)]
pub(super) fn block_at(bytes: &[u8], start: usize) -> [u8; 64] {
    let rest = bytes.get(start..).unwrap_or_default();
    match rest.first_chunk::<64>() {
        Some(block) => *block,
        None => {
            let mut block = [0u8; 64];
            block[..rest.len()].copy_from_slice(rest);
            block
        }
    }
}
